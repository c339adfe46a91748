/**
 * Data-parallel training in worker threads: 2 workers follow the 1-worker loss curve, every comms variant
 * agrees, bf16 halves the bytes, and a crashed or NaN worker ends the run cleanly with its index.
 * Tolerance: 1e-5 relative on the training loss over 10 steps. Two workers average two half-batch mean losses
 * and sum gradients in a different order than one worker; float32 rounding (~1e-7 per operation) is all that
 * differs, and the observed difference is below 1e-6. bf16 gradients round each value to 8 bits of mantissa
 * before the sum: 1e-3.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketsOf, BUCKET_FLOATS, fromBf16, owners, toBf16 } from '../harness/parallel/comms.ts';
import { executeRun, type RunRecord } from '../harness/run.ts';
import { readEventLog } from '../harness/events.ts';
import { microPlan, tempDir } from './utils.ts';

async function run(workers: number, recipe = 'baseline', steps = 10): Promise<{ record: RunRecord; losses: number[]; bytes: number[] }> {
  const plan = await microPlan({ workers, recipe, steps });
  const record = await executeRun(plan, { outDir: tempDir() });
  const steps_ = readEventLog(record.eventLog).filter((e) => e.key === 'train_loss');
  return { record, losses: steps_.map((e) => Number(e.value)), bytes: steps_.map((e) => Number(e.metadata.comm_bytes ?? 0)) };
}

const close = (a: number[], b: number[], tolerance: number, what: string) => {
  assert.equal(a.length, b.length, what);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) / Math.abs(b[i]!) < tolerance, `${what}: step ${i + 1}: ${x} vs ${b[i]}`));
};

test('bf16 rounding, bucket layout and shard ownership', () => {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (const x of [1, -2.5, 3.14159, 1e-8, 65504]) assert.ok(Math.abs(fromBf16(toBf16(x, f, u), f, u) - x) <= Math.abs(x) * 2 ** -8, String(x));
  assert.ok(Number.isNaN(fromBf16(toBf16(Number.NaN, f, u), f, u)));
  assert.deepEqual(bucketsOf([3, 4, 5], true), [[0], [1], [2]]);
  assert.deepEqual(bucketsOf([BUCKET_FLOATS, 10, 20], false), [[0], [1, 2]]);
  assert.deepEqual(owners([100, 60, 50, 10], 2), [0, 1, 1, 0]);
});

test('2 workers follow the 1-worker loss curve from the same seed; each comms variant agrees', async () => {
  const single = await run(1);
  const pair = await run(2);
  assert.equal(pair.record.parallel?.workers, 2);
  assert.equal(pair.record.parallel?.comms, 'allreduce');
  close(pair.losses, single.losses, 1e-5, 'allreduce');
  const bucketed = await run(2, 'baseline,comms-bucketed');
  close(bucketed.losses, single.losses, 1e-5, 'bucketed');
  const sharded = await run(2, 'baseline,comms-sharded');
  close(sharded.losses, single.losses, 1e-5, 'sharded');
  const bf16 = await run(2, 'baseline,comms-bf16');
  close(bf16.losses, single.losses, 1e-3, 'bf16');
  assert.equal(bf16.bytes[0]! * 2, bucketed.bytes[0], 'bf16 moves half the bytes');
  assert.ok(bucketed.record.parallel!.commMsPerStep > 0);
});

test('a worker that crashes ends the run as aborted, naming it; a NaN worker as diverged', async () => {
  process.env.SPEEDRUN_FAULT = 'crash@1:3';
  try {
    const crashed = await run(2);
    assert.equal(crashed.record.status, 'aborted');
    assert.match(crashed.record.reason, /worker 1 failed: injected crash at step 3/);
    assert.equal(crashed.record.steps, 3, 'the steps before the crash are kept');
    process.env.SPEEDRUN_FAULT = 'nan@0:2';
    const nan = await run(2);
    assert.equal(nan.record.status, 'diverged');
    assert.match(nan.record.reason, /worker 0/);
  } finally {
    delete process.env.SPEEDRUN_FAULT;
  }
});

test('--workers must divide the batch and cannot be combined with --grad-accum', async () => {
  await assert.rejects(microPlan({ workers: 3 }), /does not divide the batch of 8/);
  await assert.rejects(microPlan({ workers: 2, gradAccum: 2 }), /cannot be combined with --grad-accum/);
});
