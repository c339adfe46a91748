import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { BatchSampler } from '../harness/data/tokens.ts';
import { defaultParts, GPT } from '../harness/model.ts';
import { engineFor } from '../harness/ops.ts';
import { trainStep } from '../harness/replica.ts';
import { microPlan } from './utils.ts';

test('live tensors after step 10 equal those after step 40 (no leaks)', async () => {
  const plan = await microPlan();
  const { config } = plan;
  const model = new GPT(config.model, plan.recipes.parts(defaultParts), engineFor(plan.backend.tfjsBackend), 0);
  const optimizer = plan.recipes.optimizer(model.params, config.train);
  const sampler = new BatchSampler(plan.data.train, config.train.batchSize, config.model.blockSize, 0);
  const schedule = plan.recipes.lrSchedule(config.train);
  let tensorsAt10 = 0;
  for (let step = 0; step < 40; step++) {
    await trainStep(model, optimizer, () => sampler.next(), config, schedule(step), () => plan.recipes.afterStep(model.params, step));
    if (step === 9) tensorsAt10 = tf.memory().numTensors;
  }
  assert.ok(tensorsAt10 > 0);
  assert.equal(tf.memory().numTensors, tensorsAt10);
});
