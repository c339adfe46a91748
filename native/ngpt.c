/*
 * nGPT's hot paths as fused kernels for the native backend (recipes/ngpt/fused.ts pairs each forward with its
 * backward). In TF.js each of these is a chain of 8-20 broadcasting kernels plus their autodiff, which wasm runs
 * through generic loops: this is the "engine tax" that made nGPT's step 5x the baseline's. The mathematics is
 * recipes/ngpt/index.ts's, line for line; tests compare each kernel with those TF.js ops, forward and gradients.
 *
 * Unit norms have no epsilon, as in the reference (a zero vector has no direction).
 * Same calling convention as kernels.c: (memory, byte offsets..., sizes...).
 */
#include <math.h>
#include <string.h>

#include "heap_args.h"
#include "products.h"

static inline float dot(const float *restrict a, const float *restrict b, int n) {
  float total = 0;
  for (int i = 0; i < n; i++) total += a[i] * b[i];
  return total;
}

/* y = x/|x| and 1/|x| for one vector. */
static inline float unit(const float *restrict x, float *restrict y, int n) {
  const float r = 1.0f / sqrtf(dot(x, x, n));
  for (int i = 0; i < n; i++) y[i] = x[i] * r;
  return r;
}

/* The gradient through y = x/|x| given y and r = 1/|x|: dx = r·(dy − y·(dy·y)). */
static inline void unit_backward(const float *restrict dy, const float *restrict y, float r, float *restrict dx, int n) {
  const float d = dot(dy, y, n);
  for (int i = 0; i < n; i++) dx[i] = r * (dy[i] - y[i] * d);
}

/*
 * The residual update h ← Norm(h + α ⊙ (Norm(b) − h)) on rows of width C, α [C].
 * Keeps bn = Norm(b), rb = 1/|b|, the result y and rz = 1/|z| (z the sum before its norm).
 * residualForward(memory, h, b, alpha, y, bn, rb, rz, rows, width)
 */
static napi_value residual_forward(napi_env env, napi_callback_info info) {
  ARGS(10);
  const float *h = F32(1), *b = F32(2), *alpha = F32(3);
  float *y = F32(4), *bn = F32(5), *rb = F32(6), *rz = F32(7);
  const int rows = INT(8), C = INT(9);
#pragma omp parallel for schedule(static) if (loops_in_threads((int64_t)rows * C))
  for (int r = 0; r < rows; r++) {
    const float *hr = h + (int64_t)r * C;
    float *yr = y + (int64_t)r * C, *bnr = bn + (int64_t)r * C;
    rb[r] = unit(b + (int64_t)r * C, bnr, C);
    for (int c = 0; c < C; c++) yr[c] = hr[c] + alpha[c] * (bnr[c] - hr[c]);
    const float rr = 1.0f / sqrtf(dot(yr, yr, C));
    rz[r] = rr;
    for (int c = 0; c < C; c++) yr[c] *= rr;
  }
  return NULL;
}

/*
 * Its backward: dz = rz·(dy − y·(dy·y)); dh = dz ⊙ (1 − α); dbn = dz ⊙ α; dα = Σ_rows dz ⊙ (bn − h);
 * db = rb·(dbn − bn·(dbn·bn)). scratch holds two rows.
 * residualBackward(memory, dy, y, rz, h, bn, rb, alpha, dh, db, dalpha, scratch, rows, width)
 */
static napi_value residual_backward(napi_env env, napi_callback_info info) {
  ARGS(14);
  const float *dy = F32(1), *y = F32(2), *rz = F32(3), *h = F32(4), *bn = F32(5), *rb = F32(6), *alpha = F32(7);
  float *dh = F32(8), *db = F32(9), *dalpha = F32(10), *scratch = F32(11);
  const int rows = INT(12), C = INT(13);
  float *dz = scratch, *dbn = scratch + C;
  memset(dalpha, 0, sizeof(float) * C);
  for (int r = 0; r < rows; r++) {
    const int64_t o = (int64_t)r * C;
    unit_backward(dy + o, y + o, rz[r], dz, C);
    for (int c = 0; c < C; c++) {
      dh[o + c] = dz[c] * (1.0f - alpha[c]);
      dbn[c] = dz[c] * alpha[c];
      dalpha[c] += dz[c] * (bn[o + c] - h[o + c]);
    }
    unit_backward(dbn, bn + o, rb[r], db + o, C);
  }
  return NULL;
}

