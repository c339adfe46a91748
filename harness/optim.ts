/**
 * Optimizers. AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2019) with decay on
 * matrices and embeddings only (nanoGPT decays every parameter of rank >= 2), plus global-norm clipping.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TrainConfig } from './config.ts';
import type { Param, ParamTable } from './model.ts';

export interface Optimizer {
  name: string;
  /** One update. `grads` holds a gradient for each parameter that received one; lrFactor is the schedule's. */
  step(grads: Record<string, tf.Tensor>, lrFactor: number): void;
  /**
   * Optional: global-norm clipping and the step in one pass (a fused optimizer folds the clip scale into its
   * update). Same result as clipByGlobalNorm then step; returns the norm before clipping.
   */
  clipAndStep?(grads: Record<string, tf.Tensor>, lrFactor: number, maxNorm: number): tf.Scalar;
  /** Tensors holding optimizer state (moments...). */
  stateTensors(): tf.Tensor[];
  dispose(): void;
}

export type OptimizerFactory = (params: ParamTable, train: TrainConfig) => Optimizer;

export const decays = (p: Param): boolean => p.group !== 'vector';

/**
 * Optimizer state: a non-trainable variable of zeros shaped like `x`. tf.variable shares its initial tensor's
 * data and never disposes that tensor, so without the tidy every optimizer leaked one tensor per slot (measured:
 * 108 tensors, 12 MiB, per `--seeds` run in one process).
 */
export const zerosStateLike = (x: tf.Tensor): tf.Variable => tf.tidy(() => tf.variable(tf.zerosLike(x), false));

/** AdamW over the given parameters (default: all). */
export function adamWOver(select: (p: Param) => boolean): OptimizerFactory {
  return (params, train) => {
    const slots = new Map<string, { m: tf.Variable; v: tf.Variable; p: Param }>();
    for (const p of params.values()) {
      if (!select(p)) continue;
      slots.set(p.name, {
        p,
        m: zerosStateLike(p.variable),
        v: zerosStateLike(p.variable),
      });
    }
    let t = 0;
    return {
      name: 'adamw',
      step(grads, lrFactor) {
        t += 1;
        const lr = train.lr * lrFactor;
        const c1 = 1 - train.beta1 ** t;
        const c2 = 1 - train.beta2 ** t;
        const present = [...slots.values()].filter((s) => grads[s.p.name] !== undefined);
        // Multi-tensor update: the parameters that decay, then those that do not, each as one flat vector, so a
        // step is ~12 kernels per group instead of ~12 per parameter (TF.js's per-kernel overhead dominates at
        // these sizes). Elementwise, it is exactly the per-parameter arithmetic.
        for (const group of [present.filter((s) => decays(s.p)), present.filter((s) => !decays(s.p))]) {
          if (group.length === 0) continue;
          const decay = decays(group[0]!.p) && train.weightDecay > 0;
          tf.tidy(() => {
            const flat = (ts: tf.Tensor[]) => (ts.length === 1 ? tf.reshape(ts[0]!, [-1]) : tf.concat(ts.map((x) => tf.reshape(x, [-1]))));
            // Inner tidies free each stage's temporaries at once: a dozen whole-model vectors alive together
            // grew wasm's heap (which never shrinks) by 28 MiB; this way at most g, m, v, next and one stage's.
            const g = flat(group.map((s) => grads[s.p.name]!));
            const m = tf.tidy(() => tf.add(tf.mul(flat(group.map((s) => s.m)), train.beta1), tf.mul(g, 1 - train.beta1)));
            const v = tf.tidy(() => tf.add(tf.mul(flat(group.map((s) => s.v)), train.beta2), tf.mul(tf.square(g), 1 - train.beta2)));
            const next = tf.tidy(() => {
              const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), train.eps));
              const weights = flat(group.map((s) => s.p.variable));
              return tf.sub(decay ? tf.mul(weights, 1 - lr * train.weightDecay) : weights, tf.mul(update, lr));
            });
            const sizes = group.map((s) => s.p.variable.size);
            const [ms, vs, ps] = [m, v, next].map((x) => (group.length === 1 ? [x] : tf.split(x, sizes)));
            group.forEach((s, i) => {
              s.m.assign(tf.reshape(ms![i]!, s.m.shape));
              s.v.assign(tf.reshape(vs![i]!, s.v.shape));
              s.p.variable.assign(tf.reshape(ps![i]!, s.p.variable.shape));
            });
          });
        }
      },
      stateTensors: () => [...slots.values()].flatMap((s) => [s.m, s.v]),
      dispose() {
        for (const s of slots.values()) {
          s.m.dispose();
          s.v.dispose();
        }
      },
    };
  };
}

export const adamW: OptimizerFactory = adamWOver(() => true);

/** Runs several optimizers side by side, each over its own parameters (e.g. Muon for matrices, AdamW for the rest). */
export function combineOptimizers(parts: Optimizer[]): Optimizer {
  return {
    name: parts.map((o) => o.name).join('+'),
    step: (grads, lrFactor) => parts.forEach((o) => o.step(grads, lrFactor)),
    stateTensors: () => parts.flatMap((o) => o.stateTensors()),
    dispose: () => parts.forEach((o) => o.dispose()),
  };
}

/** Scales gradients so their global L2 norm is at most maxNorm; returns the clipped grads and the norm (pre-clip). */
/** The factor gradients are multiplied by to clip them to maxNorm (1: no clipping); clipByGlobalNorm's formula. */
export const clipScale = (norm: number, maxNorm: number): number => (maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1);

export function clipByGlobalNorm(
  grads: Record<string, tf.Tensor>,
  maxNorm: number,
): { grads: Record<string, tf.Tensor>; norm: tf.Scalar } {
  const names = Object.keys(grads);
  const norm = tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n]!))))) as tf.Scalar;
  if (maxNorm <= 0) return { grads, norm };
  const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6))); // clipScale, on the device
  return { grads: Object.fromEntries(names.map((n) => [n, tf.mul(grads[n]!, scale)])), norm };
}

/** Clips to the global norm and steps (in one pass where the optimizer fuses them); returns the pre-clip norm. */
export function clipAndStep(optimizer: Optimizer, grads: Record<string, tf.Tensor>, lrFactor: number, maxNorm: number): tf.Scalar {
  if (optimizer.clipAndStep) return optimizer.clipAndStep(grads, lrFactor, maxNorm);
  const clipped = clipByGlobalNorm(grads, maxNorm);
  optimizer.step(clipped.grads, lrFactor);
  return clipped.norm;
}
