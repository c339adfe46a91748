/**
 * Comms tweaks for data-parallel training (`--workers N`): each recipe changes only how gradients move between
 * workers (harness/parallel/comms.ts), never the math of the step. Source: modded-nanogpt's distributed
 * optimizer work (bucketed all-reduce, reduce-scatter + all-gather "DistAdam", bf16 gradients), ZeRO stage 1
 * (Rajbhandari et al., arXiv 1910.02054), PyTorch DDP's gradient buckets and overlap (arXiv 2006.15704).
 */
import type { Recipe } from '../harness/recipe.ts';
import type { CommsVariant } from '../harness/parallel/comms.ts';

function commsRecipe(name: string, comms: CommsVariant, description: string, source: string, extra: string[] = []): () => Recipe {
  return () => ({
    name,
    description,
    source,
    comms,
    notes: () => [...extra, 'changes only how gradients move between data-parallel workers (--workers N); with one worker it does nothing'],
  });
}

export const commsBucketedRecipe = commsRecipe('comms-bucketed', 'bucketed', 'gradients exchanged in flattened ~1 MiB buckets (fewer barriers than per tensor)', 'PyTorch DDP gradient buckets (arXiv 2006.15704); modded-nanogpt');
export const commsBf16Recipe = commsRecipe('comms-bf16', 'bf16', 'gradients exchanged as bfloat16 (half the bytes), summed and applied in fp32', 'modded-nanogpt bf16 gradient all-reduce');
export const commsOverlapRecipe = commsRecipe(
  'comms-overlap',
  'overlap',
  'overlap gradient exchange with the backward pass (not possible in TF.js: runs as comms-bucketed)',
  'PyTorch DDP overlap (arXiv 2006.15704); modded-nanogpt',
  ['TF.js returns every gradient from one tf.variableGrads call after the whole backward pass, so no bucket can leave early: this run exchanges buckets after the backward pass, like comms-bucketed; its comm time is what overlap could hide at most'],
);
export const commsShardedRecipe = commsRecipe('comms-sharded', 'sharded', 'ZeRO-1: reduce-scatter gradients, each worker updates and keeps optimizer state for its own parameters, all-gather weights', 'ZeRO (arXiv 1910.02054); modded-nanogpt DistAdam');