/*
 * Queries or keys [B, T, H, hs]: rotary (pairs (i, i + hs/2), tables cos/sin [T, hs/2]), then each head vector
 * to unit length, then ⊙ s [H·hs]. Keeps n (the unit vectors) and r = 1/|rotated x| per vector.
 * queryKeyForward(memory, x, cos, sin, s, y, n, r, batch, seqLen, heads, headSize)
 */
static napi_value query_key_forward(napi_env env, napi_callback_info info) {
  ARGS(12);
  const float *x = F32(1), *cosT = F32(2), *sinT = F32(3), *s = F32(4);
  float *y = F32(5), *n = F32(6), *rr = F32(7);
  const int B = INT(8), T = INT(9), H = INT(10), hs = INT(11), half = hs / 2;
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      const float *cs = cosT + (int64_t)t * half, *sn = sinT + (int64_t)t * half;
      for (int hd = 0; hd < H; hd++) {
        const int64_t v = ((int64_t)b * T + t) * H + hd, o = v * hs;
        const float *xv = x + o, *sv = s + (int64_t)hd * hs;
        float *nv = n + o, *yv = y + o;
        for (int i = 0; i < half; i++) {
          nv[i] = xv[i] * cs[i] - xv[i + half] * sn[i];
          nv[i + half] = xv[i] * sn[i] + xv[i + half] * cs[i];
        }
        const float r = 1.0f / sqrtf(dot(nv, nv, hs));
        rr[v] = r;
        for (int i = 0; i < hs; i++) {
          nv[i] *= r;
          yv[i] = nv[i] * sv[i];
        }
      }
    }
  }
  return NULL;
}

/*
 * Its backward: dn = dy ⊙ s; ds = Σ dy ⊙ n; dρ = r·(dn − n·(dn·n)); dx = the inverse rotation of dρ.
 * scratch holds two head vectors.
 * queryKeyBackward(memory, dy, n, r, cos, sin, s, dx, ds, scratch, batch, seqLen, heads, headSize)
 */
static napi_value query_key_backward(napi_env env, napi_callback_info info) {
  ARGS(14);
  const float *dy = F32(1), *n = F32(2), *rr = F32(3), *cosT = F32(4), *sinT = F32(5), *s = F32(6);
  float *dx = F32(7), *ds = F32(8), *scratch = F32(9);
  const int B = INT(10), T = INT(11), H = INT(12), hs = INT(13), half = hs / 2;
  float *dn = scratch, *drot = scratch + hs;
  memset(ds, 0, sizeof(float) * H * hs);
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      const float *cs = cosT + (int64_t)t * half, *sn = sinT + (int64_t)t * half;
      for (int hd = 0; hd < H; hd++) {
        const int64_t v = ((int64_t)b * T + t) * H + hd, o = v * hs;
        const float *dyv = dy + o, *nv = n + o, *sv = s + (int64_t)hd * hs;
        float *dsv = ds + (int64_t)hd * hs, *dxv = dx + o;
        for (int i = 0; i < hs; i++) {
          dn[i] = dyv[i] * sv[i];
          dsv[i] += dyv[i] * nv[i];
        }
        unit_backward(dn, nv, rr[v], drot, hs);
        for (int i = 0; i < half; i++) {
          dxv[i] = drot[i] * cs[i] + drot[i + half] * sn[i];
          dxv[i + half] = drot[i + half] * cs[i] - drot[i] * sn[i];
        }
      }
    }
  }
  return NULL;
}

static inline float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

/*
 * nGPT's scaled SwiGLU on a = x·W_uv [N, 2W], s [2W] (s_uv·√C): u = a[:, :W]⊙s[:W], v = a[:, W:]⊙s[W:],
 * hidden = u ⊙ silu(v) [N, W].   swigluForward(memory, a, s, hidden, rows, width)
 */
