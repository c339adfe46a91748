/*
 * Kernels over the head vectors of queries and keys, for the rotary and qk-norm recipes: one pass each way
 * instead of TF.js's chains of broadcasts.
 *
 * Rotary position embedding of queries or keys [B, T, H, hs] (recipes/rotary.ts): pairs (i, i + hs/2)
 * rotated by the position's angles, (x1, x2) -> (x1·cos − x2·sin, x1·sin + x2·cos), tables cos/sin [T, hs/2].
 * The rotation is orthogonal, so its gradient is the inverse rotation (sign −1) of the incoming gradient.
 * In TF.js it is a split, four broadcasting multiplies, an add, a sub and a concat, each way.
 * rotary(memory, x, cos, sin, out, batch, seqLen, heads, headSize, sign)
 */
#include <math.h>

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

/*
 * RMS norm over the last axis without gain (recipes/qkNorm.ts): y = x·r, r = 1/√(mean(x²) + eps); keeps r.
 * Its backward: dx = r·(dy − y·mean(dy·y)).
 * rmsNormForward(memory, x, y, r, rows, width, eps); rmsNormBackward(memory, dy, y, r, dx, rows, width)
 */
static float rms_row(const float *restrict x, float *restrict y, int n, float eps) {
  float squares = 0;
  for (int i = 0; i < n; i++) squares += x[i] * x[i];
  const float r = 1.0f / sqrtf(squares / n + eps);
  for (int i = 0; i < n; i++) y[i] = x[i] * r;
  return r;
}

static void rms_backward_row(const float *restrict dy, const float *restrict y, float r, float *restrict dx, int n) {
  float d = 0;
  for (int i = 0; i < n; i++) d += dy[i] * y[i];
  d /= n;
  for (int i = 0; i < n; i++) dx[i] = r * (dy[i] - y[i] * d);
}

static napi_value rms_norm_forward(napi_env env, napi_callback_info info) {
  ARGS(7);
  const float *x = F32(1);
  float *y = F32(2), *r = F32(3);
  const int rows = INT(4), width = INT(5);
  const float eps = NUM(6);
  for (int row = 0; row < rows; row++) r[row] = rms_row(x + (int64_t)row * width, y + (int64_t)row * width, width, eps);
  return NULL;
}

static napi_value rms_norm_backward(napi_env env, napi_callback_info info) {
  ARGS(7);
  const float *dy = F32(1), *y = F32(2), *r = F32(3);
  float *dx = F32(4);
  const int rows = INT(5), width = INT(6);
  for (int row = 0; row < rows; row++) {
    const int64_t o = (int64_t)row * width;
    rms_backward_row(dy + o, y + o, r[row], dx + o, width);
  }
  return NULL;
}

void speedrun_register_heads(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {EXPORT("rotary", rotary), EXPORT("rmsNormForward", rms_norm_forward), EXPORT("rmsNormBackward", rms_norm_backward)};
  napi_define_properties(env, exports, 3, props);
}
