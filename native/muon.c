/*
 * Muon's update for one matrix as one call (recipes/muon/fused.ts): Nesterov momentum, the quintic Newton–Schulz
 * orthogonalization, the step. In TF.js that is ~45 kernels per matrix (norm through Pow and Abs, two transposes,
 * fifteen products, their scalings and sums); here the products are fifteen sgemms (OpenBLAS's or oneDNN's, as
 * native chose for every product: mixing the two libraries' thread pools in one step made Muon's step 2.4x the
 * base's instead of 1.4x, 2026-12-02, AMD EPYC Zen 5) on strided operands with no
 * transposes and the rest is one pass each. The arithmetic is recipes/muon/index.ts's.
 *
 * muonUpdate(memory, p, g, buffer, pOut, bufferOut, scratch, rows, cols, mu, lrScale, steps)
 *   bufferOut = mu·buffer + g; n = g + mu·bufferOut; X = n/(‖n‖_F + 1e-7);
 *   X wide (rows ≤ cols): steps times A = X Xᵀ, B = bA + cA², X = aX + BX;
 *   X tall: the same on Xᵀ, written on X itself: A = XᵀX, X = aX + XB (B is symmetric);
 *   pOut = p − lrScale·X.
 * scratch: 2·rows·cols + 2·m² floats, m = min(rows, cols).
 */
#include <math.h>
#include <string.h>

#include "heap_args.h"
#include "products.h"

static const float NS_A = 3.4445f, NS_B = -4.775f, NS_C = 2.0315f;

static void momentum(const float *restrict g, const float *restrict buffer, float *restrict bufferOut, float *restrict n, int64_t size, float mu) {
  for (int64_t i = 0; i < size; i++) {
    bufferOut[i] = buffer[i] * mu + g[i];
    n[i] = g[i] + bufferOut[i] * mu;
  }
}

static void step(const float *restrict p, const float *restrict x, float *restrict pOut, int64_t size, float lrScale) {
  for (int64_t i = 0; i < size; i++) pOut[i] = p[i] - x[i] * lrScale;
}

static napi_value muon_update(napi_env env, napi_callback_info info) {
  ARGS(12);
  const float *p = F32(1), *g = F32(2), *buffer = F32(3);
  float *pOut = F32(4), *bufferOut = F32(5), *scratch = F32(6);
  const int rows = INT(7), cols = INT(8), steps = INT(11);
  const float mu = NUM(9), lrScale = NUM(10);
  const int64_t size = (int64_t)rows * cols;
  const int tall = rows > cols, m = tall ? cols : rows;
  float *x = scratch, *next = scratch + size, *A = scratch + 2 * size, *B = A + (int64_t)m * m;
  momentum(g, buffer, bufferOut, x, size, mu);
  double squares = 0;
  for (int64_t i = 0; i < size; i++) squares += (double)x[i] * x[i];
  const float inv = 1.0f / ((float)sqrt(squares) + 1e-7f);
  for (int64_t i = 0; i < size; i++) x[i] *= inv;
  for (int s = 0; s < steps; s++) {
    if (tall) speedrun_sgemm(true, false, m, m, rows, 1.0f, x, cols, x, cols, 0.0f, A, m);
    else speedrun_sgemm(false, true, m, m, cols, 1.0f, x, cols, x, cols, 0.0f, A, m);
    memcpy(B, A, sizeof(float) * m * m);
    speedrun_sgemm(false, false, m, m, m, NS_C, A, m, A, m, NS_B, B, m);
    memcpy(next, x, sizeof(float) * size);
    if (tall) speedrun_sgemm(false, false, rows, cols, cols, 1.0f, x, cols, B, m, NS_A, next, cols);
    else speedrun_sgemm(false, false, rows, cols, rows, 1.0f, B, m, x, cols, NS_A, next, cols);
    float *t = x;
    x = next;
    next = t;
  }
  step(p, x, pOut, size, lrScale);
  return NULL;
}

void speedrun_register_muon(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {EXPORT("muonUpdate", muon_update)};
  napi_define_properties(env, exports, 1, props);
}
