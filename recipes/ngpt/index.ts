/**
 * ngpt — the normalized Transformer: every hidden state and every matrix row lives on the unit sphere.
 * Source: Loshchilov et al., "nGPT: Normalized Transformer with Representation Learning on the Hypersphere"
 * (arXiv 2410.01131) and NVIDIA/ngpt; details and pitfalls in ../shared/references/ngpt.md.
 *
 * - No LayerNorm anywhere. The token embedding's rows are unit vectors; positions come from standard rotary.
 * - Attention: q, k rotated, normalized per head and scaled by s_qk; softmax scale √d_head (not 1/√d_head).
 * - Residual: h <- Norm(h + α ⊙ (Norm(branch) − h)) with eigen learning rates α_A, α_M (init 0.05).
 * - MLP: SwiGLU, uv = (h W_uv) ⊙ s_uv·√d; x = u ⊙ silu(v).
 * - Logits: (h W_head) ⊙ s_z, with an untied head whose rows are unit vectors.
 * - Scale trick for every learnable vector: stored at `scale`, used as stored·(init/scale).
 * - After every optimizer step (and once before step 0) every matrix is normalized along the model axis.
 *   TF.js kernels are [in, out]: input projections normalize axis 0, output projections axis 1, [V, C] tables axis 1.
 * - Adam with weight decay 0 and no warmup, cosine to 0.
 *
 * Four ops carry nearly all of nGPT's extra arithmetic (`NgptOps`): the residual update, the normalized rotary
 * queries and keys, the scaled SwiGLU and the matrix normalization. They are written below in TF.js; on native each
 * runs as one fused kernel forward and one backward (./fused.ts), so the step costs what its arithmetic costs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { blockParam, type ModelContext, type Param, type ParamSpec, type ParamTable } from '../../harness/model.ts';
import { hasKernel, nativeHas, NGPT_FUSED } from '../../harness/backends/nativeKernels.ts';
import type { Recipe } from '../../harness/recipe.ts';
import { referenceRotary, rotaryTablesFor } from '../rotary.ts';
import { fusedNormalizeMatrices, fusedQueryKey, fusedResidual, fusedSwiglu } from './fused.ts';

/**
 * Unit vectors along `axis`: x·rsqrt(Σx²). No epsilon, as in the reference (a zero vector has no direction).
 * Written with square/sum/rsqrt because tf.norm goes through Pow and Abs, which are slow on wasm.
 */
export function unitNorm<T extends tf.Tensor>(x: T, axis = -1): T {
  return tf.mul(x, tf.rsqrt(tf.sum(tf.square(x), axis, true))) as T;
}

/** A learnable vector under the scale trick: stored starting at `scale`, used as stored·(init/scale). */
interface ScaledVector {
  name: (layer: number) => string;
  init: number;
  scale: (C: number) => number;
  size: (C: number, V: number) => number;
  perLayer: boolean;
}

export const NGPT_VECTORS: Record<'alphaA' | 'alphaM' | 'sqk' | 'suv' | 'sz', ScaledVector> = {
  alphaA: { name: (l) => blockParam(l, 'attn.alpha'), init: 0.05, scale: (C) => 1 / Math.sqrt(C), size: (C) => C, perLayer: true },
  alphaM: { name: (l) => blockParam(l, 'mlp.alpha'), init: 0.05, scale: (C) => 1 / Math.sqrt(C), size: (C) => C, perLayer: true },
  sqk: { name: (l) => blockParam(l, 'attn.s_qk'), init: 1, scale: (C) => 1 / Math.sqrt(C), size: (C) => C, perLayer: true },
  suv: { name: (l) => blockParam(l, 'mlp.s_uv'), init: 1, scale: () => 1, size: (C) => 8 * C, perLayer: true },
  sz: { name: () => 's_z', init: 1, scale: (C) => 1 / Math.sqrt(C), size: (_C, V) => V, perLayer: false },
};

/** The value a scaled vector is used at: stored·(init/scale). */
export function effective(ctx: ModelContext, vector: ScaledVector, layer = 0): tf.Tensor {
  const C = ctx.cfg.nEmbd;
  return tf.mul(ctx.param(vector.name(layer)), vector.init / vector.scale(C));
}

