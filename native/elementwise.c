/*
 * Broadcasting binary ops and axis sums for the native backend, registered over tfjs-backend-wasm's own
 * (harness/backends/nativeElementwise.ts). wasm runs broadcasting through a generic per-element index loop: a
 * rotary multiply [12,64,4,16] x [64,1,16] took 0.76 ms (15 ns an element) and `Sum [768,1024]` along axis 0
 * 4 ms. Here the shapes arrive coalesced (adjacent dimensions merged wherever both operands allow), the
 * innermost dimension runs as a SIMD loop over one of three stride patterns, and sums accumulate rows in order.
 *
 * broadcastBinary(memory, op, a, b, out, shape[], aStrides[], bStrides[]): out[i] = a[..] op b[..], strides in
 * elements, 0 along a broadcast dimension; op 0 add, 1 sub, 2 mul, 3 div.
 * sumStrided(memory, x, out, outSize, shape[], outStrides[]): out[..] = Σ x over the dimensions whose output
 * stride is 0.
 * unary(memory, op, x, out, n): op 0 square, 1 neg, 2 abs, 3 relu, 4 tanh, 5 exp, 6 sigmoid, 7 sqrt, 8 rsqrt.
 */
#include <math.h>
#include <string.h>

#include "heap_args.h"

#define MAX_RANK 8

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };

/* One innermost row of n outputs; a and b either step by one or stay (stride 0). */
#define ROW(EXPR)                                                           \
  if (sa == 1 && sb == 1)                                                   \
    for (int64_t i = 0; i < n; i++) { const float x = a[i], y = b[i]; out[i] = (EXPR); } \
  else if (sa == 1)                                                         \
    for (int64_t i = 0; i < n; i++) { const float x = a[i], y = b[0]; out[i] = (EXPR); } \
  else if (sb == 1)                                                         \
    for (int64_t i = 0; i < n; i++) { const float x = a[0], y = b[i]; out[i] = (EXPR); } \
  else                                                                      \
    for (int64_t i = 0; i < n; i++) { const float x = a[0], y = b[0]; out[i] = (EXPR); }

static void binary_row(int op, const float *restrict a, int64_t sa, const float *restrict b, int64_t sb, float *restrict out, int64_t n) {
  switch (op) {
    case OP_ADD: ROW(x + y) break;
    case OP_SUB: ROW(x - y) break;
    case OP_MUL: ROW(x * y) break;
    default: ROW(x / y) break;
  }
}

/* Reads a JavaScript array of at most MAX_RANK integers; returns its length, or -1. */
static int int_array(napi_env env, napi_value array, int64_t *out) {
  uint32_t length = 0;
  if (napi_get_array_length(env, array, &length) != napi_ok || length > MAX_RANK) return -1;
  for (uint32_t i = 0; i < length; i++) {
    napi_value v;
    napi_get_element(env, array, i, &v);
    out[i] = int_arg(env, v);
  }
  return (int)length;
}

/* Advances the multi-index over dims [0, rank − 1) (the innermost is a row); false when done. */
static int next_index(int64_t *index, const int64_t *shape, int rank) {
  for (int d = rank - 2; d >= 0; d--) {
    if (++index[d] < shape[d]) return 1;
    index[d] = 0;
  }
  return 0;
}

static napi_value broadcast_binary(napi_env env, napi_callback_info info) {
  ARGS(8);
  const int op = INT(1);
  const float *a = F32(2), *b = F32(3);
  float *out = F32(4);
  int64_t shape[MAX_RANK], sa[MAX_RANK], sb[MAX_RANK], index[MAX_RANK] = {0};
  const int rank = int_array(env, argv[5], shape);
  if (rank < 1 || int_array(env, argv[6], sa) != rank || int_array(env, argv[7], sb) != rank) {
    napi_throw_error(env, NULL, "broadcastBinary: shape and strides must have the same rank, 1 to 8");
    return NULL;
  }
  const int64_t n = shape[rank - 1];
  do {
    int64_t oa = 0, ob = 0, oo = 0, step = n;
    for (int d = rank - 2; d >= 0; d--) {
      oa += index[d] * sa[d];
      ob += index[d] * sb[d];
      oo += index[d] * step;
      step *= shape[d];
    }
    binary_row(op, a + oa, sa[rank - 1], b + ob, sb[rank - 1], out + oo, n);
  } while (next_index(index, shape, rank));
  return NULL;
}

static void add_row(const float *restrict x, float *restrict out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] += x[i];
}

static float row_sum(const float *restrict x, int64_t n) {
  float total = 0;
  for (int64_t i = 0; i < n; i++) total += x[i];
  return total;
}

static napi_value sum_strided(napi_env env, napi_callback_info info) {
  ARGS(6);
  const float *x = F32(1);
  float *out = F32(2);
  const int64_t outSize = int_arg(env, argv[3]);
  int64_t shape[MAX_RANK], so[MAX_RANK], index[MAX_RANK] = {0};
  const int rank = int_array(env, argv[4], shape);
  if (rank < 1 || int_array(env, argv[5], so) != rank) {
    napi_throw_error(env, NULL, "sumStrided: shape and strides must have the same rank, 1 to 8");
    return NULL;
  }
  memset(out, 0, sizeof(float) * outSize);
  const int64_t n = shape[rank - 1];
  int64_t ox = 0;
  do {
    int64_t oo = 0;
    for (int d = rank - 2; d >= 0; d--) oo += index[d] * so[d];
    if (so[rank - 1] == 0) out[oo] += row_sum(x + ox, n);
    else add_row(x + ox, out + oo, n);
    ox += n;
  } while (next_index(index, shape, rank));
  return NULL;
}

