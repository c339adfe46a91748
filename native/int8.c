/*
 * Int8 matrix products through oneDNN (Debian's libdnnl), for the int8 recipe (recipes/int8.ts). Compiled only
 * where oneDNN's headers exist (native/build.mjs passes dnnl=1); oneDNN dispatches at run time over the CPU's
 * features (AVX2 vpmaddubsw/vpmaddwd, AVX-512, VNNI), so one build is correct and fast on each.
 *
 * int8Linear(memory, x, w, out, amax, rows, inner, cols, wTransposed, scaleX, scaleW)
 *   x [rows, inner] and w [inner, cols] (or [cols, inner] when wTransposed: a tied head's embedding table as it
 *   is stored) are fp32 on the heap. Each is quantized to s8 with its per-tensor scale (q = round(v·scale),
 *   saturated at ±127: delayed scaling decides the scale from earlier steps' amax, so a new outlier clips), in
 *   the same pass that measures its amax, written to amax[0] (x) and amax[1] (w) for the scale's history. The
 *   product runs s8·s8 → s32 in oneDNN and leaves as fp32 through its output scale 1/(scaleX·scaleW).
 *   Without VNNI (AVX2, AVX-512 before Cascade Lake) oneDNN multiplies with vpmaddubsw, whose 16-bit pair sums
 *   saturate for |w| > 63 (oneDNN's "int8 computation" guide): there the weights use 7 bits, ±63, so the
 *   product is exact in s32 on every CPU (int8WeightMax() says which; the scale passed is for ±127).
 *
 * int8Available(): the oneDNN version and whether its int8 matmul can be created here; int8WeightMax(): 127 or 63.
 */
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap_args.h"

static dnnl_engine_t engine;
static dnnl_stream_t stream;

/* One primitive per shape: creating one costs far more than running it. */
typedef struct {
  int rows, inner, cols, transposed;
  dnnl_primitive_t matmul;
} Cached;
static Cached cache[32];
static int cached;

static int8_t *qx, *qw;
static size_t qxCap, qwCap;

static int ensure(int8_t **buffer, size_t *cap, size_t n) {
  if (n <= *cap) return 1;
  int8_t *grown = realloc(*buffer, n);
  if (!grown) return 0;
  *buffer = grown;
  *cap = n;
  return 1;
}

static int setup(void) {
  if (engine) return 1;
  if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return 0;
  if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) return 0;
  return 1;
}

static dnnl_primitive_t matmul_for(int rows, int inner, int cols, int transposed) {
  for (int i = 0; i < cached; i++) {
    const Cached *c = &cache[i];
    if (c->rows == rows && c->inner == inner && c->cols == cols && c->transposed == transposed) return c->matmul;
  }
  dnnl_memory_desc_t src, weights, dst;
  dnnl_dims_t sd = {rows, inner}, wd = {inner, cols}, dd = {rows, cols};
  if (dnnl_memory_desc_init_by_tag(&src, 2, sd, dnnl_s8, dnnl_ab) != dnnl_success) return NULL;
  if (dnnl_memory_desc_init_by_tag(&weights, 2, wd, dnnl_s8, transposed ? dnnl_ba : dnnl_ab) != dnnl_success) return NULL;
  if (dnnl_memory_desc_init_by_tag(&dst, 2, dd, dnnl_f32, dnnl_ab) != dnnl_success) return NULL;
  dnnl_matmul_desc_t desc;
  if (dnnl_matmul_desc_init(&desc, &src, &weights, NULL, &dst) != dnnl_success) return NULL;
  dnnl_primitive_attr_t attr;
  if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
  const float runtime = DNNL_RUNTIME_F32_VAL;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_t matmul = NULL;
  if (dnnl_primitive_attr_set_output_scales(attr, 1, 0, &runtime) == dnnl_success && dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) == dnnl_success) {
    if (dnnl_primitive_create(&matmul, pd) != dnnl_success) matmul = NULL;
    dnnl_primitive_desc_destroy(pd);
  }
  dnnl_primitive_attr_destroy(attr);
  if (!matmul) return NULL;
  if (cached == (int)(sizeof cache / sizeof cache[0])) {
    dnnl_primitive_destroy(cache[0].matmul);
    memmove(cache, cache + 1, sizeof(Cached) * (cached - 1));
    cached--;
  }
  cache[cached++] = (Cached){rows, inner, cols, transposed, matmul};
  return matmul;
}

