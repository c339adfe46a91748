/**
 * One recipe's training step, counted (run in its own process; prints JSON): how many kernel calls a step makes
 * and how many matrix-product FLOPs it executes (harness/kernelFlops.ts), from one profiled step after two warm
 * ones. For `npm run bench:recipes`; profiling adds overhead, so no times come from here.
 *   node --import tsx bench/stepCounts.ts <recipe> <backend>
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendRequest } from '../harness/backends/index.ts';
import { BatchSampler } from '../harness/data/tokens.ts';
import { productFlopsOf } from '../harness/compute.ts';
import { defaultParts, GPT } from '../harness/model.ts';
import { engineFor } from '../harness/ops.ts';
import { trainStep } from '../harness/replica.ts';
import { loadPlan, resolveRun } from '../harness/run.ts';

/** A recipe's training step at the nano preset on brown-char, ready to call (used by bench/profile.ts too). */
export async function nanoStep(recipe: string, backend: string): Promise<{ step: (i: number) => Promise<unknown>; label: string }> {
  const plan = await resolveRun({ recipe, track: 'brown-char', backend: backend as BackendRequest, seed: 0 });
  const { config } = plan;
  const { data, recipes } = loadPlan(plan);
  const model = new GPT(config.model, recipes.parts(defaultParts), engineFor(plan.backend), 0);
  recipes.onInit(model.params);
  const optimizer = recipes.optimizer(model.params, config.train);
  const sampler = new BatchSampler(data.train, config.train.batchSize, config.model.blockSize, 0);
  return {
    step: (i: number) => trainStep(model, optimizer, () => sampler.next(), config, 1, () => recipes.afterStep(model.params, i)),
    label: `${recipe} on ${plan.backend.name} (${plan.backend.threads} threads)`,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [recipe = 'baseline', backend = 'wasm'] = process.argv.slice(2);
  const { step } = await nanoStep(recipe, backend);
  await step(0);
  await step(1);
  const profile = await tf.profile(async () => {
    await step(2);
  });
  // "unnamed scope" entries are custom ops wrapping kernels that are listed on their own.
  const kernels = profile.kernels.filter((k) => k.name !== 'unnamed scope');
  const flops = productFlopsOf(kernels);
  process.stdout.write(`${JSON.stringify({ recipe, kernelCalls: kernels.length, matmulFlops: flops })}\n`);
  process.exit(0);
}
