/** Run bundles (round trip, tamper detection) and the record rules (each one refusing with its reason). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { executeRun, type RunRecord } from '../harness/run.ts';
import { canonicalJson, createBundle, readBundle, verifyBundle, writeBundle, type RunBundle } from '../harness/store/bundle.ts';
import { judgeSubmission, type SubmissionInput } from '../harness/submit.ts';
import { syntheticRun } from './fixtures/records.ts';
import { microPlan, tempDir } from './utils.ts';

let realBundle: RunBundle | undefined;
async function bundleOfRealRun(): Promise<RunBundle> {
  if (!realBundle) {
    const out = tempDir();
    const plan = await microPlan({ steps: 20, target: 3.2 });
    const record = await executeRun(plan, { outDir: out });
    realBundle = readBundle(record.bundle);
  }
  return structuredClone(realBundle);
}

/** Re-signs an edited bundle the way a forger would: a fresh checksum over the edited content. */
const reseal = (bundle: RunBundle): RunBundle => createBundle(bundle.run, bundle.events, bundle.code.files);

test('a run writes a read-only bundle that verifies and round-trips', async () => {
  const bundle = await bundleOfRealRun();
  assert.deepEqual(verifyBundle(bundle), { status: 'valid' });
  assert.ok(bundle.events.some((e) => e.key === 'run_stop'));
  assert.ok(Object.keys(bundle.code.files).includes('harness/train.ts'));
  const file = path.join(tempDir(), 'copy.json');
  writeBundle(bundle, file);
  assert.deepEqual(readBundle(file), bundle);
  assert.equal(fs.statSync(file).mode & 0o222, 0, 'no write permission');
  assert.throws(() => writeBundle(bundle, file), /EEXIST/, 'never overwritten');
});

test('canonical JSON ignores key order', () => {
  assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }), canonicalJson({ a: [{ c: 3, d: 2 }], b: 1 }));
});

test('verify catches an edited loss, time or code hash, even when the checksum is recomputed', async () => {
  const edits: [string, (b: RunBundle) => void, RegExp][] = [
    ['final loss', (b) => void (b.run.finalValLoss = 2.0), /final validation loss/],
    ['an eval loss', (b) => void (b.run.evals[0]!.valLoss -= 0.5), /validation losses/],
    ['the train time', (b) => void (b.run.trainTimeMs *= 0.8), /train time/],
    ['time to target', (b) => void (b.run.timeToTargetMs = (b.run.timeToTargetMs ?? 1000) * 0.5), /time to target/],
    ['the code hash', (b) => void (b.run.codeHash = 'f'.repeat(64)), /code hash/],
    ['a source file', (b) => void (b.code.files['harness/train.ts'] += '\n// faster'), /code hash/],
    ['a logged step time', (b) => void (b.events.find((e) => e.key === 'train_loss')!.metadata.step_ms = 1), /train time/],
  ];
  for (const [what, edit, expected] of edits) {
    const bundle = await bundleOfRealRun();
    edit(bundle);
    const plain = verifyBundle(bundle);
    assert.equal(plain.status, 'invalid', what);
    if (plain.status === 'invalid') assert.match(plain.problems[0]!, /checksum/, `${what}: checksum first`);
    const resealed = verifyBundle(reseal(bundle));
    assert.equal(resealed.status, 'invalid', `${what} (re-checksummed)`);
    if (resealed.status === 'invalid') assert.match(resealed.problems.join('; '), expected, what);
  }
});

test('readBundle refuses files that are not bundles, with one-line reasons', () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'junk.json'), '{"kind":"other"}');
  fs.writeFileSync(path.join(dir, 'broken.json'), '{');
  assert.throws(() => readBundle(path.join(dir, 'junk.json')), /not a speedrun run bundle/);
  assert.throws(() => readBundle(path.join(dir, 'broken.json')), /not a readable run bundle/);
  assert.throws(() => readBundle(path.join(dir, 'missing.json')), /no such file/);
});

// ---- record rules ----

const times = [150_000, 148_000, 152_000, 149_000, 151_000];
const goodRuns = (overrides: Partial<Parameters<typeof syntheticRun>[0]> = {}): RunRecord[] =>
  times.map((t, seed) => syntheticRun({ id: `run-${seed}`, seed, timeToTargetMs: t, finalValLoss: 2.455 - seed * 0.001, ...overrides }));
