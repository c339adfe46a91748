/*
 * Rotary position embedding of queries or keys [B, T, H, hs] in one pass (recipes/rotary.ts): pairs (i, i + hs/2)
 * rotated by the position's angles, (x1, x2) -> (x1·cos − x2·sin, x1·sin + x2·cos), tables cos/sin [T, hs/2].
 * The rotation is orthogonal, so its gradient is the inverse rotation (sign −1) of the incoming gradient.
 * In TF.js it is a split, four broadcasting multiplies, an add, a sub and a concat, each way.
 * rotary(memory, x, cos, sin, out, batch, seqLen, heads, headSize, sign)
 */
#include "heap_args.h"

static void rotate(const float *restrict x, const float *restrict cs, const float *restrict sn, float *restrict out, int half, float sign) {
  for (int i = 0; i < half; i++) {
    const float s = sign * sn[i];
    out[i] = x[i] * cs[i] - x[i + half] * s;
    out[i + half] = x[i] * s + x[i + half] * cs[i];
  }
}

static napi_value rotary(napi_env env, napi_callback_info info) {
  ARGS(10);
  const float *x = F32(1), *cosT = F32(2), *sinT = F32(3);
  float *out = F32(4);
  const int B = INT(5), T = INT(6), H = INT(7), hs = INT(8), half = hs / 2;
  const float sign = NUM(9);
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      for (int h = 0; h < H; h++) {
        const int64_t o = (((int64_t)b * T + t) * H + h) * hs;
        rotate(x + o, cosT + (int64_t)t * half, sinT + (int64_t)t * half, out + o, half, sign);
      }
    }
  }
  return NULL;
}

void speedrun_register_rotary(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {EXPORT("rotary", rotary)};
  napi_define_properties(env, exports, 1, props);
}
