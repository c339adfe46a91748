/**
 * fused-kernels — the attention block's scale + causal mask + softmax as one GPU kernel forward and one backward
 * (harness/backends/webgpuKernels.ts), instead of five to seven separate kernels and their intermediates.
 * Source: the kernel-fusion idea of FlashAttention (arXiv 2205.14135) and modded-nanogpt's fused kernels, at the
 * granularity TF.js allows (its matmuls stay TF.js's own).
 *
 * Exists on webgpu only. Elsewhere the recipe says so at start (and in the run record) and changes nothing.
 * Not fused: matmul + activation of the MLP (TF.js's _FusedMatMul has no GELU and no gradient for most
 * activations), norm + residual, softmax + cross-entropy (the core already fuses the latter's backward).
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedCausalSoftmax, hasFusedAttention, registerWebgpuKernels } from '../harness/backends/webgpuKernels.ts';
import type { Recipe } from '../harness/recipe.ts';

const toHeads = (x: tf.Tensor4D) => tf.transpose(x, [0, 2, 1, 3]); // [B, T, H, hs] <-> [B, H, T, hs]

export function fusedKernelsRecipe(): Recipe {
  registerWebgpuKernels();
  return {
    name: 'fused-kernels',
    description: 'fused GPU kernels: attention scale + causal mask + softmax, forward and backward (webgpu)',
    source: 'FlashAttention (arXiv 2205.14135); modded-nanogpt fused kernels',
    notes: (backend) =>
      hasFusedAttention(backend.tfjsBackend)
        ? ['fused: attention scale + causal mask + softmax (forward and backward kernels); not fused: MLP matmul + GELU, norm + residual']
        : [`no fused kernels on backend ${backend.name} (they exist for webgpu); this run is the same as without the recipe`],
    model: (parts) => ({
      ...parts,
      attention: (q, k, v, scale, ctx) => {
        if (!hasFusedAttention(tf.getBackend())) return parts.attention(q, k, v, scale, ctx);
        const probs = fusedCausalSoftmax(tf.matMul(toHeads(q), toHeads(k), false, true), scale);
        return tf.transpose(tf.matMul(probs, toHeads(v)), [0, 2, 1, 3]) as tf.Tensor4D;
      },
    }),
  };
}
