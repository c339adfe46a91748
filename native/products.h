/*
 * What the kernels need of the products library that native/blas.c chose (OpenBLAS's build only), and the one
 * rule for when the kernels' own OpenMP loops use both cores.
 */
#ifndef SPEEDRUN_PRODUCTS_H
#define SPEEDRUN_PRODUCTS_H
#include <stdbool.h>
#include <stdint.h>

#ifdef SPEEDRUN_OPENBLAS
/* C (row-major, m x n, leading dimension ldc) = alpha·op(A)·op(B) + beta·C by OpenBLAS's sgemm or oneDNN's. */
void speedrun_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                    float *c, int ldc);
/* Whether oneDNN's sgemm takes the products now. */
bool speedrun_onednn_products(void);
#endif

/*
 * Elementwise and row-wise loops over at least 65,536 floats are shared between the addon's OpenMP threads only
 * where oneDNN does the products, whose threads are the same libgomp pool (fused step 24.6-28.8 -> 22.3-23.0 ms,
 * three A/B pairs). Beside OpenBLAS's or wasm's threads, which spin between calls, they contended: 29 -> 44 ms
 * with OpenBLAS, 89 -> 101 ms without a BLAS (2026-12-02, AMD EPYC Zen 5).
 */
static inline int loops_in_threads(int64_t floats) {
#ifdef SPEEDRUN_OPENBLAS
  return floats >= 65536 && speedrun_onednn_products();
#else
  (void)floats;
  return 0;
#endif
}
#endif
