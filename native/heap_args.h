/*
 * The calling convention of speedrun's fused kernels (kernels.c, ngpt.c): every entry point takes
 * (memory, byte offsets..., sizes..., scalars...) where memory is a typed array over the TF.js wasm heap.
 * ARGS(n) reads exactly n arguments and the heap's base address; F32(i), I32(i), INT(i), NUM(i) read argument i.
 */
#ifndef SPEEDRUN_HEAP_ARGS_H
#define SPEEDRUN_HEAP_ARGS_H
#include <node_api.h>
#include <stdint.h>

#define ARGS(count)                                                                               \
  size_t argc = (count);                                                                          \
  napi_value argv[(count)];                                                                       \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != (count)) {       \
    napi_throw_error(env, NULL, "speedrun kernels: wrong number of arguments");                  \
    return NULL;                                                                                  \
  }                                                                                               \
  uint8_t *heap = heap_base(env, argv[0]);                                                        \
  if (!heap) return NULL;

static inline uint8_t *heap_base(napi_env env, napi_value memory) {
  napi_typedarray_type type;
  size_t length, byte_offset;
  void *data = NULL;
  napi_value buffer;
  if (napi_get_typedarray_info(env, memory, &type, &length, &data, &buffer, &byte_offset) != napi_ok) {
    napi_throw_error(env, NULL, "speedrun kernels: the first argument must be a typed array over the heap");
    return NULL;
  }
  return (uint8_t *)data - byte_offset;
}

static inline int64_t int_arg(napi_env env, napi_value v) {
  int64_t out = 0;
  napi_get_value_int64(env, v, &out);
  return out;
}

static inline double num_arg(napi_env env, napi_value v) {
  double out = 0;
  napi_get_value_double(env, v, &out);
  return out;
}

#define F32(i) ((float *)(heap + int_arg(env, argv[(i)])))
#define I32(i) ((const int32_t *)(heap + int_arg(env, argv[(i)])))
#define INT(i) ((int)int_arg(env, argv[(i)]))
#define NUM(i) ((float)num_arg(env, argv[(i)]))

/* One entry of an exports table: the JavaScript name and the C function behind it. */
#define EXPORT(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default, NULL}

#endif