#define UNARY_LOOP(name, EXPR) \
  static void name(const float *restrict in, float *restrict out, int64_t n) { \
    for (int64_t i = 0; i < n; i++) { const float x = in[i]; out[i] = (EXPR); } \
  }
UNARY_LOOP(square_all, x * x)
UNARY_LOOP(neg_all, -x)
UNARY_LOOP(abs_all, fabsf(x))
UNARY_LOOP(relu_all, x > 0.0f ? x : 0.0f)
UNARY_LOOP(tanh_all, tanhf(x))
UNARY_LOOP(exp_all, expf(x))
UNARY_LOOP(sigmoid_all, 1.0f / (1.0f + expf(-x)))
UNARY_LOOP(sqrt_all, sqrtf(x))
UNARY_LOOP(rsqrt_all, 1.0f / sqrtf(x))

static napi_value unary(napi_env env, napi_callback_info info) {
  ARGS(5);
  const int op = INT(1);
  const float *x = F32(2);
  float *out = F32(3);
  const int64_t n = int_arg(env, argv[4]);
  switch (op) {
    case 0: square_all(x, out, n); break;
    case 1: neg_all(x, out, n); break;
    case 2: abs_all(x, out, n); break;
    case 3: relu_all(x, out, n); break;
    case 4: tanh_all(x, out, n); break;
    case 5: exp_all(x, out, n); break;
    case 6: sigmoid_all(x, out, n); break;
    case 7: sqrt_all(x, out, n); break;
    default: rsqrt_all(x, out, n); break;
  }
  return NULL;
}

/*
 * A permutation of x into out (contiguous): out[index] = x[Σ_d index[d]·in_strides[d]], for the caller's
 * coalesced shape (merged dimensions, none of size 1), so exactly one dimension p reads x contiguously. Where
 * that is not the last output dimension, the copy goes in square tiles over (p, last), so that both the reads
 * along p and the writes along the last dimension stay in cache; wasm's Transpose moves one element at a time
 * through generic index arithmetic.
 * transpose(memory, x, out, shape[], inStrides[])
 */
#define TILE 16
static napi_value transpose(napi_env env, napi_callback_info info) {
  ARGS(5);
  const float *x = F32(1);
  float *out = F32(2);
  int64_t shape[MAX_RANK], is[MAX_RANK], os[MAX_RANK], index[MAX_RANK] = {0};
  const int rank = int_array(env, argv[3], shape);
  if (rank < 1 || int_array(env, argv[4], is) != rank) {
    napi_throw_error(env, NULL, "speedrun kernels: transpose takes a shape and its strides, rank 1-8");
    return NULL;
  }
  const int last = rank - 1;
  int p = last;
  for (int d = 0; d < rank; d++) if (is[d] == 1) p = d;
  for (int d = last, stride = 1; d >= 0; d--) {
    os[d] = stride;
    stride *= shape[d];
  }
  for (;;) {
    int64_t xo = 0, oo = 0;
    for (int d = 0; d < rank; d++) {
      xo += index[d] * is[d];
      oo += index[d] * os[d];
    }
    const int64_t nl = shape[last], sl = is[last];
    if (p == last) {
      for (int64_t j = 0; j < nl; j++) out[oo + j] = x[xo + j * sl];
    } else {
      const int64_t np = shape[p], sp = os[p];
      for (int64_t i0 = 0; i0 < np; i0 += TILE) {
        const int64_t ie = i0 + TILE < np ? i0 + TILE : np;
        for (int64_t j0 = 0; j0 < nl; j0 += TILE) {
          const int64_t je = j0 + TILE < nl ? j0 + TILE : nl;
          for (int64_t j = j0; j < je; j++)
            for (int64_t i = i0; i < ie; i++) out[oo + i * sp + j] = x[xo + i + j * sl];
        }
      }
    }
    /* the next index over every dimension but p and the last */
    int d = last - 1;
    for (; d >= 0; d--) {
      if (d == p) continue;
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
    if (d < 0) break;
  }
  return NULL;
}

/*
 * rows x width floats from src (rows srcStride apart) to dst (rows dstStride apart): one piece of a split or of a
 * concatenation along an axis, whichever side is the whole.
 * copyRows(memory, src, srcStride, dst, dstStride, rows, width)
 */
static napi_value copy_rows(napi_env env, napi_callback_info info) {
  ARGS(7);
  const float *src = F32(1);
  float *dst = F32(3);
  const int64_t srcStride = int_arg(env, argv[2]), dstStride = int_arg(env, argv[4]), rows = int_arg(env, argv[5]), width = int_arg(env, argv[6]);
  for (int64_t r = 0; r < rows; r++) memcpy(dst + r * dstStride, src + r * srcStride, sizeof(float) * width);
  return NULL;
}

void speedrun_register_elementwise(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      EXPORT("broadcastBinary", broadcast_binary),
      EXPORT("sumStrided", sum_strided),
      EXPORT("unary", unary),
      EXPORT("transpose", transpose),
      EXPORT("copyRows", copy_rows),
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
