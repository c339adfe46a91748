/** How a run ends: success at the target, budget_exhausted, diverged on NaN, aborted on a signal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { readEventLog } from '../harness/events.ts';
import { composeRecipes } from '../harness/recipe.ts';
import { executeRun } from '../harness/run.ts';
import { stretch, TEST_SLOWDOWN_ENV, testSlowdownFromEnv } from '../harness/testSlowdown.ts';
import { microPlan, tempDir } from './utils.ts';

test('reaching the target ends the run as success with time to target on the train clock', async () => {
  const plan = await microPlan({ steps: 400, target: 3.0 });
  const record = await executeRun(plan, { outDir: tempDir() });
  assert.equal(record.status, 'success');
  assert.ok(record.finalValLoss! <= 3.0);
  assert.equal(record.stepsToTarget, record.steps);
  assert.equal(record.stepsToTarget! % 10, 0);
  assert.equal(record.timeToTargetMs, record.trainTimeMs);
  assert.ok(record.wallTimeMs > record.trainTimeMs + record.evalMs, 'wall time includes evaluation and init');
  const events = readEventLog(record.eventLog);
  assert.equal(events[0]!.key, 'submission_benchmark');
  assert.deepEqual(events.map((e) => e.key).filter((k) => ['init_start', 'init_stop', 'run_start', 'run_stop'].includes(k)), ['init_start', 'init_stop', 'run_start', 'run_stop']);
  assert.equal(events.at(-1)!.value, 'success');
  const stored = JSON.parse(fs.readFileSync(record.eventLog.replace('events.jsonl', 'run.json'), 'utf8'));
  assert.equal(stored.status, 'success');
  assert.equal(stored.backend.name, 'cpu');
});

test('a step budget without reaching the target ends as budget_exhausted after a final evaluation', async () => {
  const plan = await microPlan({ steps: 7, target: 0.01 });
  const record = await executeRun(plan, { outDir: tempDir() });
  assert.equal(record.status, 'budget_exhausted');
  assert.equal(record.steps, 7);
  assert.equal(record.evals.at(-1)!.step, 7);
  assert.equal(record.timeToTargetMs, null);
  assert.equal(record.track.official, false);
});

test('a train-clock budget ends the run as budget_exhausted', async () => {
  const plan = await microPlan({ steps: 100_000, maxTimeSec: 0.3, target: 0.01 });
  const record = await executeRun(plan, { outDir: tempDir() });
  assert.equal(record.status, 'budget_exhausted');
  assert.match(record.reason, /time budget/);
  assert.ok(record.trainTimeMs >= 300 && record.steps < 100_000);
  assert.deepEqual(record.track.overrides, ['preset=micro', 'target=0.01', 'steps=100000', 'max-time=0.3s']);
});

test('a NaN loss ends the run as diverged', async () => {
  const plan = await microPlan({ steps: 50 });
  const poison = composeRecipes([
    {
      name: 'poison',
      description: 'sets a weight to NaN after step 3',
      source: 'test',
      afterStep(params, step) {
        if (step === 3) params.get('wte')!.variable.assign(tf.fill(params.get('wte')!.shape, NaN));
      },
    },
  ]);
  const record = await executeRun(plan, { outDir: tempDir() }, { recipes: poison });
  assert.equal(record.status, 'diverged');
  assert.match(record.reason, /loss is NaN at step [45]/);
});

test('an abort signal ends the run as aborted and keeps what was measured', async () => {
  const plan = await microPlan({ steps: 1000 });
  const controller = new AbortController();
  const record = await executeRun(plan, { outDir: tempDir() }, {
    signal: controller.signal,
    observer: { onStep: (s) => { if (s.step === 5) controller.abort(); } },
  });
  assert.equal(record.status, 'aborted');
  assert.equal(record.steps, 5);
  assert.equal(readEventLog(record.eventLog).filter((e) => e.key === 'train_loss').length, 5);
});

test('the test-only slowdown stretches every step inside the clock and makes the run unofficial, noted', async () => {
  assert.equal(testSlowdownFromEnv({}), 0);
  assert.equal(testSlowdownFromEnv({ [TEST_SLOWDOWN_ENV]: '0.1' }), 0.1);
  assert.throws(() => testSlowdownFromEnv({ [TEST_SLOWDOWN_ENV]: 'lots' }), /SPEEDRUN_TEST_SLOWDOWN must be a fraction from 0 to 10/);
  process.env[TEST_SLOWDOWN_ENV] = '1';
  let plan;
  try {
    plan = await microPlan({ steps: 3, target: 0.01 });
  } finally {
    delete process.env[TEST_SLOWDOWN_ENV];
  }
  assert.equal(plan.testSlowdown, 1);
  assert.ok(plan.overrides.includes('test-slowdown=1'));
  assert.ok(plan.notes.some((n) => /test only: every step made 100 % slower on purpose/.test(n)));
  const record = await executeRun(plan, { outDir: tempDir() });
  assert.equal(record.track.official, false);
  const steps = readEventLog(record.eventLog).filter((e) => e.key === 'train_loss');
  assert.equal(steps.length, 3);
  const start = performance.now();
  stretch(20, 1);
  assert.ok(performance.now() - start >= 19.5, 'stretch sleeps fraction x the step time');
});