/** Which axis of each matrix is the model (d_model) axis, in TF.js [in, out] layout. */
export function modelAxis(name: string): 0 | 1 | undefined {
  if (name === 'wte') return 1; // [V, C]
  if (name === 'lm_head') return 0; // [C, V]
  if (/^h\.\d+\.(attn\.c_attn|mlp\.c_fc)\.weight$/.test(name)) return 0; // [C, out]: input projections
  if (/^h\.\d+\.(attn|mlp)\.c_proj\.weight$/.test(name)) return 1; // [in, C]: output projections
  return undefined;
}

/** The ops where nGPT's arithmetic is concentrated; `referenceOps` defines them, ./fused.ts fuses them on native. */
export interface NgptOps {
  /** h ← Norm(h + α ⊙ (Norm(b) − h)), rows [N, C], α [C]. */
  residual(h: tf.Tensor2D, b: tf.Tensor2D, alpha: tf.Tensor1D): tf.Tensor2D;
  /** Norm(rotary(x)) ⊙ s, for queries or keys [B, T, H, hs], s [H·hs]. */
  queryKey(x: tf.Tensor4D, cos: tf.Tensor3D, sin: tf.Tensor3D, s: tf.Tensor1D): tf.Tensor4D;
  /** u ⊙ silu(v) with [u, v] = a ⊙ s, a [N, 2W], s [2W]. */
  swiglu(a: tf.Tensor2D, s: tf.Tensor1D): tf.Tensor2D;
  /** Every matrix to unit length along its model axis (after each step). */
  normalizeMatrices(params: ParamTable): void;
}

export const referenceOps: NgptOps = {
  residual: (h, b, alpha) => unitNorm(tf.add(h, tf.mul(alpha, tf.sub(unitNorm(b), h)))),
  queryKey(x, cos, sin, s) {
    const [, , H, hs] = x.shape;
    return tf.mul(unitNorm(referenceRotary(x, cos, sin)), tf.reshape(s, [H, hs])) as tf.Tensor4D; // broadcast over [B, T, H, hs]
  },
  swiglu(a, s) {
    const [u, v] = tf.split(tf.mul(a, s), 2, 1);
    return tf.mul(u!, tf.mul(v!, tf.sigmoid(v!))) as tf.Tensor2D;
  },
  normalizeMatrices(params) {
    for (const p of params.values()) {
      const axis = modelAxis(p.name);
      if (axis === undefined) continue;
      tf.tidy(() => p.variable.assign(unitNorm(p.variable, axis)));
    }
  },
};

export const fusedOps: NgptOps = {
  residual: fusedResidual,
  queryKey: fusedQueryKey,
  swiglu: fusedSwiglu,
  normalizeMatrices: (params) => fusedNormalizeMatrices(params, modelAxis),
};

/** The fused ops where this backend has their kernels (native), TF.js's otherwise. */
export const ngptOps = (tfjsBackend: string = tf.getBackend()): NgptOps => (hasKernel(NGPT_FUSED.residual, tfjsBackend) ? fusedOps : referenceOps);

export const normalizeMatrices = (params: ParamTable): void => ngptOps().normalizeMatrices(params);

function ngptParams(C: number, V: number, nLayer: number): ParamSpec[] {
  const base = 1 / Math.sqrt(C);
  const proj = base / Math.sqrt(2 * nLayer);
  const specs: ParamSpec[] = [
    { name: 'wte', shape: [V, C], init: { kind: 'normal', std: base }, group: 'embedding' },
    { name: 'lm_head', shape: [C, V], init: { kind: 'normal', std: base }, group: 'head' },
  ];
  for (let l = 0; l < nLayer; l++) {
    specs.push(
      { name: blockParam(l, 'attn.c_attn.weight'), shape: [C, 3 * C], init: { kind: 'normal', std: base }, group: 'matrix' },
      { name: blockParam(l, 'attn.c_proj.weight'), shape: [C, C], init: { kind: 'normal', std: proj }, group: 'matrix' },
      { name: blockParam(l, 'mlp.c_fc.weight'), shape: [C, 8 * C], init: { kind: 'normal', std: base }, group: 'matrix' },
      { name: blockParam(l, 'mlp.c_proj.weight'), shape: [4 * C, C], init: { kind: 'normal', std: proj }, group: 'matrix' },
    );
  }
  for (const vector of Object.values(NGPT_VECTORS)) {
    for (let l = 0; l < (vector.perLayer ? nLayer : 1); l++) {
      // Stored starting at `scale`, so the effective value starts at `init`.
      specs.push({ name: vector.name(l), shape: [vector.size(C, V)], init: { kind: 'constant', value: vector.scale(C) }, group: 'vector' });
    }
  }
  return specs;
}

