import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { BatchSampler } from '../harness/data/tokens.ts';
import { defaultParts, GPT } from '../harness/model.ts';
import { engineFor } from '../harness/ops.ts';
import { trainStep } from '../harness/replica.ts';
import { loadPlan } from '../harness/run.ts';
import { microPlan } from './utils.ts';

test('live tensors after step 10 equal those after step 40 (no leaks)', async () => {
  const plan = await microPlan();
  const { config } = plan;
  const { data, recipes } = loadPlan(plan);
  const model = new GPT(config.model, recipes.parts(defaultParts), engineFor(plan.backend.tfjsBackend), 0);
  const optimizer = recipes.optimizer(model.params, config.train);
  const sampler = new BatchSampler(data.train, config.train.batchSize, config.model.blockSize, 0);
  const schedule = recipes.lrSchedule(config.train);
  let tensorsAt10 = 0;
  for (let step = 0; step < 40; step++) {
    await trainStep(model, optimizer, () => sampler.next(), config, schedule(step), () => recipes.afterStep(model.params, step));
    if (step === 9) tensorsAt10 = tf.memory().numTensors;
  }
  assert.ok(tensorsAt10 > 0);
  assert.equal(tf.memory().numTensors, tensorsAt10);
});
