/*
 * The native backend's Node-API module: one table of entry points, from the groups below. Two builds of it
 * (binding.gyp): speedrun_kernels.node, which needs only a C compiler, holds the fused and elementwise kernels;
 * speedrun_blas.node, built where OpenBLAS is installed, adds OpenBLAS's products (blas.c), Muon's fused update
 * (muon.c, fifteen sgemms) and the sgemm form of the attention products. Without OpenBLAS, matrix products stay
 * on tfjs-backend-wasm's XNNPACK.
 */
#include <node_api.h>
#include <omp.h>

#include "heap_args.h"

void speedrun_register_kernels(napi_env env, napi_value exports);      /* kernels.c */
void speedrun_register_ngpt_kernels(napi_env env, napi_value exports); /* ngpt.c */
void speedrun_register_elementwise(napi_env env, napi_value exports);   /* elementwise.c */
void speedrun_register_heads(napi_env env, napi_value exports);         /* heads.c */
#ifdef SPEEDRUN_OPENBLAS
void speedrun_register_blas(napi_env env, napi_value exports);          /* blas.c */
void speedrun_set_blas_threads(int threads);                            /* blas.c */
void speedrun_register_muon(napi_env env, napi_value exports);          /* muon.c */
#endif
#ifdef SPEEDRUN_DNNL
void speedrun_register_int8(napi_env env, napi_value exports);          /* int8.c, with oneDNN */
#endif

/* setThreads(n): the threads of the kernels that split their work (OpenMP), and of OpenBLAS where linked. */
static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1) {
    napi_throw_error(env, NULL, "speedrun kernels: setThreads takes one number");
    return NULL;
  }
  const int threads = int_arg(env, argv[0]) > 0 ? (int)int_arg(env, argv[0]) : 1;
  omp_set_num_threads(threads);
#ifdef SPEEDRUN_OPENBLAS
  speedrun_set_blas_threads(threads);
#endif
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {EXPORT("setThreads", set_threads)};
  napi_define_properties(env, exports, 1, props);
  speedrun_register_kernels(env, exports);
  speedrun_register_ngpt_kernels(env, exports);
  speedrun_register_elementwise(env, exports);
  speedrun_register_heads(env, exports);
#ifdef SPEEDRUN_OPENBLAS
  speedrun_register_blas(env, exports);
  speedrun_register_muon(env, exports);
#endif
#ifdef SPEEDRUN_DNNL
  speedrun_register_int8(env, exports);
#endif
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
