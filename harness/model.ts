/**
 * The shared GPT core, GPT-2 / nanoGPT style: token embedding + learned positions, pre-norm blocks (LayerNorm,
 * causal multi-head attention, GELU MLP), final norm, head tied to the token embedding, no biases, no dropout.
 * Init as nanoGPT: N(0, 0.02), residual output projections N(0, 0.02/√(2·nLayer)), norm gains 1.
 *
 * Every step that recipes change is a named part (`GPTParts`); `defaultParts` is the baseline. Hidden states are
 * kept 2-D, [B·T, C], so every dense layer is one plain matmul.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config.ts';
import {
  causalMask,
  crossEntropy,
  layerNorm,
  makeCausalAttention,
  makeEmbedding,
  makeGeluMlp,
  makeLinear,
  type AttentionFn,
  type CausalAttention,
  type Engine,
} from './ops.ts';

/** How the optimizer treats a parameter: hidden 2-D matrices, embeddings, the output head, gains/vectors. */
export type ParamGroup = 'matrix' | 'embedding' | 'head' | 'vector';

export type ParamInit = { kind: 'normal'; std: number } | { kind: 'constant'; value: number };

export interface ParamSpec {
  name: string;
  shape: number[];
  init: ParamInit;
  group: ParamGroup;
}

export interface Param extends ParamSpec {
  variable: tf.Variable;
}

export type ParamTable = Map<string, Param>;

export type NormSite = { kind: 'ln_1' | 'ln_2'; layer: number } | { kind: 'ln_f' };
export interface ResidualSite {
  kind: 'attn' | 'mlp';
  layer: number;
}

