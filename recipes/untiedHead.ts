/**
 * untied-head — the output head gets its own [C, V] matrix instead of reusing the token embedding.
 * Source: modded-nanogpt's "untied head" record (1.11x).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Recipe } from '../harness/recipe.ts';

export function untiedHeadRecipe(): Recipe {
  return {
    name: 'untied-head',
    description: 'a separate output head matrix instead of the tied token embedding',
    source: 'modded-nanogpt record of 2024-11 (untied head)',
    replaces: ['params', 'logits'],
    model: (parts) => ({
      ...parts,
      params: (cfg) => [
        ...parts.params(cfg),
        { name: 'lm_head', shape: [cfg.nEmbd, cfg.vocabSize], init: { kind: 'normal', std: 0.02 }, group: 'head' },
      ],
      logits: (h, ctx) => ctx.ops.linear(h, ctx.param('lm_head') as tf.Tensor2D),
    }),
  };
}
