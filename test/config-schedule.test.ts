import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TRAIN, validateRunConfig, type RunConfig } from '../harness/config.ts';
import { warmupCosine, warmupStableDecay } from '../harness/schedule.ts';

const valid: RunConfig = {
  model: { vocabSize: 10, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8 },
  train: { ...DEFAULT_TRAIN, batchSize: 2, evalInterval: 5, evalTokens: 64, target: 1, maxSteps: 10 },
};

test('config validation rejects unknown keys, wrong types and bad shapes with one line', () => {
  assert.deepEqual(validateRunConfig(valid), valid);
  assert.throws(() => validateRunConfig({ ...valid, extra: 1 }), /invalid config: .*extra/);
  assert.throws(() => validateRunConfig({ ...valid, train: { ...valid.train, lr: -1 } }), /invalid config: train\.lr/);
  assert.throws(() => validateRunConfig({ ...valid, train: { ...valid.train, schedule: 'linear' } }), /invalid config: train\.schedule/);
  assert.throws(() => validateRunConfig({ ...valid, model: { ...valid.model, nEmbd: 9 } }), /divisible by model\.nHead/);
});

test('warmup + cosine and warmup-stable-decay schedules', () => {
  const train = { ...valid.train, lr: 1e-3, minLr: 1e-4, warmupSteps: 10, scheduleSteps: 110, cooldownFrac: 0.5 };
  const cosine = warmupCosine(train);
  assert.equal(cosine(0), 0.1);
  assert.equal(cosine(9), 1);
  assert.ok(Math.abs(cosine(60) - 0.55) < 1e-9, 'halfway through the cosine: midpoint between 1 and 0.1');
  assert.ok(Math.abs(cosine(110) - 0.1) < 1e-12);
  assert.ok(Math.abs(cosine(500) - 0.1) < 1e-12);
  const wsd = warmupStableDecay(train);
  assert.equal(wsd(9), 1);
  assert.equal(wsd(54), 1, 'stable until the last half');
  assert.ok(Math.abs(wsd(82.5) - 0.55) < 1e-9);
  assert.ok(Math.abs(wsd(110) - 0.1) < 1e-12);
});
