/*
 * speedrun's native BLAS bridge: batched single-precision GEMM from OpenBLAS (cblas_sgemm), called on memory the
 * caller owns (the TF.js wasm heap), through Node-API. No arithmetic here: every product is OpenBLAS's. Linked
 * only into the addon built where OpenBLAS is installed (speedrun_blas.node; see addon.c). Where oneDNN is linked
 * too (the int8 recipe's library), its sgemm can take the products instead (useOnednnProducts(true)): at the nano
 * shapes it ran 1.5-2.8x OpenBLAS 0.3.21's rate on an AMD EPYC Zen 5 (2026-12-02, bench/blas.ts).
 *
 * sgemmBatched(memory, aOffset, bOffset, cOffset, batch, m, n, k, transA, transB, strideA, strideB, bf16)
 *   memory: a typed array over the heap (its ArrayBuffer or SharedArrayBuffer); offsets in bytes from its start;
 *   C[i] (m x n, row-major) = op(A[i]) op(B[i]); strideA/strideB in elements between batch entries (0 =
 *   broadcast one matrix to every entry). bf16: round both operands to bfloat16 first (round to nearest even)
 *   and accumulate in fp32, the arithmetic of a bf16 GEMM; emulated, since this OpenBLAS has no sbgemm.
 */
#include <node_api.h>
#include <cblas.h>
#ifdef SPEEDRUN_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "products.h"

#define CHECK(call)                                                      \
  if ((call) != napi_ok) {                                               \
    napi_throw_error(env, NULL, "speedrun_blas: bad arguments");         \
    return NULL;                                                         \
  }

static int64_t get_int(napi_env env, napi_value v) {
  int64_t out = 0;
  napi_get_value_int64(env, v, &out);
  return out;
}

/* fp32 -> the nearest bfloat16 (ties to even), kept in fp32 storage; NaN and infinities pass through. */
static inline float round_to_bf16(float x) {
  uint32_t bits;
  memcpy(&bits, &x, 4);
  if ((bits & 0x7f800000u) != 0x7f800000u) bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
  memcpy(&x, &bits, 4);
  return x;
}

static float *rounded_copy(const float *x, int64_t n) {
  float *out = malloc(sizeof(float) * (n > 0 ? n : 1));
  if (out) for (int64_t i = 0; i < n; i++) out[i] = round_to_bf16(x[i]);
  return out;
}

/* Whether sgemmBatched (and the attention kernels' per-head products) call oneDNN's sgemm instead of OpenBLAS's
   (only where oneDNN is linked). */
static bool onednn_products = false;

/* Whether oneDNN's sgemm takes the products now; for kernels.c. */
bool speedrun_onednn_products(void) { return onednn_products; }

/* C (row-major, m x n, leading dimension ldc) = alpha·op(A)·op(B) + beta·C by the library chosen above; for kernels.c. */
void speedrun_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                    float *c, int ldc) {
#ifdef SPEEDRUN_DNNL
  if (onednn_products && dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == dnnl_success) return;
#endif
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* useOnednnProducts(on): returns whether oneDNN's products are now used (false where oneDNN is not linked). */
static napi_value use_onednn_products(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool on = false;
  napi_get_value_bool(env, argv[0], &on);
#ifdef SPEEDRUN_DNNL
  onednn_products = on;
#endif
  napi_value out;
  napi_get_boolean(env, onednn_products, &out);
  return out;
}

static napi_value sgemm_batched(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 13) {
    napi_throw_error(env, NULL, "speedrun_blas: sgemmBatched takes 13 arguments");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *data = NULL;
  napi_value buffer;
  size_t byte_offset;
  CHECK(napi_get_typedarray_info(env, argv[0], &type, &length, &data, &buffer, &byte_offset));
  uint8_t *base = (uint8_t *)data - byte_offset;
  const int64_t a_off = get_int(env, argv[1]), b_off = get_int(env, argv[2]), c_off = get_int(env, argv[3]);
  const int batch = (int)get_int(env, argv[4]), m = (int)get_int(env, argv[5]), n = (int)get_int(env, argv[6]), k = (int)get_int(env, argv[7]);
  bool trans_a = false, trans_b = false;
  napi_get_value_bool(env, argv[8], &trans_a);
  napi_get_value_bool(env, argv[9], &trans_b);
  const int64_t stride_a = get_int(env, argv[10]), stride_b = get_int(env, argv[11]);
  bool bf16 = false;
  napi_get_value_bool(env, argv[12], &bf16);
  const float *a = (const float *)(base + a_off);
  const float *b = (const float *)(base + b_off);
  float *c = (float *)(base + c_off);
  float *a16 = NULL, *b16 = NULL;
  if (bf16) {
    a16 = rounded_copy(a, (stride_a ? (int64_t)batch : 1) * m * k);
    b16 = rounded_copy(b, (stride_b ? (int64_t)batch : 1) * k * n);
    if (!a16 || !b16) {
      free(a16);
      free(b16);
      napi_throw_error(env, NULL, "speedrun_blas: out of memory");
      return NULL;
    }
    a = a16;
    b = b16;
  }
  const int lda = trans_a ? m : k, ldb = trans_b ? k : n;
  for (int i = 0; i < batch; i++) {
#ifdef SPEEDRUN_DNNL
    if (onednn_products) {
      /* oneDNN's sgemm is row-major, as the call below. */
      if (dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, 1.0f, a + i * stride_a, lda, b + i * stride_b, ldb, 0.0f,
                     c + (int64_t)i * m * n, n) != dnnl_success) {
        free(a16);
        free(b16);
        napi_throw_error(env, NULL, "speedrun_blas: oneDNN's sgemm failed");
        return NULL;
      }
      continue;
    }
#endif
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
                a + i * stride_a, lda, b + i * stride_b, ldb, 0.0f, c + (int64_t)i * m * n, n);
  }
  free(a16);
  free(b16);
  return NULL;
}

void speedrun_set_blas_threads(int threads) { openblas_set_num_threads(threads); }

static napi_value config(napi_env env, napi_callback_info info) {
  napi_value out;
  napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &out);
  return out;
}

void speedrun_register_blas(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgemmBatched", NULL, sgemm_batched, NULL, NULL, NULL, napi_default, NULL},
      {"config", NULL, config, NULL, NULL, NULL, napi_default, NULL},
      {"useOnednnProducts", NULL, use_onednn_products, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 3, props);
}
