/**
 * fused-kernels — fewer, bigger kernels: each op of the training step runs as one kernel forward and one backward
 * instead of a chain of small ones, so fewer launches and fewer intermediates go through memory.
 * Source: the kernel-fusion idea of FlashAttention (arXiv 2205.14135), modded-nanogpt's fused kernels and
 * PyTorch's fused (multi-tensor) AdamW, at the granularity TF.js allows.
 *
 * What is fused depends on the backend:
 *  - native (native/kernels.c, harness/fusedOps.ts): the attention block (per head: q·kᵀ, causal softmax, P·v on
 *    strided views, no transposes), the residual add with the LayerNorm that reads it ("add & norm"), the MLP's
 *    GELU between its two sgemms, softmax + cross-entropy, and AdamW with the global-norm clip as one
 *    multi-tensor kernel;
 *  - webgpu (harness/backends/webgpuKernels.ts): attention's scale + causal mask + softmax;
 *  - elsewhere nothing: the recipe says so at start (and in the run record) and changes nothing.
 * Only parts that are still the core's own are fused: a recipe listed earlier that replaced the MLP (relu2) or
 * the norm (ngpt) keeps its version. AdamW is fused where it is the default optimizer, or Muon's optimizer for the
 * non-matrix parameters when fused-kernels is listed before muon. "add & norm" is used only while the residual and
 * the norm are both the core's (checked when the model runs, so a recipe listed later that replaces either wins).
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasFusedKernels } from '../harness/backends/nativeKernels.ts';
import { hasFusedAttention, fusedCausalSoftmax, registerWebgpuKernels } from '../harness/backends/webgpuKernels.ts';
import { fusedAddLayerNorm, fusedAdamW, fusedAttention, fusedCrossEntropy, fusedLayerNorm, makeFusedGeluMlp } from '../harness/fusedOps.ts';
import { blockParam, defaultParts, normWeight, type GPTParts } from '../harness/model.ts';
import { adamW } from '../harness/optim.ts';
import type { Recipe } from '../harness/recipe.ts';

const toHeads = (x: tf.Tensor4D) => tf.transpose(x, [0, 2, 1, 3]); // [B, T, H, hs] <-> [B, H, T, hs]

export const NATIVE_FUSED = ['attention block (q·kᵀ + causal softmax + P·v)', 'residual add + LayerNorm', 'MLP GELU', 'softmax + cross-entropy', 'AdamW + gradient clip (multi-tensor)'];

/** The core's LayerNorm on the fused kernel (one identity, so residualNorm can tell it is still in place). */
const fusedNorm: GPTParts['norm'] = (x, site, ctx) => fusedLayerNorm(x, ctx.param(normWeight(site)) as tf.Tensor1D);

export function fusedKernelsRecipe(): Recipe {
  registerWebgpuKernels();
  return {
    name: 'fused-kernels',
    description: 'fused kernels: attention, residual add + LayerNorm, GELU, cross-entropy and AdamW (native); attention softmax (webgpu)',
    source: 'FlashAttention (arXiv 2205.14135); modded-nanogpt fused kernels; PyTorch fused AdamW',
    notes: (backend) => {
      if (backend.name === 'native' && hasFusedKernels(backend.tfjsBackend)) return [`fused on native: ${NATIVE_FUSED.join(', ')}`];
      if (backend.name === 'native') return ['this native addon was built before the fused kernels existed (run `npm run build:native`); this run is the same as without the recipe'];
      if (hasFusedAttention(backend.tfjsBackend)) return ['fused: attention scale + causal mask + softmax (forward and backward kernels); not fused: MLP matmul + GELU, norm + residual, cross-entropy, AdamW'];
      return [`no fused kernels on backend ${backend.name} (they exist for native and webgpu); this run is the same as without the recipe`];
    },
    model: (parts) => {
      if (hasFusedKernels()) {
        const residualNorm = parts.residualNorm;
        return {
          ...parts,
          norm: parts.norm === defaultParts.norm ? fusedNorm : parts.norm,
          residualNorm: (x, branch, residual, norm, ctx) =>
            ctx.parts.residual === defaultParts.residual && ctx.parts.norm === fusedNorm
              ? fusedAddLayerNorm(x, branch, ctx.param(normWeight(norm)) as tf.Tensor1D)
              : residualNorm(x, branch, residual, norm, ctx),
          mlp:
            parts.mlp === defaultParts.mlp
              ? (x, layer, ctx) => makeFusedGeluMlp(ctx.engine)(x, ctx.param(blockParam(layer, 'mlp.c_fc.weight')) as tf.Tensor2D, ctx.param(blockParam(layer, 'mlp.c_proj.weight')) as tf.Tensor2D)
              : parts.mlp,
          attention: parts.attention === defaultParts.attention ? (q, k, v, scale) => fusedAttention(q, k, v, scale) : parts.attention,
          loss: parts.loss === defaultParts.loss ? (logits, targets) => fusedCrossEntropy(logits, targets) : parts.loss,
        };
      }
      return {
        ...parts,
        attention: (q, k, v, scale, ctx) => {
          if (!hasFusedAttention(tf.getBackend())) return parts.attention(q, k, v, scale, ctx);
          const probs = fusedCausalSoftmax(tf.matMul(toHeads(q), toHeads(k), false, true), scale);
          return tf.transpose(tf.matMul(probs, toHeads(v)), [0, 2, 1, 3]) as tf.Tensor4D;
        },
      };
    },
    optimizer: (previous) => (previous === adamW ? (params, train) => (hasFusedKernels() ? fusedAdamW : adamW)(params, train) : previous),
  };
}
