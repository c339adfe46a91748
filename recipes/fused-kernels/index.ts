/**
 * fused-kernels — fewer, bigger kernels: each op of the training step runs as one kernel forward and one backward
 * instead of a chain of small ones, so fewer launches and fewer intermediates go through memory.
 * Source: the kernel-fusion idea of FlashAttention (arXiv 2205.14135), modded-nanogpt's fused kernels and
 * PyTorch's fused (multi-tensor) AdamW, at the granularity TF.js allows.
 *
 * What is fused depends on the backend:
 *  - native (native/kernels.c, recipes/fused-kernels/ops.ts): the attention block (per head: q·kᵀ, causal softmax, P·v on
 *    strided views, no transposes), the residual add with the LayerNorm that reads it ("add & norm"), the MLP's
 *    GELU between its two sgemms, softmax + cross-entropy, and AdamW with the global-norm clip as one
 *    multi-tensor kernel;
 *  - webgpu (harness/backends/webgpuKernels.ts): attention's scale + causal mask + softmax;
 *  - elsewhere nothing: the recipe says so at start (and in the run record) and changes nothing.
 * Only parts that are still the core's own are fused, whatever the order the recipes are listed in: the recipe
 * runs first (`enforce: 'pre'`) and asks the run's declarations (`isCore`), so relu2's MLP or ngpt's norm stay
 * theirs. AdamW is fused wherever the core's AdamW is used: as the optimizer, or for the parameters Muon leaves to
 * AdamW. "add & norm" is used only when the residual, the norm and their composition are all the core's.
 */
import * as tf from '@tensorflow/tfjs-core';
import { FUSED, hasFusedKernels, nativeHas } from '../../harness/backends/nativeKernels.ts';
import { hasFusedAttention, fusedCausalSoftmax, registerWebgpuKernels } from '../../harness/backends/webgpuKernels.ts';
import { fusedAddLayerNorm, fusedAdamW, fusedAttention, fusedCrossEntropy, fusedLayerNorm, makeFusedGeluMlp } from './ops.ts';
import { blockParam, normWeight, type GPTParts } from '../../harness/model.ts';
import { adamW } from '../../harness/optim.ts';
import type { Recipe } from '../../harness/recipe.ts';

const toHeads = (x: tf.Tensor4D) => tf.transpose(x, [0, 2, 1, 3]); // [B, T, H, hs] <-> [B, H, T, hs]

export const NATIVE_FUSED = ['attention block (q·kᵀ + causal softmax + P·v)', 'residual add + LayerNorm', 'MLP GELU', 'softmax + cross-entropy', 'AdamW + gradient clip (multi-tensor)'];

/** The core's LayerNorm on the fused kernel. */
const fusedNorm: GPTParts['norm'] = (x, site, ctx) => fusedLayerNorm(x, ctx.param(normWeight(site)) as tf.Tensor1D);

export function fusedKernelsRecipe(): Recipe {
  registerWebgpuKernels();
  return {
    name: 'fused-kernels',
    description: 'fused kernels: attention, residual add + LayerNorm, GELU, cross-entropy and AdamW (native); attention softmax (webgpu)',
    source: 'FlashAttention (arXiv 2205.14135); modded-nanogpt fused kernels; PyTorch fused AdamW',
    notes: (backend) => {
      if (nativeHas(backend, FUSED.layerNorm)) return [`fused on native: ${NATIVE_FUSED.join(', ')}`];
      if (backend.name === 'native') return ['this native addon was built before the fused kernels existed (run `npm run build:native`); this run is the same as without the recipe'];
      if (hasFusedAttention(backend.tfjsBackend)) return ['fused: attention scale + causal mask + softmax (forward and backward kernels); not fused: MLP matmul + GELU, norm + residual, cross-entropy, AdamW'];
      return [`no fused kernels on backend ${backend.name} (they exist for native and webgpu); this run is the same as without the recipe`];
    },
    // First, so every later recipe's replacement wins; what it fuses is decided from the run's declarations.
    enforce: 'pre',
    // Fused, not replaced: a recipe that replaces one of these (relu2's MLP, int8's) owns it, and fuses it or not.
    fuses: ['norm', 'residualNorm', 'mlp', 'attention', 'loss'],
    model: (parts, { isCore }) => {
      if (hasFusedKernels()) {
        const fuseAddNorm = isCore('residual') && isCore('norm') && isCore('residualNorm');
        return {
          ...parts,
          norm: isCore('norm') ? fusedNorm : parts.norm,
          residualNorm: fuseAddNorm ? (x, branch, _residual, norm, ctx) => fusedAddLayerNorm(x, branch, ctx.param(normWeight(norm)) as tf.Tensor1D) : parts.residualNorm,
          mlp: isCore('mlp')
            ? (x, layer, ctx) => makeFusedGeluMlp(ctx.engine)(x, ctx.param(blockParam(layer, 'mlp.c_fc.weight')) as tf.Tensor2D, ctx.param(blockParam(layer, 'mlp.c_proj.weight')) as tf.Tensor2D)
            : parts.mlp,
          attention: isCore('attention') ? (q, k, v, scale) => fusedAttention(q, k, v, scale) : parts.attention,
          loss: isCore('loss') ? (logits, targets) => fusedCrossEntropy(logits, targets) : parts.loss,
        };
      }
      if (!isCore('attention')) return parts;
      return {
        ...parts,
        attention: (q, k, v, scale, ctx) => {
          if (!hasFusedAttention(tf.getBackend())) return parts.attention(q, k, v, scale, ctx);
          const probs = fusedCausalSoftmax(tf.matMul(toHeads(q), toHeads(k), false, true), scale);
          return tf.transpose(tf.matMul(probs, toHeads(v)), [0, 2, 1, 3]) as tf.Tensor4D;
        },
      };
    },
    // The core's AdamW, wherever it is used: alone, or for the parameters Muon leaves to AdamW.
    optimizer: (previous, { previousIsCore }) => (previousIsCore ? (params, train) => (hasFusedKernels() ? fusedAdamW : adamW)(params, train) : previous),
  };
}