static void swiglu_row(const float *restrict a, const float *restrict s, float *restrict hidden, int W) {
  for (int c = 0; c < W; c++) {
    const float u = a[c] * s[c], v = a[W + c] * s[W + c];
    hidden[c] = u * v * sigmoid(v);
  }
}

static napi_value swiglu_forward(napi_env env, napi_callback_info info) {
  ARGS(6);
  const float *a = F32(1), *s = F32(2);
  float *hidden = F32(3);
  const int rows = INT(4), W = INT(5);
#pragma omp parallel for schedule(static) if (loops_in_threads((int64_t)rows * W))
  for (int r = 0; r < rows; r++) swiglu_row(a + (int64_t)r * 2 * W, s, hidden + (int64_t)r * W, W);
  return NULL;
}

/*
 * Its backward: du = dh ⊙ silu(v), dv = dh ⊙ u ⊙ σ(v)(1 + v(1 − σ(v))); da = [du, dv] ⊙ s; ds = Σ_rows [du, dv] ⊙ a.
 * swigluBackward(memory, dh, a, s, da, ds, rows, width)
 */
static void swiglu_backward_row(const float *restrict dh, const float *restrict a, const float *restrict s, float *restrict da,
                                float *restrict ds, int W) {
  for (int c = 0; c < W; c++) {
    const float u = a[c] * s[c], v = a[W + c] * s[W + c], sg = sigmoid(v);
    const float du = dh[c] * v * sg, dv = dh[c] * u * sg * (1.0f + v * (1.0f - sg));
    da[c] = du * s[c];
    da[W + c] = dv * s[W + c];
    ds[c] += du * a[c];
    ds[W + c] += dv * a[W + c];
  }
}

static napi_value swiglu_backward(napi_env env, napi_callback_info info) {
  ARGS(8);
  const float *dh = F32(1), *a = F32(2), *s = F32(3);
  float *da = F32(4), *ds = F32(5);
  const int rows = INT(6), W = INT(7);
  memset(ds, 0, sizeof(float) * 2 * W);
  for (int r = 0; r < rows; r++) swiglu_backward_row(dh + (int64_t)r * W, a + (int64_t)r * 2 * W, s, da + (int64_t)r * 2 * W, ds, W);
  return NULL;
}

/*
 * A matrix [rows, cols] to unit length along an axis: 1 = each row, 0 = each column (column sums accumulate
 * row by row, so memory is read in order). scratch holds one row.
 * unitNormAxis(memory, x, y, scratch, rows, cols, axis)
 */
static napi_value unit_norm_axis(napi_env env, napi_callback_info info) {
  ARGS(7);
  const float *x = F32(1);
  float *y = F32(2), *scale = F32(3);
  const int rows = INT(4), cols = INT(5), axis = INT(6);
  if (axis == 1) {
    for (int r = 0; r < rows; r++) unit(x + (int64_t)r * cols, y + (int64_t)r * cols, cols);
    return NULL;
  }
  memset(scale, 0, sizeof(float) * cols);
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (int64_t)r * cols;
    for (int c = 0; c < cols; c++) scale[c] += xr[c] * xr[c];
  }
  for (int c = 0; c < cols; c++) scale[c] = 1.0f / sqrtf(scale[c]);
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (int64_t)r * cols;
    float *yr = y + (int64_t)r * cols;
    for (int c = 0; c < cols; c++) yr[c] = xr[c] * scale[c];
  }
  return NULL;
}

void speedrun_register_ngpt_kernels(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      EXPORT("ngptResidualForward", residual_forward),
      EXPORT("ngptResidualBackward", residual_backward),
      EXPORT("ngptQueryKeyForward", query_key_forward),
      EXPORT("ngptQueryKeyBackward", query_key_backward),
      EXPORT("ngptSwigluForward", swiglu_forward),
      EXPORT("ngptSwigluBackward", swiglu_backward),
      EXPORT("unitNormAxis", unit_norm_axis),
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
