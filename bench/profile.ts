/**
 * `npm run profile`: where a training step's time goes, per TF.js kernel (tf.profile), for one recipe on one
 * backend at the nano preset. For finding the next bottleneck, not for figures (profiling adds overhead).
 *   npm run profile -- [recipe=baseline] [backend=wasm] [steps=10]
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendRequest } from '../harness/backends/index.ts';
import { BatchSampler } from '../harness/data/tokens.ts';
import { defaultParts, GPT } from '../harness/model.ts';
import { engineFor } from '../harness/ops.ts';
import { resolveRun } from '../harness/run.ts';
import { trainStep } from '../harness/train.ts';

const [recipe = 'baseline', backend = 'wasm', stepsArg = '10'] = process.argv.slice(2);
const plan = await resolveRun({ recipe, track: 'brown-char', backend: backend as BackendRequest, seed: 0 });
const { config } = plan;
const model = new GPT(config.model, plan.recipes.parts(defaultParts), engineFor(plan.backend), 0);
plan.recipes.onInit(model.params);
const optimizer = plan.recipes.optimizer(model.params, config.train);
const sampler = new BatchSampler(plan.data.train, config.train.batchSize, config.model.blockSize, 0);
const step = (i: number) => trainStep(model, optimizer, () => sampler.next(), config, 1, () => plan.recipes.afterStep(model.params, i));
for (let i = 0; i < 3; i++) await step(i);
const steps = Number(stepsArg);
const start = performance.now();
for (let i = 0; i < steps; i++) await step(i);
console.log(`${recipe} on ${plan.backend.name} (${plan.backend.threads} threads): ${((performance.now() - start) / steps).toFixed(1)} ms/step, ${tf.memory().numTensors} live tensors`);

const profile = await tf.profile(async () => {
  await step(steps);
});
const byKernel = new Map<string, { ms: number; calls: number }>();
for (const k of profile.kernels) {
  for (const key of [k.name, `${k.name} ${JSON.stringify(k.inputShapes)}`]) {
    const entry = byKernel.get(key) ?? { ms: 0, calls: 0 };
    entry.ms += Number(k.kernelTimeMs) || 0;
    entry.calls += 1;
    byKernel.set(key, entry);
  }
}
console.log('kernel (and by input shapes)'.padEnd(60), 'ms'.padStart(8), 'calls'.padStart(7));
for (const [name, { ms, calls }] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 30)) {
  console.log(name.slice(0, 60).padEnd(60), ms.toFixed(1).padStart(8), String(calls).padStart(7));
}
process.exit(0);
