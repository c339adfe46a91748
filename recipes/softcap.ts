/**
 * softcap — tanh soft-cap on the logits, z -> cap·tanh(z / cap) with cap 30, so no logit can run away.
 * Source: Gemma 2 (arXiv 2408.00118); modded-nanogpt's record with value/embedding skips and momentum warmup.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Recipe } from '../harness/recipe.ts';

export const SOFTCAP = 30;

export function softcapRecipe(cap = SOFTCAP): Recipe {
  return {
    name: 'softcap',
    description: `tanh soft-cap of the logits at ${cap}`,
    source: 'Gemma 2 (arXiv 2408.00118); modded-nanogpt record of 2024-11',
    replaces: ['logits'],
    model: (parts) => ({
      ...parts,
      logits: (h, ctx) => tf.mul(tf.tanh(tf.div(parts.logits(h, ctx), cap)), cap) as tf.Tensor2D,
    }),
  };
}