/** What every part can reach: config, parameters by name, and the engine-bound ops. */
export interface ModelContext {
  cfg: ModelConfig;
  engine: Engine;
  param(name: string): tf.Tensor;
  batch: number;
  seqLen: number;
  ops: {
    linear(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D;
    /** GELU(x·wFc)·wProj fused into one op (lower memory peak). */
    geluMlp(x: tf.Tensor2D, wFc: tf.Tensor2D, wProj: tf.Tensor2D): tf.Tensor2D;
    embedding(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D;
    attention: AttentionFn;
  };
  /** The model's composed parts, for a part that is defined in terms of others (residualNorm). */
  parts: GPTParts;
}

/** The extension points. Each recipe's `model` hook may replace or wrap any of them. */
export interface GPTParts {
  /** Every parameter the parts use, with shape, init and optimizer group. */
  params(cfg: ModelConfig): ParamSpec[];
  /** Token ids [B·T] -> input hidden states [B·T, C] (token embedding and position encoding). */
  embed(ids: tf.Tensor1D, ctx: ModelContext): tf.Tensor2D;
  /** Normalization at a site (pre-attention, pre-MLP, final). */
  norm(x: tf.Tensor2D, site: NormSite, ctx: ModelContext): tf.Tensor2D;
  /** Queries and keys [B, T, H, hs] before the scores: position encoding (rotary), qk normalization. */
  queryKey(q: tf.Tensor4D, k: tf.Tensor4D, layer: number, ctx: ModelContext): [tf.Tensor4D, tf.Tensor4D];
  /** Multiplier of q·kᵀ inside the softmax. */
  attentionScale(ctx: ModelContext): number;
  /** Causal attention q, k, v [B, T, H, hs] -> [B, T, H, hs]. */
  attention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, ctx: ModelContext): tf.Tensor4D;
  /** Residual update of the hidden state with a branch's output. */
  residual(x: tf.Tensor2D, branch: tf.Tensor2D, site: ResidualSite, ctx: ModelContext): tf.Tensor2D;
  /**
   * A residual update and the norm that reads its result: [new hidden state, its normalized form]. By default
   * `residual` then `norm` (through ctx.parts, so recipes that replace either are honoured); a backend with an
   * "add & norm" kernel does both in one pass.
   */
  residualNorm(x: tf.Tensor2D, branch: tf.Tensor2D, residual: ResidualSite, norm: NormSite, ctx: ModelContext): [tf.Tensor2D, tf.Tensor2D];
  /** The MLP branch [B·T, C] -> [B·T, C]. */
  mlp(x: tf.Tensor2D, layer: number, ctx: ModelContext): tf.Tensor2D;
  /** Final hidden states [B·T, C] -> logits [B·T, V]. */
  logits(h: tf.Tensor2D, ctx: ModelContext): tf.Tensor2D;
  /** Mean next-token loss (nats/token) of logits [B·T, V] against int32 targets [B·T]. */
  loss(logits: tf.Tensor2D, targets: tf.Tensor1D, ctx: ModelContext): tf.Scalar;
}

export const blockParam = (layer: number, name: string): string => `h.${layer}.${name}`;

/** The gain parameter of the LayerNorm at a site. */
export const normWeight = (site: NormSite): string => (site.kind === 'ln_f' ? 'ln_f.weight' : blockParam(site.layer, `${site.kind}.weight`));

export const defaultParts: GPTParts = {
  params(cfg) {
    const C = cfg.nEmbd;
    const std = 0.02;
    const projStd = 0.02 / Math.sqrt(2 * cfg.nLayer);
    const specs: ParamSpec[] = [
      { name: 'wte', shape: [cfg.vocabSize, C], init: { kind: 'normal', std }, group: 'embedding' },
      { name: 'wpe', shape: [cfg.blockSize, C], init: { kind: 'normal', std }, group: 'embedding' },
    ];
    for (let l = 0; l < cfg.nLayer; l++) {
      specs.push(
        { name: blockParam(l, 'ln_1.weight'), shape: [C], init: { kind: 'constant', value: 1 }, group: 'vector' },
        { name: blockParam(l, 'attn.c_attn.weight'), shape: [C, 3 * C], init: { kind: 'normal', std }, group: 'matrix' },
        { name: blockParam(l, 'attn.c_proj.weight'), shape: [C, C], init: { kind: 'normal', std: projStd }, group: 'matrix' },
        { name: blockParam(l, 'ln_2.weight'), shape: [C], init: { kind: 'constant', value: 1 }, group: 'vector' },
        { name: blockParam(l, 'mlp.c_fc.weight'), shape: [C, 4 * C], init: { kind: 'normal', std }, group: 'matrix' },
        { name: blockParam(l, 'mlp.c_proj.weight'), shape: [4 * C, C], init: { kind: 'normal', std: projStd }, group: 'matrix' },
      );
    }
    specs.push({ name: 'ln_f.weight', shape: [C], init: { kind: 'constant', value: 1 }, group: 'vector' });
    return specs;
  },

  embed(ids, ctx) {
    const { batch, seqLen, cfg } = ctx;
    const tokens = ctx.ops.embedding(ctx.param('wte') as tf.Tensor2D, ids); // [B·T, C]
    const positions = tf.slice(ctx.param('wpe'), [0, 0], [seqLen, cfg.nEmbd]); // [T, C]
    const summed = tf.add(tf.reshape(tokens, [batch, seqLen, cfg.nEmbd]), positions); // [B, T, C]
    return tf.reshape(summed, [batch * seqLen, cfg.nEmbd]);
  },

  norm: (x, site, ctx) => layerNorm(x, ctx.param(normWeight(site)) as tf.Tensor1D),

  queryKey: (q, k) => [q, k],

  attentionScale: (ctx) => 1 / Math.sqrt(ctx.cfg.nEmbd / ctx.cfg.nHead),

  attention: (q, k, v, scale, ctx) => ctx.ops.attention(q, k, v, scale),

  residual: (x, branch) => tf.add(x, branch),

  residualNorm(x, branch, residual, norm, ctx) {
    const next = ctx.parts.residual(x, branch, residual, ctx);
    return [next, ctx.parts.norm(next, norm, ctx)];
  },

  mlp(x, layer, ctx) {
    // GELU(x·W_fc)·W_proj, hidden [B·T, 4C]
    return ctx.ops.geluMlp(x, ctx.param(blockParam(layer, 'mlp.c_fc.weight')) as tf.Tensor2D, ctx.param(blockParam(layer, 'mlp.c_proj.weight')) as tf.Tensor2D);
  },

  logits(h, ctx) {
    // Tied head: logits = h · wteᵀ. Transposing the [V, C] table once is cheaper than matMul's flag on wasm.
    return ctx.ops.linear(h, tf.transpose(ctx.param('wte')) as tf.Tensor2D); // [B·T, V]
  },

  loss: (logits, targets) => crossEntropy(logits, targets),
};

/** A parameter seed that depends only on the run seed and the parameter's name (recipes can add parameters). */
function paramSeed(seed: number, name: string): number {
  let h = 2166136261 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

let tableCount = 0;

/** Creates the variables. TF.js variable names are global, so each table prefixes its own: `p3/wte`. */
export function initParams(specs: ParamSpec[], seed: number): ParamTable {
  const table: ParamTable = new Map();
  const prefix = `p${tableCount++}/`;
  for (const spec of specs) {
    if (table.has(spec.name)) throw new Error(`parameter ${spec.name} is declared twice`);
    const value = tf.tidy(() =>
      spec.init.kind === 'normal'
        ? tf.randomNormal(spec.shape, 0, spec.init.std, 'float32', paramSeed(seed, spec.name))
        : tf.fill(spec.shape, spec.init.value),
    );
    table.set(spec.name, { ...spec, variable: tf.variable(value, true, prefix + spec.name) });
    value.dispose();
  }
  return table;
}

export class GPT {
  readonly params: ParamTable;
  private readonly mask: tf.Tensor2D;
  private readonly attention: CausalAttention;
  private readonly ops: ModelContext['ops'];

  constructor(
    readonly cfg: ModelConfig,
    readonly parts: GPTParts,
    readonly engine: Engine,
    seed: number,
  ) {
    this.params = initParams(parts.params(cfg), seed);
    this.mask = causalMask(cfg.blockSize);
    this.attention = makeCausalAttention(engine, this.mask);
    this.ops = {
      linear: makeLinear(engine),
      geluMlp: makeGeluMlp(engine),
      embedding: makeEmbedding(engine),
      attention: this.attention,
    };
  }

  private context(batch: number, seqLen: number): ModelContext {
    return {
      cfg: this.cfg,
      engine: this.engine,
      batch,
      seqLen,
      ops: this.ops,
      parts: this.parts,
      param: (name) => {
        const p = this.params.get(name);
        if (!p) throw new Error(`unknown parameter '${name}'`);
        return p.variable;
      },
    };
  }

  /** ids: int32 [B·T] -> logits [B·T, V]. */
  forward(ids: tf.Tensor1D, batch: number, seqLen: number): tf.Tensor2D {
    const { cfg, parts } = this;
    if (seqLen > cfg.blockSize) throw new Error(`Cannot forward sequence of length ${seqLen}, block size is only ${cfg.blockSize}`);
    const ctx = this.context(batch, seqLen);
    const H = cfg.nHead;
    const C = cfg.nEmbd;
    const hs = C / H;
    const scale = parts.attentionScale(ctx);
    const lastNorm: NormSite = { kind: 'ln_f' };
    let x = parts.embed(ids, ctx); // [B·T, C]
    let h = parts.norm(x, cfg.nLayer > 0 ? { kind: 'ln_1', layer: 0 } : lastNorm, ctx); // each norm reads the stream just updated
    for (let l = 0; l < cfg.nLayer; l++) {
      const qkv = this.ops.linear(h, ctx.param(blockParam(l, 'attn.c_attn.weight')) as tf.Tensor2D); // [B·T, 3C]
      const [q0, k0, v] = tf.split(qkv, 3, 1).map((part) => tf.reshape(part, [batch, seqLen, H, hs]) as tf.Tensor4D); // [B, T, H, hs]
      const [q, k] = parts.queryKey(q0!, k0!, l, ctx);
      const y = parts.attention(q, k, v!, scale, ctx); // [B, T, H, hs]
      const merged = tf.reshape(y, [batch * seqLen, C]) as tf.Tensor2D; // [B·T, C]
      const attnOut = this.ops.linear(merged, ctx.param(blockParam(l, 'attn.c_proj.weight')) as tf.Tensor2D);
      [x, h] = parts.residualNorm(x, attnOut, { kind: 'attn', layer: l }, { kind: 'ln_2', layer: l }, ctx);
      const mlpOut = parts.mlp(h, l, ctx);
      [x, h] = parts.residualNorm(x, mlpOut, { kind: 'mlp', layer: l }, l + 1 < cfg.nLayer ? { kind: 'ln_1', layer: l + 1 } : lastNorm, ctx);
    }
    return parts.logits(h, ctx);
  }

  /** Mean next-token cross-entropy (nats/token) of a batch given as flat int32 arrays. */
  loss(inputs: Int32Array, targets: Int32Array, batch: number, seqLen: number): tf.Scalar {
    return tf.tidy(() => {
      const logits = this.forward(tf.tensor1d(inputs, 'int32'), batch, seqLen);
      return this.parts.loss(logits, tf.tensor1d(targets, 'int32'), this.context(batch, seqLen));
    });
  }

  variables(): tf.Variable[] {
    return [...this.params.values()].map((p) => p.variable);
  }

  /** Re-keys gradients from TF.js variable names (as tf.variableGrads returns them) to parameter names. */
  byParamName<T>(byVariable: Record<string, T>): Record<string, T> {
    const out: Record<string, T> = {};
    for (const p of this.params.values()) {
      const value = byVariable[p.variable.name];
      if (value !== undefined) out[p.name] = value;
    }
    return out;
  }

  parameterCount(): number {
    return [...this.params.values()].reduce((n, p) => n + p.variable.size, 0);
  }

  dispose(): void {
    for (const p of this.params.values()) p.variable.dispose();
    this.mask.dispose();
    this.attention.dispose();
  }
}
