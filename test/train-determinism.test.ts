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
