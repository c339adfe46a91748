/**
 * qk-norm — RMS-normalize each query and key head vector before the dot product, which bounds the attention
 * logits and allows larger learning rates. Source: Dehghani et al., "Scaling Vision Transformers to 22B"
 * (arXiv 2302.05442); modded-nanogpt's "ReLU² + QK-norm + zero-init projections" record (1.47x).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Recipe } from '../harness/recipe.ts';

/** x / sqrt(mean(x²) + eps) over the last axis (no gain, as modded-nanogpt's F.rms_norm). */
export function rmsNorm<T extends tf.Tensor>(x: T, eps = 1e-6): T {
  return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))) as T;
}

export function qkNormRecipe(): Recipe {
  return {
    name: 'qk-norm',
    description: 'RMS-normalize query and key head vectors before attention',
    source: 'Dehghani et al. (arXiv 2302.05442); modded-nanogpt record of 2024-10 (ReLU² + QK-norm + zero-init)',
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