const baseInput = (runs: RunRecord[], extra: Partial<SubmissionInput> = {}): SubmissionInput => ({
  runs,
  bundleProblems: {},
  description: 'test',
  contributors: ['a'],
  referenceSteps: [],
  ...extra,
});
function refusedFor(input: SubmissionInput): string[] {
  const decision = judgeSubmission(input);
  assert.equal(decision.status, 'refused');
  return decision.checks.filter((c) => c.status === 'fail').map((c) => c.rule);
}

test('a valid set of five runs becomes a record with its statistics', () => {
  const decision = judgeSubmission(baseInput(goodRuns()));
  assert.equal(decision.status, 'accepted', JSON.stringify(decision.checks));
  if (decision.status !== 'accepted') return;
  assert.equal(decision.record.runs, 5);
  assert.equal(decision.record.timeToTargetMs, 150_000);
  assert.equal(decision.record.olympicMeanMs, 150_000);
  assert.ok(decision.record.pValue < 0.01);
  assert.equal(decision.checks.find((c) => c.rule === 'not-suspicious')?.status, 'skip');
});

test('each rule refuses with its reason', () => {
  const runs = goodRuns();
  assert.deepEqual(refusedFor(baseInput(runs, { bundleProblems: { 'run-0': ['checksum does not match'] } })), ['bundles']);
  assert.deepEqual(refusedFor(baseInput([...runs.slice(1), syntheticRun({ id: 'x', seed: 9, trackVersion: 2 })])), ['same-track']);
  assert.deepEqual(refusedFor(baseInput([...runs.slice(1), syntheticRun({ id: 'x', seed: 9, official: false })])), ['same-track']);
  assert.deepEqual(refusedFor(baseInput([...runs.slice(1), syntheticRun({ id: 'x', seed: 9, codeHash: 'e'.repeat(64) })])), ['same-code']);
  assert.deepEqual(refusedFor(baseInput([...runs.slice(1), syntheticRun({ id: 'x', seed: 9, workers: 2 })])), ['same-code']);
  assert.deepEqual(refusedFor(baseInput([...runs.slice(1), syntheticRun({ id: 'x', seed: 1 })])), ['distinct-seeds']);
  assert.deepEqual(refusedFor(baseInput([...runs.slice(1), syntheticRun({ id: 'x', seed: 9, cpuBrand: 'Other' })])), ['same-hardware']);
  assert.deepEqual(refusedFor(baseInput(runs.slice(0, 4))), ['enough-runs']);
  assert.deepEqual(refusedFor(baseInput([...runs.slice(0, 4), syntheticRun({ id: 'x', seed: 9, status: 'aborted' })])), ['enough-runs']);
  // Two runs that miss the target: more than olympic scoring may drop, and the mean loss is no longer below it.
  const missing = [...runs.slice(0, 3), ...[7, 8].map((seed) => syntheticRun({ id: `m${seed}`, seed, timeToTargetMs: null }))];
  assert.deepEqual(refusedFor(baseInput(missing)), ['converged', 'target-p']);
  const borderline = goodRuns({ finalValLoss: 2.459 }).map((r, i) => ({ ...r, finalValLoss: 2.459 + (i % 2 ? 0.002 : -0.002) }));
  assert.deepEqual(refusedFor(baseInput(borderline)), ['target-p']);
  const record = { id: 1, recipes: 'baseline', timesMs: [149_000, 151_000, 150_500, 149_500, 150_000] };
  assert.deepEqual(refusedFor(baseInput(runs, { currentRecord: record })), ['beats-record']);
  const suspicious = goodRuns({ stepsToTarget: 150 });
  assert.deepEqual(refusedFor(baseInput(suspicious, { referenceSteps: [300, 350, 300, 350, 300] })), ['not-suspicious']);
});

test('a faster set beats the current record; one non-converged run is allowed', () => {
  const faster = goodRuns().map((r, i) => ({ ...r, timeToTargetMs: r.timeToTargetMs! * 0.8, finalValLoss: 2.44 + i * 0.0005 }) as RunRecord);
  faster[4] = syntheticRun({ id: 'miss', seed: 4, timeToTargetMs: null, finalValLoss: 2.4605 });
  const record = { id: 1, recipes: 'baseline', timesMs: times };
  const decision = judgeSubmission(baseInput(faster, { currentRecord: record, referenceSteps: [300, 300, 350] }));
  assert.equal(decision.status, 'accepted', JSON.stringify(decision.checks.filter((c) => c.status === 'fail')));
  assert.equal(decision.checks.find((c) => c.rule === 'not-suspicious')?.status, 'pass');
});
