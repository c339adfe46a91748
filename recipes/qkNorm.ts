/**
 * qk-norm — RMS-normalize each query and key head vector before the dot product, which bounds the attention
 * logits and allows larger learning rates. Source: Dehghani et al., "Scaling Vision Transformers to 22B"
 * (arXiv 2302.05442); modded-nanogpt's "ReLU² + QK-norm + zero-init projections" record (1.47x).
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasKernel, nativeHas, RMS_NORM, runFused } from '../harness/backends/nativeKernels.ts';
import { customOp } from '../harness/ops.ts';
import type { Recipe } from '../harness/recipe.ts';

/** x / sqrt(mean(x²) + eps) over the last axis (no gain, as modded-nanogpt's F.rms_norm). */
export function referenceRmsNorm<T extends tf.Tensor>(x: T, eps = 1e-6): T {
  return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))) as T;
}

/** The same as one native kernel each way (native/heads.c). */
export function fusedRmsNorm<T extends tf.Tensor>(x: T, eps = 1e-6): T {
  const op = customOp((xi: tf.Tensor) => {
    const [y, r] = runFused(RMS_NORM.forward, { x: xi }, { eps });
    return { value: y!, saved: [y!, r!], gradFunc: (dy: tf.Tensor, [ys, rs]: tf.Tensor[]) => runFused(RMS_NORM.backward, { dy, y: ys!, r: rs! }) };
  });
  return op(x) as T;
}

export const rmsNorm = <T extends tf.Tensor>(x: T, eps = 1e-6): T => (hasKernel(RMS_NORM.forward) ? fusedRmsNorm : referenceRmsNorm)(x, eps);

export function qkNormRecipe(): Recipe {
  return {
    name: 'qk-norm',
    description: 'RMS-normalize query and key head vectors before attention',
    source: 'Dehghani et al. (arXiv 2302.05442); modded-nanogpt record of 2024-10 (ReLU² + QK-norm + zero-init)',
    notes: (backend) => (nativeHas(backend, RMS_NORM.forward) ? ['fused on native: the RMS norm, one kernel each way'] : []),
    replaces: ['queryKey'],
    model: (parts) => ({
      ...parts,
      queryKey(q, k, layer, ctx) {
        const [q0, k0] = parts.queryKey(q, k, layer, ctx);
        return [rmsNorm(q0), rmsNorm(k0)];
      },
    }),
  };
}
