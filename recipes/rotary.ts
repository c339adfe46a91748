/**
 * rotary — rotary position embeddings instead of learned absolute positions: each query/key head vector is
 * rotated by an angle proportional to its position (pairs (i, i + hs/2), frequencies 10000^(−2i/hs)), so
 * q·k depends only on the relative position. Source: Su et al., "RoFormer" (arXiv 2104.09864); used from
 * modded-nanogpt's second record on ("tuned LR + rotary", 1.43x).
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasKernel, nativeHas, ROTARY, runFused } from '../harness/backends/nativeKernels.ts';
import type { ModelContext } from '../harness/model.ts';
import { customOp } from '../harness/ops.ts';
import type { Recipe } from '../harness/recipe.ts';

/** cos and sin tables [T, 1, hs/2] for positions 0..T−1. */
export function rotaryTables(seqLen: number, headSize: number, base = 10000): [tf.Tensor3D, tf.Tensor3D] {
  const half = headSize / 2;
  const cos = new Float32Array(seqLen * half);
  const sin = new Float32Array(seqLen * half);
  for (let t = 0; t < seqLen; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t * base ** (-(2 * i) / headSize);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return [tf.tensor3d(cos, [seqLen, 1, half]), tf.tensor3d(sin, [seqLen, 1, half])];
}

/** Rotates x [B, T, H, hs]: (x1, x2) -> (x1·cos − x2·sin, x1·sin + x2·cos). */
export function referenceRotary(x: tf.Tensor4D, cos: tf.Tensor3D, sin: tf.Tensor3D): tf.Tensor4D {
  const [x1, x2] = tf.split(x, 2, 3);
  return tf.concat([tf.sub(tf.mul(x1!, cos), tf.mul(x2!, sin)), tf.add(tf.mul(x1!, sin), tf.mul(x2!, cos))], 3) as tf.Tensor4D;
}

/** The same rotation as one native kernel each way (native/rotary.c); the backward pass rotates back. */
export function fusedRotary(x: tf.Tensor4D, cos: tf.Tensor3D, sin: tf.Tensor3D): tf.Tensor4D {
  const op = customOp((xi: tf.Tensor) => ({
    value: runFused(ROTARY, { x: xi, cos, sin }, { sign: 1 })[0]!,
    saved: [],
    gradFunc: (dy: tf.Tensor) => runFused(ROTARY, { x: dy, cos, sin }, { sign: -1 }),
  }));
  return op(x) as tf.Tensor4D;
}

export const applyRotary = (x: tf.Tensor4D, cos: tf.Tensor3D, sin: tf.Tensor3D): tf.Tensor4D => (hasKernel(ROTARY) ? fusedRotary : referenceRotary)(x, cos, sin);

/**
 * The cos/sin tables for the context's sequence length and head size, made once per run (per recipe instance)
 * and freed by `dispose` when the run's replica is disposed, so nothing outlives its run.
 */
export function rotaryTablesFor(): { tables(ctx: ModelContext): [tf.Tensor3D, tf.Tensor3D]; dispose(): void } {
  const cache = new Map<string, [tf.Tensor3D, tf.Tensor3D]>();
  return {
    tables(ctx) {
      const hs = ctx.cfg.nEmbd / ctx.cfg.nHead;
      const key = `${ctx.seqLen}x${hs}`;
      let table = cache.get(key);
      if (!table) {
        table = rotaryTables(ctx.seqLen, hs).map((t) => tf.keep(t)) as [tf.Tensor3D, tf.Tensor3D];
        cache.set(key, table);
      }
      return table;
    },
    dispose() {
      for (const pair of cache.values()) pair.forEach((t) => t.dispose());
      cache.clear();
    },
  };
}

export function rotaryRecipe(): Recipe {
  const rotary = rotaryTablesFor();
  return {
    name: 'rotary',
    description: 'rotary position embeddings on queries and keys instead of learned absolute positions',
    source: 'Su et al., RoFormer (arXiv 2104.09864); modded-nanogpt record 2',
    notes: (backend) =>
      nativeHas(backend, ROTARY) ? ['fused on native: the rotation, one kernel each way'] : [],
    replaces: ['params', 'embed', 'queryKey'],
    model: (parts) => ({
      ...parts,
      params: (cfg) => parts.params(cfg).filter((p) => p.name !== 'wpe'),
      embed: (ids, ctx) => ctx.ops.embedding(ctx.param('wte') as tf.Tensor2D, ids),
      queryKey(q, k, layer, ctx) {
        const [q0, k0] = parts.queryKey(q, k, layer, ctx);
        const [cos, sin] = rotary.tables(ctx);
        return [applyRotary(q0, cos, sin), applyRotary(k0, cos, sin)];
      },
    }),
    teardown: () => rotary.dispose(),
  };
}
