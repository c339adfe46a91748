/*
 * A probe, not part of the build: can bf16 products be faster than fp32 ones on this CPU at all?
 *
 * The VM's CPUID hides AVX512_BF16 (no avx512_bf16 in /proc/cpuinfo, so oneDNN and OpenBLAS never pick bf16
 * kernels), but the instructions execute. This probe measures
 *   1. the peak of one core: 12 independent vfmadd231ps zmm (16 fp32 multiply-adds each) against 12 independent
 *      vdpbf16ps zmm (32 bf16 multiply-adds into fp32 each), in a loop with no memory traffic;
 *   2. a real bf16 GEMM: libxsmm 1.17 (Debian's libxsmm-dev) JIT kernels forced to Cooper Lake (AVX512_BF16)
 *      with libxsmm_set_target_arch("cpx"), against OpenBLAS sgemm, one thread, at the nano preset's shapes.
 *
 *   apt-get install libxsmm-dev libopenblas-dev
 *   gcc -O2 -march=native bench/bf16-peak.c -o /tmp/bf16-peak $(pkg-config --cflags --libs libxsmm) -lopenblas
 *   OPENBLAS_CORETYPE=SkylakeX /tmp/bf16-peak
 *
 * Measured here (2026-11-24): vfmadd231ps 5.3-5.4 G/s = 171-174 GFLOP/s, vdpbf16ps 1.33-1.36 G/s = 85-87
 * GFLOP/s: on this CPU a bf16 dot product retires at a quarter of the FMA rate and so does half the arithmetic
 * per second. libxsmm's bf16 GEMM reaches that ceiling (83-86 GFLOP/s at every blocking tried) while sgemm does
 * 135-147: bf16 products are 0.5-0.6x fp32 here, whoever writes the kernel.
 */
#include <cblas.h>
#include <libxsmm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Twelve independent accumulators (zmm0-11), so the loop measures throughput, not latency. */
#define TWELVE(op)                                                                                              \
  op " %%zmm30, %%zmm31, %%zmm0\n" op " %%zmm30, %%zmm31, %%zmm1\n" op " %%zmm30, %%zmm31, %%zmm2\n" op        \
     " %%zmm30, %%zmm31, %%zmm3\n" op " %%zmm30, %%zmm31, %%zmm4\n" op " %%zmm30, %%zmm31, %%zmm5\n" op        \
     " %%zmm30, %%zmm31, %%zmm6\n" op " %%zmm30, %%zmm31, %%zmm7\n" op " %%zmm30, %%zmm31, %%zmm8\n" op        \
     " %%zmm30, %%zmm31, %%zmm9\n" op " %%zmm30, %%zmm31, %%zmm10\n" op " %%zmm30, %%zmm31, %%zmm11\n"
#define CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11"

static void instruction_peak(void) {
  const long loops = 50000000;
  __asm__ volatile("vpxord %%zmm30, %%zmm30, %%zmm30\n vpxord %%zmm31, %%zmm31, %%zmm31" ::: "xmm30", "xmm31");
  double start = seconds();
  for (long i = 0; i < loops; i++) __asm__ volatile(TWELVE("vfmadd231ps") ::: CLOBBERS);
  const double fma = seconds() - start;
  start = seconds();
  for (long i = 0; i < loops; i++) __asm__ volatile(TWELVE("vdpbf16ps") ::: CLOBBERS);
  const double dot = seconds() - start;
  const double count = loops * 12.0;
  printf("one core: vfmadd231ps zmm %.2f G/s = %.1f GFLOP/s; vdpbf16ps zmm %.2f G/s = %.1f GFLOP/s; bf16/fp32 %.2fx\n",
         count / fma * 1e-9, count / fma * 32e-9, count / dot * 1e-9, count / dot * 64e-9, fma / dot * 2);
}

static unsigned short to_bf16(float x) { /* round to nearest even */
  unsigned bits;
  memcpy(&bits, &x, 4);
  return (unsigned short)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

/* Row-major Y[tokens x outputs] = X[tokens x inputs] W[inputs x outputs], i.e. column-major C = A B with
 * A = W (m = outputs, k = inputs) and B = X (n = tokens). libxsmm's bf16 kernels want A in VNNI order (pairs of
 * k interleaved), packed per block of `mb` rows; the products run block by block. */
static void gemm(int tokens, int outputs, int inputs, int mb, int nb) {
  const int m = outputs, n = tokens, k = inputs;
  float *a = malloc(4L * m * k), *b = malloc(4L * k * n), *c = malloc(4L * m * n);
  unsigned short *a16 = malloc(2L * m * k), *b16 = malloc(2L * k * n);
  srand(1);
  for (long i = 0; i < (long)m * k; i++) a[i] = rand() / (float)RAND_MAX - 0.5f;
  for (long i = 0; i < (long)k * n; i++) b[i] = rand() / (float)RAND_MAX - 0.5f, b16[i] = to_bf16(b[i]);
  for (int block = 0; block < m / mb; block++)
    for (int kk = 0; kk < k; kk++)
      for (int i = 0; i < mb; i++)
        a16[(long)block * mb * k + (long)(kk / 2) * mb * 2 + i * 2 + kk % 2] = to_bf16(a[(long)kk * m + block * mb + i]);
  const int flags = LIBXSMM_GEMM_FLAG_BETA_0 | LIBXSMM_GEMM_FLAG_VNNI_A;
  const float alpha = 1, beta = 0;
  const libxsmm_blasint lda = mb, ldb = k, ldc = m;
  libxsmm_bsmmfunction kernel = libxsmm_bsmmdispatch(mb, nb, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, NULL);
  if (!kernel) {
    printf("libxsmm has no bf16 kernel for %d x %d x %d\n", mb, nb, k);
    exit(1);
  }
  const long repeats = (long)(1e10 / (2.0 * m * n * k)) + 3;
  double bf16 = 1e9, fp32 = 1e9;
  for (int round = 0; round < 5; round++) { /* best of 5, A B A B */
    double start = seconds();
    for (long r = 0; r < repeats; r++)
      for (int j = 0; j < n / nb; j++)
        for (int block = 0; block < m / mb; block++)
          kernel(a16 + (long)block * mb * k, b16 + (long)j * nb * k, c + (long)j * nb * m + block * mb);
    double t = (seconds() - start) / repeats;
    bf16 = t < bf16 ? t : bf16;
    start = seconds();
    for (long r = 0; r < repeats; r++) cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, a, m, b, k, 0, c, m);
    t = (seconds() - start) / repeats;
    fp32 = t < fp32 ? t : fp32;
  }
  const double gflop = 2.0 * m * n * k * 1e-9;
  printf("[%d x %d] . [%d x %d], one thread: libxsmm bf16 %.1f GFLOP/s, OpenBLAS sgemm %.1f GFLOP/s, bf16/fp32 %.2fx\n",
         tokens, inputs, inputs, outputs, gflop / bf16, gflop / fp32, fp32 / bf16);
  free(a), free(b), free(c), free(a16), free(b16);
}

int main(void) {
  instruction_peak();
  libxsmm_init();
  libxsmm_set_target_arch("cpx");
  printf("libxsmm target: %s\n", libxsmm_get_target_arch());
  openblas_set_num_threads(1);
  gemm(768, 384, 128, 64, 32); /* attention's qkv projection at the nano preset (12 x 64 tokens) */
  gemm(768, 512, 128, 64, 32); /* MLP up */
  gemm(768, 128, 512, 64, 32); /* MLP down */
  gemm(1024, 1024, 1024, 64, 32);
  libxsmm_finalize();
  return 0;
}
