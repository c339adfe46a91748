/**
 * relu2 — the MLP's activation is ReLU(x)² instead of GELU. Source: So et al., "Primer" (arXiv 2109.08668);
 * modded-nanogpt's "ReLU² + QK-norm + zero-init projections" record.
 */
import * as tf from '@tensorflow/tfjs-core';
import { blockParam } from '../harness/model.ts';
import type { Recipe } from '../harness/recipe.ts';

export function relu2Recipe(): Recipe {
  return {
    name: 'relu2',
    description: 'squared ReLU activation in the MLP instead of GELU',
    source: 'So et al., Primer (arXiv 2109.08668); modded-nanogpt record of 2024-10',
    replaces: ['mlp'],
    model: (parts) => ({
      ...parts,
      mlp(x, layer, ctx) {
        const hidden = tf.square(tf.relu(ctx.ops.linear(x, ctx.param(blockParam(layer, 'mlp.c_fc.weight')) as tf.Tensor2D)));
        return ctx.ops.linear(hidden as tf.Tensor2D, ctx.param(blockParam(layer, 'mlp.c_proj.weight')) as tf.Tensor2D);
      },
    }),
  };
}