const NGPT_FUSED_OPS = 'residual update, rotary + q/k norm, scaled SwiGLU, matrix normalization';

export function ngptRecipe(): Recipe {
  const rotary = rotaryTablesFor();
  return {
    name: 'ngpt',
    description: 'normalized Transformer: unit-norm hidden states and matrices, eigen learning rates, no LayerNorm',
    source: 'Loshchilov et al., nGPT (arXiv 2410.01131); NVIDIA/ngpt',
    notes(backend) {
      if (nativeHas(backend, NGPT_FUSED.residual)) return [`fused on native: ${NGPT_FUSED_OPS}`];
      if (backend.name === 'native') return ['this native addon was built before nGPT\'s fused kernels existed (run `npm run build:native`): its ops run as TF.js kernels'];
      return [`not fused on ${backend.name} (fused kernels exist for native): ${NGPT_FUSED_OPS} run as TF.js kernels`];
    },
    conflicts: {
      'zero-init': 'nGPT normalizes every matrix; a zero matrix has no direction and normalizing it is undefined',
      rotary: 'nGPT already applies rotary positions to its normalized queries and keys',
      'qk-norm': 'nGPT already normalizes queries and keys (and scales them by s_qk)',
      relu2: 'nGPT replaces the MLP with its scaled SwiGLU',
      'untied-head': 'nGPT already has its own normalized, untied head',
    },
    // lr from the brown-char sweep (README): 1e-3 -> 250 steps to target, 2e-3 -> 150, 4e-3 and 8e-3 -> 100.
    config: (cfg) => ({ ...cfg, train: { ...cfg.train, weightDecay: 0, warmupSteps: 0, minLr: 0, lr: 4e-3 } }),
    replaces: ['params', 'embed', 'norm', 'queryKey', 'attentionScale', 'residual', 'mlp', 'logits'],
    model: (parts) => {
      const ops = ngptOps();
      return {
        ...parts,
        params: (cfg) => ngptParams(cfg.nEmbd, cfg.vocabSize, cfg.nLayer),
        embed: (ids, ctx) => ctx.ops.embedding(ctx.param('wte') as tf.Tensor2D, ids), // rows are unit vectors
        norm: (x) => x, // no LayerNorm: states stay on the sphere through the residual update
        queryKey(q, k, layer, ctx) {
          const sqk = effective(ctx, NGPT_VECTORS.sqk, layer) as tf.Tensor1D;
          const [cos, sin] = rotary.tables(ctx);
          return [ops.queryKey(q, cos, sin, sqk), ops.queryKey(k, cos, sin, sqk)];
        },
        attentionScale: (ctx) => Math.sqrt(ctx.cfg.nEmbd / ctx.cfg.nHead),
        residual(x, branch, site, ctx) {
          const alpha = tf.abs(effective(ctx, site.kind === 'attn' ? NGPT_VECTORS.alphaA : NGPT_VECTORS.alphaM, site.layer)) as tf.Tensor1D;
          return ops.residual(x, branch, alpha);
        },
        mlp(x, layer, ctx) {
          const suv = tf.mul(effective(ctx, NGPT_VECTORS.suv, layer), Math.sqrt(ctx.cfg.nEmbd)) as tf.Tensor1D;
          const hidden = ops.swiglu(ctx.ops.linear(x, ctx.param(blockParam(layer, 'mlp.c_fc.weight')) as tf.Tensor2D), suv);
          return ctx.ops.linear(hidden, ctx.param(blockParam(layer, 'mlp.c_proj.weight')) as tf.Tensor2D);
        },
        logits: (h, ctx) => tf.mul(ctx.ops.linear(h, ctx.param('lm_head') as tf.Tensor2D), effective(ctx, NGPT_VECTORS.sz)) as tf.Tensor2D,
      };
    },
    onInit: normalizeMatrices,
    afterStep: (params) => normalizeMatrices(params),
    teardown: () => rotary.dispose(),
  };
}

export const ngptMatrices = (params: ParamTable): Param[] => [...params.values()].filter((p) => modelAxis(p.name) !== undefined);
