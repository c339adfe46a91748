/**
 * The GPT core's primitives, written for the engines they run on. Each has an explicit backward pass because
 * TF.js's default gradients hit slow paths:
 *  - wasm's matMul with transposeA or transposeB leaves XNNPACK for a scalar loop (10-17x slower here), and
 *    the default gradient of matMul uses exactly those flags: on wasm and cpu we transpose explicitly first;
 *  - wasm has no UnsortedSegmentSum, the default gradient of gather (embedding lookup);
 *  - autodiff through LayerNorm, GELU, softmax and cross-entropy records many small ops; one fused backward each
 *    does the same arithmetic in fewer kernel launches.
 * Kernels stay swappable: `Engine` says which variant a backend prefers, and recipes may replace whole ops.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradients; the union package's Node bundle registers them all (same
// global registry). Its ESM files in tfjs-core/dist use extensionless imports that Node cannot load.
import '@tensorflow/tfjs';
import { nativeProductsOnBlas } from './backends/nativeBlas.ts';

export interface Engine {
  /** Transpose operands explicitly instead of using matMul's transpose flags (wasm, cpu). */
  transposeFirst: boolean;
  /** The backend has UnsortedSegmentSum (gather's gradient). */
  hasSegmentSum: boolean;
  /**
   * How attention's products run: `batched` (one BatchMatMul per product) or `per-sequence` (block-diagonal 2-D
   * matmuls, one per sequence), for wasm, whose BatchMatMul is a scalar loop but whose 2-D matmul is XNNPACK.
   */
  attention: 'batched' | 'per-sequence';
}

interface CustomOpResult {
  value: tf.Tensor;
  /** Tensors the backward pass needs; everything else the forward created is disposed at once. */
  saved: tf.Tensor[];
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
}

/**
 * tf.customGrad with typed inputs. TF.js runs a custom forward and backward without a tidy, so their intermediates
 * would live until the end of the training step; here they are freed right away and only `value`, `saved` and
 * the gradients are kept.
 */
export function customOp<A extends tf.Tensor[]>(f: (...inputs: A) => CustomOpResult): (...inputs: A) => tf.Tensor {
  const op = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    let gradFunc: CustomOpResult['gradFunc'] | undefined;
    const [value, ...saved] = tf.tidy(() => {
      const result = f(...(args as A));
      gradFunc = result.gradFunc;
      return [result.value, ...result.saved];
    });
    save(saved);
    // TF.js calls a custom gradient outside any tidy, so whatever it creates would live until the whole backward
    // pass ends (measured: the live bytes climbed to 358 MiB in one nano step). Here only the gradients survive.
    const backward = gradFunc!;
    return { value: value!, gradFunc: (dy: tf.Tensor, kept: tf.Tensor[]) => tf.tidy(() => backward(dy, kept)) };
  }) as Parameters<typeof tf.customGrad>[0]);
  return (...inputs: A) => op(...inputs);
}

/** `backend`: a TF.js backend name, or speedrun's backend info (native runs on TF.js's wasm with BLAS matmuls). */
export function engineFor(backend: string | { name: string; tfjsBackend: string }): Engine {
  const name = typeof backend === 'string' ? backend : backend.name;
  const tfjs = typeof backend === 'string' ? backend : backend.tfjsBackend;
  // native's OpenBLAS build replaces wasm's BatchMatMul with sgemm; its kernels-only build keeps wasm's products.
  const xnnpackProducts = name === 'wasm' || (name === 'native' && !nativeProductsOnBlas());
  return {
    // sgemm takes transposes as flags; wasm's and cpu's matMul are much slower with them.
    transposeFirst: xnnpackProducts || name === 'cpu',
    hasSegmentSum: tf.getKernel('UnsortedSegmentSum', tfjs) !== undefined,
    // wasm's batched products are a scalar loop; only where sgemm replaced them is the batched form fast.
    attention: xnnpackProducts ? 'per-sequence' : 'batched',
  };
}

