import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readEventLog } from '../harness/events.ts';
import { executeRun } from '../harness/run.ts';
import { microPlan, tempDir } from './utils.ts';

async function trainLosses(seed: number): Promise<number[]> {
  const plan = await microPlan({ seed, steps: 12 });
  const record = await executeRun(plan, { outDir: tempDir() });
  return readEventLog(record.eventLog).filter((e) => e.key === 'train_loss').map((e) => e.value as number);
}

test('the same seed gives an identical loss sequence; another seed does not', async () => {
  const a = await trainLosses(1);
  const b = await trainLosses(1);
  const c = await trainLosses(2);
  assert.equal(a.length, 12);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('--grad-accum splits the batch into micro-batches without changing the global batch or the losses', async () => {
  const whole = await microPlan({ seed: 3, steps: 4 });
  const split = await microPlan({ seed: 3, steps: 4, gradAccum: 2 });
  assert.equal(split.config.train.batchSize * split.config.train.gradAccumSteps, whole.config.train.batchSize);
  assert.equal(split.config.train.gradAccumSteps, 2);
  const losses = async (plan: typeof whole) => {
    const record = await executeRun(plan, { outDir: tempDir() });
    return readEventLog(record.eventLog).filter((e) => e.key === 'train_loss').map((e) => e.value as number);
  };
  const a = await losses(whole);
  const b = await losses(split);
  // Same data, same math; only the order of floating-point sums differs.
  a.forEach((loss, i) => assert.ok(Math.abs(loss - b[i]!) < 1e-4, `step ${i + 1}: ${loss} vs ${b[i]}`));
  await assert.rejects(microPlan({ gradAccum: 3 }), /--grad-accum 3 does not divide the batch of 8 sequences/);
});