/* 127 with VNNI (vpdpbusd accumulates in 32 bits), else 63: see the note at the top. */
static int weight_max(void) {
  const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  const int vnni = (isa & dnnl_cpu_isa_avx512_core_vnni) == dnnl_cpu_isa_avx512_core_vnni || (isa & dnnl_cpu_isa_avx2_vnni) == dnnl_cpu_isa_avx2_vnni;
  return vnni ? 127 : 63;
}

/* q = saturate(round(x·scale), ±limit) and amax(|x|), in one pass the compiler vectorizes. */
static float quantize(const float *restrict x, int8_t *restrict q, size_t n, float scale, float limit) {
  float amax = 0;
  for (size_t i = 0; i < n; i++) {
    const float a = fabsf(x[i]);
    amax = a > amax ? a : amax;
    float v = nearbyintf(x[i] * scale);
    v = v > limit ? limit : v < -limit ? -limit : v;
    q[i] = (int8_t)v;
  }
  return amax;
}

static napi_value int8_linear(napi_env env, napi_callback_info info) {
  ARGS(11);
  const float *x = F32(1), *w = F32(2);
  float *out = F32(3), *amax = F32(4);
  const int rows = INT(5), inner = INT(6), cols = INT(7), transposed = INT(8);
  const float wmax = (float)weight_max();
  const float scaleX = NUM(9), scaleW = NUM(10) * wmax / 127.0f;
  const size_t nx = (size_t)rows * inner, nw = (size_t)inner * cols;
  if (!setup() || !ensure(&qx, &qxCap, nx) || !ensure(&qw, &qwCap, nw)) {
    napi_throw_error(env, NULL, "int8Linear: oneDNN engine or buffers unavailable");
    return NULL;
  }
  dnnl_primitive_t matmul = matmul_for(rows, inner, cols, transposed);
  if (!matmul) {
    napi_throw_error(env, NULL, "int8Linear: oneDNN has no s8 matmul for this shape here");
    return NULL;
  }
  amax[0] = quantize(x, qx, nx, scaleX, 127.0f);
  amax[1] = quantize(w, qw, nw, scaleW, wmax);
  float outScale = 1.0f / (scaleX * scaleW);
  dnnl_memory_desc_t src, weights, dst, sc;
  dnnl_dims_t sd = {rows, inner}, wd = {inner, cols}, dd = {rows, cols}, one = {1};
  dnnl_memory_desc_init_by_tag(&src, 2, sd, dnnl_s8, dnnl_ab);
  dnnl_memory_desc_init_by_tag(&weights, 2, wd, dnnl_s8, transposed ? dnnl_ba : dnnl_ab);
  dnnl_memory_desc_init_by_tag(&dst, 2, dd, dnnl_f32, dnnl_ab);
  dnnl_memory_desc_init_by_tag(&sc, 1, one, dnnl_f32, dnnl_a);
  dnnl_memory_t ms = NULL, mw = NULL, md = NULL, mscale = NULL;
  dnnl_status_t status = dnnl_memory_create(&ms, &src, engine, qx);
  if (status == dnnl_success) status = dnnl_memory_create(&mw, &weights, engine, qw);
  if (status == dnnl_success) status = dnnl_memory_create(&md, &dst, engine, out);
  if (status == dnnl_success) status = dnnl_memory_create(&mscale, &sc, engine, &outScale);
  if (status == dnnl_success) {
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, md}, {DNNL_ARG_ATTR_OUTPUT_SCALES, mscale}};
    status = dnnl_primitive_execute(matmul, stream, 4, args);
    if (status == dnnl_success) status = dnnl_stream_wait(stream);
  }
  dnnl_memory_destroy(ms);
  dnnl_memory_destroy(mw);
  dnnl_memory_destroy(md);
  dnnl_memory_destroy(mscale);
  if (status != dnnl_success) napi_throw_error(env, NULL, "int8Linear: the oneDNN matmul failed");
  return NULL;
}

static napi_value int8_weight_max(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_int32(env, weight_max(), &out);
  return out;
}

static napi_value int8_available(napi_env env, napi_callback_info info) {
  (void)info;
  const dnnl_version_t *v = dnnl_version();
  char text[96];
  const int ok = setup() && matmul_for(64, 64, 64, 0) != NULL;
  snprintf(text, sizeof text, "%s oneDNN %d.%d.%d", ok ? "ok" : "unavailable", v->major, v->minor, v->patch);
  napi_value out;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &out);
  return out;
}

void speedrun_register_int8(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {EXPORT("int8Linear", int8_linear), EXPORT("int8Available", int8_available), EXPORT("int8WeightMax", int8_weight_max)};
  napi_define_properties(env, exports, 3, props);
}