/** a @ bᵀ for rank-2 or rank-3+ tensors, in the form the engine runs fastest. */
export function matMulBT(engine: Engine, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (!engine.transposeFirst) return tf.matMul(a, b, false, true);
  return tf.matMul(a, swapLastTwo(b));
}

/** aᵀ @ b. */
export function matMulAT(engine: Engine, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (!engine.transposeFirst) return tf.matMul(a, b, true, false);
  return tf.matMul(swapLastTwo(a), b);
}

function swapLastTwo(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return tf.transpose(x, perm);
}

/** Dense layer without bias: x [N, in] @ w [in, out] -> [N, out]. */
export function makeLinear(engine: Engine): (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D {
  return customOp((x: tf.Tensor, w: tf.Tensor) => {
    return {
      saved: [x, w],
      value: tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor, [xs, ws]: tf.Tensor[]) => [matMulBT(engine, dy, ws!), matMulAT(engine, xs!, dy)],
    };
  }) as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;
}

/** Embedding lookup table[ids] -> [N, C], with a scatter-add gradient that works on every backend. */
export function makeEmbedding(engine: Engine): (table: tf.Tensor2D, ids: tf.Tensor1D) => tf.Tensor2D {
  return customOp((table: tf.Tensor, ids: tf.Tensor) => {
    const [vocab] = table.shape as [number, number];
    return {
      saved: [ids],
      value: tf.gather(table, ids),
      gradFunc: (dy: tf.Tensor, [savedIds]: tf.Tensor[]) => [
        scatterAddRows(engine, dy as tf.Tensor2D, savedIds as tf.Tensor1D, vocab),
        tf.zerosLike(savedIds!),
      ],
    };
  }) as (table: tf.Tensor2D, ids: tf.Tensor1D) => tf.Tensor2D;
}

/** out[v] = sum of rows[i] where ids[i] == v. */
export function scatterAddRows(engine: Engine, rows: tf.Tensor2D, ids: tf.Tensor1D, vocab: number): tf.Tensor2D {
  if (engine.hasSegmentSum) return tf.unsortedSegmentSum(rows, ids, vocab);
  const [n, width] = rows.shape;
  if (vocab * n <= 4_000_000) {
    // Small vocabularies (char level): one-hot matmul, which wasm runs through XNNPACK.
    const oneHot = tf.cast(tf.oneHot(ids, vocab), 'float32') as tf.Tensor2D;
    return matMulAT(engine, oneHot, rows) as tf.Tensor2D;
  }
  // Large vocabularies (GPT-2 BPE) on wasm: accumulate on the host.
  const values = rows.dataSync();
  const index = ids.dataSync();
  const out = new Float32Array(vocab * width);
  for (let i = 0; i < n; i++) {
    const dst = index[i]! * width;
    const src = i * width;
    for (let c = 0; c < width; c++) out[dst + c]! += values[src + c]!;
  }
  return tf.tensor2d(out, [vocab, width]);
}

export const LN_EPS = 1e-5;

