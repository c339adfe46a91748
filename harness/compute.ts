/**
 * Compute accounting: a run's arithmetic, so that results compare across machines (Marin's FLOPs, PaLM's MFU,
 * DAWNBench's cost).
 *  - model FLOPs per step: 3 × the forward pass's matrix products (2·m·n·k each, attention's q·kᵀ and P·v
 *    included over the whole context, elementwise work left out, as is the convention), counted from the model
 *    as the recipes built it: one forward pass of one sequence of length 1 and one of length 2, whose products
 *    are counted kernel by kernel (./kernelFlops.ts). A transformer's forward products are a·T + b·T² in the
 *    context length T and linear in the batch, so the two counts give the run's exactly. Attention is counted in
 *    its batched form whatever the engine runs (wasm's per-sequence form does H times the arithmetic on zeros:
 *    that is the engine's, and shows in executed FLOPs);
 *  - executed FLOPs per step: every product a training step runs on the run's engine, forward, backward and
 *    optimizer (Muon's Newton–Schulz), counted during the warm-up step, outside the clock;
 *  - MFU: model FLOPs per second of train time ÷ the peak of this engine on this machine (./peaks.ts);
 *  - cost to target: time to target × a price per hour, when one is known; never invented.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RunConfig } from './config.ts';
import { kernelFlops } from './kernelFlops.ts';
import { defaultParts, GPT } from './model.ts';
import { engineFor } from './ops.ts';
import { composeRecipes, type ComposedRecipes } from './recipe.ts';
import { resolveRecipes } from '../recipes/index.ts';
export type { ComputeFigures } from './records.ts';
export { computeFigures } from './computeFigures.ts';

/** The matrix-product FLOPs of profiled kernel calls (tf.profile's `kernels`). */
export const productFlopsOf = (kernels: readonly { name: string; inputShapes: unknown[]; outputShapes: unknown[] }[]): number =>
  kernels.reduce((sum, k) => sum + kernelFlops(k.name, k.inputShapes as number[][], k.outputShapes as number[][]), 0);

/** The matrix-product FLOPs of the kernels a function runs (it is run under tf.profile). */
export async function countProductFlops(fn: () => Promise<unknown> | unknown): Promise<number> {
  const profile = await tf.profile(async () => {
    await fn();
  });
  return productFlopsOf(profile.kernels);
}

/** Model FLOPs a step of a recorded run: its config, its recipe labels composed again. */
export async function countBundledModelFlops(config: RunConfig, recipeLabels: string[]): Promise<number> {
  await tf.ready();
  // verify and import choose no backend: TF.js's default then is cpu, whose first use prints an "install
  // tfjs-node" banner; quiet it without choosing a backend (a replay after this chooses its own). Any counts the same.
  if (tf.getBackend() === 'cpu') (tf.backend() as { firstUse?: boolean }).firstUse = false;
  const recipes = composeRecipes(resolveRecipes(recipeLabels.join(',')));
  try {
    return await modelFlopsPerStep(config, recipes);
  } finally {
    recipes.teardown();
  }
}

/** 3 × the forward pass's product FLOPs for one optimizer step of this config (its whole global batch). */
export async function modelFlopsPerStep(config: RunConfig, recipes: ComposedRecipes): Promise<number> {
  const modelCfg = config.model;
  // The products do not depend on the weights' values: a model of this shape, attention in its batched form.
  const engine = { ...engineFor(tf.getBackend()), attention: 'batched' as const };
  const model = new GPT(modelCfg, recipes.parts(defaultParts), engine, 0);
  try {
    const forward = (seqLen: number) => {
      const ids = new Int32Array(seqLen);
      return countProductFlops(() => tf.tidy(() => model.forward(tf.tensor1d(ids, 'int32'), 1, seqLen)));
    };
    const [one, two] = [await forward(1), await forward(2)];
    const quadratic = (two - 2 * one) / 2; // F(T) = a·T + b·T²: F(1) = a + b, F(2) = 2a + 4b
    const linear = one - quadratic;
    const T = modelCfg.blockSize;
    const sequences = config.train.batchSize * config.train.gradAccumSteps;
    return 3 * sequences * (linear * T + quadratic * T * T);
  } finally {
    model.dispose();
  }
}