/** LayerNorm over the last axis with a gain and no bias (nanoGPT's bias=False): x [N, C], gain [C]. */
export const layerNorm = customOp((x: tf.Tensor, gain: tf.Tensor) => {
  const mean = tf.mean(x, -1, true);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), -1, true);
  const rstd = tf.rsqrt(tf.add(variance, LN_EPS));
  const xhat = tf.mul(centered, rstd);
  return {
    saved: [xhat, rstd, gain],
    value: tf.mul(xhat, gain),
    gradFunc: (dy: tf.Tensor, [xh, rs, g]: tf.Tensor[]) => {
      const dxhat = tf.mul(dy, g!);
      const dGain = tf.sum(tf.mul(dy, xh!), 0);
      const dx = tf.mul(
        rs!,
        tf.sub(tf.sub(dxhat, tf.mean(dxhat, -1, true)), tf.mul(xh!, tf.mean(tf.mul(dxhat, xh!), -1, true))),
      );
      return [dx, dGain];
    },
  };
}) as (x: tf.Tensor2D, gain: tf.Tensor1D) => tf.Tensor2D;

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * GELU, tanh approximation (GPT-2's): 0.5·a·(1 + tanh(u)), u = √(2/π)(a + 0.044715 a³), computed as the identical
 * a·σ(2u) because wasm's sigmoid is ~5x faster than its tanh. This is the gate s = σ(2u); GELU(a) = a·s.
 */
function geluGate(a: tf.Tensor): tf.Tensor {
  return tf.sigmoid(tf.mul(tf.mul(a, tf.add(tf.mul(tf.square(a), 0.044715), 1)), 2 * GELU_C));
}

/** dGELU/da = s + a·s(1−s)·2u'(a). */
function geluSlope(a: tf.Tensor, s: tf.Tensor): tf.Tensor {
  const dTwoU = tf.mul(tf.add(tf.mul(tf.square(a), 3 * 0.044715), 1), 2 * GELU_C);
  return tf.add(s, tf.mul(tf.mul(a, tf.mul(s, tf.sub(1, s))), dTwoU));
}

/**
 * The GELU MLP as one op: GELU(x·W_fc)·W_proj. One tape entry instead of three: TF.js keeps the gradient of every
 * taped intermediate until the backward pass ends, so fusing the 4C-wide intermediates lowers the memory peak.
 */
export function makeGeluMlp(engine: Engine): (x: tf.Tensor2D, wFc: tf.Tensor2D, wProj: tf.Tensor2D) => tf.Tensor2D {
  return customOp((x: tf.Tensor, wFc: tf.Tensor, wProj: tf.Tensor) => {
    const a = tf.matMul(x as tf.Tensor2D, wFc as tf.Tensor2D); // [N, 4C]
    const s = geluGate(a);
    return {
      saved: [x, wFc, wProj, a, s],
      value: tf.matMul(tf.mul(a, s) as tf.Tensor2D, wProj as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor, [xs, wf, wp, as, ss]: tf.Tensor[]) => {
        const hidden = tf.mul(as!, ss!);
        const dA = tf.mul(matMulBT(engine, dy, wp!), geluSlope(as!, ss!));
        return [matMulBT(engine, dA, wf!), matMulAT(engine, xs!, dA), matMulAT(engine, hidden, dy)];
      },
    };
  }) as (x: tf.Tensor2D, wFc: tf.Tensor2D, wProj: tf.Tensor2D) => tf.Tensor2D;
}

/** Additive causal mask [T, T]: 0 on and below the diagonal, -1e9 above. */
export function causalMask(seqLen: number): tf.Tensor2D {
  const data = new Float32Array(seqLen * seqLen);
  for (let i = 0; i < seqLen; i++) for (let j = i + 1; j < seqLen; j++) data[i * seqLen + j] = -1e9;
  return tf.tensor2d(data, [seqLen, seqLen]);
}

/** Causal attention: q, k, v [B, T, H, hs] -> [B, T, H, hs] (heads stay in the merged [B·T, C] layout). */
export type AttentionFn = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number) => tf.Tensor4D;

/** An attention op that owns constant tensors (masks), freed by dispose(). */
export interface CausalAttention extends AttentionFn {
  dispose(): void;
}

/** The per-sequence layout wastes nHead-fold arithmetic on zero blocks; beyond this many heads, stay batched. */
const PER_SEQUENCE_MAX_HEADS = 8;

/**
 * Scaled-dot-product attention with a hand-written backward:
 * S = q kᵀ·scale + mask, P = softmax(S), O = P v;  dP = dO vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)),
 * dq = dS k·scale, dk = dSᵀ q·scale, dv = Pᵀ dO.
 * Two ways to run the six products, chosen by the engine:
 *  - batched: one BatchMatMul each over [B·H] small matrices (native's batched sgemm, webgpu, cpu);
 *  - per-sequence (wasm): tfjs-backend-wasm sends every batched product to a scalar loop (~1.5 GFLOP/s) and
 *    only unbatched 2-D products to XNNPACK. So each sequence's heads go into one 2-D product against a
 *    block-diagonal operand: q_b [T, C] · blockdiag(k_bᵀ) [C, H·T] = all H score matrices side by side. It does
 *    H times the arithmetic of the batched form, on zeros, and is still ~1.8x faster at the nano shapes.
 */
export function makeCausalAttention(engine: Engine, mask: tf.Tensor2D): CausalAttention {
  // A custom op's inputs must be tensors, so the scale (fixed per model) is closed over: one op per scale.
  const ops = new Map<string, (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor>();
  const constants: tf.Tensor[] = [];
  const maskFor = (seqLen: number) => (seqLen === mask.shape[0] ? mask : tf.slice(mask, [0, 0], [seqLen, seqLen]));
  const batched = (scale: number) =>
    customOp((qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor) => {
      const probs = tf.softmax(tf.add(tf.mul(matMulBT(engine, qi, ki), scale), maskFor(qi.shape[2]!))); // [B, H, T, T]
      return {
        saved: [qi, ki, vi, probs],
        value: tf.matMul(probs, vi),
        gradFunc: (dOut: tf.Tensor, [qs, ks, vs, p]: tf.Tensor[]) => {
          const dProbs = matMulBT(engine, dOut, vs!);
          const dScaled = tf.mul(tf.mul(p!, tf.sub(dProbs, tf.sum(tf.mul(dProbs, p!), -1, true))), scale);
          return [tf.matMul(dScaled, ks!), matMulAT(engine, dScaled, qs!), matMulAT(engine, p!, dOut)];
        },
      };
    });
  const perSequence = (scale: number, heads: number, headSize: number) => {
    const width = heads * headSize;
    // blocks[h, c] = 1 where channel c belongs to head h; the two broadcastable shapes of it.
    const blocks = Float32Array.from({ length: heads * width }, (_, i) => (Math.floor((i % width) / headSize) === Math.floor(i / width) ? 1 : 0));
    const [byHeadThenChannel, byChannelThenHead] = tf.tidy(() => {
      const headThenChannel = tf.tensor3d(blocks, [heads, 1, width]); // [H, 1, C]
      const channelThenHead = tf.reshape(tf.transpose(tf.reshape(headThenChannel, [heads, width])), [width, heads, 1]); // [C, H, 1]
      return [tf.keep(headThenChannel), tf.keep(channelThenHead)];
    });
    constants.push(byHeadThenChannel!, byChannelThenHead!);
    return customOp((qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor) => {
      const [batch, seqLen] = qi.shape as [number, number];
      const span = heads * seqLen;
      const seq = (x: tf.Tensor, rows: number) => tf.split(tf.reshape(x, [batch * rows, -1]), batch, 0) as tf.Tensor2D[];
      /** Sequence by sequence: a_b [rowsA, ·] · b_b [rowsB, ·], concatenated to [B·rowsA, ·]. */
      const products = (a: tf.Tensor, rowsA: number, b: tf.Tensor, rowsB: number) => {
        const bs = seq(b, rowsB);
        return tf.concat(seq(a, rowsA).map((ab, i) => tf.matMul(ab, bs[i]!)), 0);
      };
      /** x [B, T, C] -> blockdiag(x_bᵀ) [B, C, H·T]: column block h holds head h's x_bᵀ, zeros elsewhere. */
      const blockDiagT = (x: tf.Tensor) => tf.mul(tf.reshape(tf.transpose(tf.reshape(x, [batch, seqLen, width]), [0, 2, 1]), [batch, width, 1, seqLen]), byChannelThenHead);
      /** x [B, T, C] -> blockdiag(x_b) [B, H·T, C]: row block h holds head h's x_b. */
      const blockDiag = (x: tf.Tensor) => tf.mul(tf.reshape(x, [batch, 1, seqLen, width]), byHeadThenChannel);
      /** r [B, H·T, C] -> [B, T, C]: each head's own block (the inverse of blockDiag). */
      const diagonalBlocks = (r: tf.Tensor) => tf.sum(tf.mul(tf.reshape(r, [batch, heads, seqLen, width]), byHeadThenChannel), 1);
      const causal = tf.reshape(maskFor(seqLen), [seqLen, 1, seqLen]);
      const scores = tf.reshape(products(qi, seqLen, blockDiagT(ki), width), [batch, seqLen, heads, seqLen]);
      const probs = tf.softmax(tf.add(tf.mul(scores, scale), causal)); // [B, T, H, T]
      return {
        saved: [qi, ki, vi, probs],
        value: tf.reshape(products(probs, seqLen, blockDiag(vi), span), [batch, seqLen, heads, headSize]),
        gradFunc: (dOut: tf.Tensor, [qs, ks, vs, p]: tf.Tensor[]) => {
          const dProbs = tf.reshape(products(dOut, seqLen, blockDiagT(vs!), width), [batch, seqLen, heads, seqLen]);
          const dScaled = tf.mul(tf.mul(p!, tf.sub(dProbs, tf.sum(tf.mul(dProbs, p!), -1, true))), scale);
          const dScaledT = tf.transpose(tf.reshape(dScaled, [batch, seqLen, span]), [0, 2, 1]); // [B, H·T, T]
          const probsT = tf.transpose(tf.reshape(p!, [batch, seqLen, span]), [0, 2, 1]);
          const shape = [batch, seqLen, heads, headSize];
          return [
            tf.reshape(products(dScaled, seqLen, blockDiag(ks!), span), shape),
            tf.reshape(diagonalBlocks(products(dScaledT, span, qs!, seqLen)), shape),
            tf.reshape(diagonalBlocks(products(probsT, span, dOut, seqLen)), shape),
          ];
        },
      };
    });
  };
  const toHeads = (x: tf.Tensor4D) => tf.transpose(x, [0, 2, 1, 3]); // [B, T, H, hs] <-> [B, H, T, hs]
  const attend: AttentionFn = (q, k, v, scale) => {
    const [, , heads, headSize] = q.shape;
    const layout = engine.attention === 'per-sequence' && heads <= PER_SEQUENCE_MAX_HEADS ? 'per-sequence' : 'batched';
    const key = `${layout} ${scale} ${heads} ${headSize}`;
    let op = ops.get(key);
    if (!op) {
      op = layout === 'batched' ? batched(scale) : perSequence(scale, heads, headSize);
      ops.set(key, op);
    }
    if (layout === 'per-sequence') return op(q, k, v) as tf.Tensor4D;
    return tf.transpose(op(toHeads(q), toHeads(k), toHeads(v)), [0, 2, 1, 3]) as tf.Tensor4D;
  };
  return Object.assign(attend, { dispose: () => constants.splice(0).forEach((t) => t.dispose()) });
}

/** Mean cross-entropy of logits [N, V] against int32 targets [N], with the fused (softmax − onehot)/N gradient. */
export const crossEntropy = customOp((logits: tf.Tensor, targets: tf.Tensor) => {
  const [n, vocab] = logits.shape as [number, number];
  const shifted = tf.sub(logits, tf.max(logits, -1, true));
  const logSumExp = tf.log(tf.sum(tf.exp(shifted), -1, true));
  const flatIndex = tf.add(tf.mul(tf.range(0, n, 1, 'int32'), tf.scalar(vocab, 'int32')), targets);
  const picked = tf.gather(tf.reshape(shifted, [-1]), flatIndex);
  return {
    saved: [shifted, logSumExp, targets],
    value: tf.mean(tf.sub(tf.reshape(logSumExp, [-1]), picked)),
    gradFunc: (dy: tf.Tensor, [sh, lse, tg]: tf.Tensor[]) => {
      const probs = tf.exp(tf.sub(sh!, lse!));
      const grad = tf.sub(probs, tf.cast(tf.oneHot(tg as tf.Tensor1D, vocab), 'float32'));
      return [tf.mul(grad, tf.div(dy, n)), tf.zerosLike(tg!)];
    },
  };
}) as (logits: tf.Tensor2D, targets: tf.Tensor1D) => tf.Scalar;
