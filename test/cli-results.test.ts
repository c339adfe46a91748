/**
 * The results commands end to end through the CLI on wasm micro runs: --seeds, runs, verify, import, submit,
 * and `ci`'s exit codes (0 no regression, 1 regression, 2 error).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createBundle, readBundle, writeBundle } from '../harness/store/bundle.ts';
import { ResultsStore } from '../harness/store/database.ts';
import { fixtureTextFile, ROOT, runCli, tempDir } from './utils.ts';

// A micro model on the fixture text reaches 2.8 within 100 steps (evaluations at 50 and 100) from every seed.
const OVERRIDES = '--preset micro --target 2.8 --steps 100';
const MICRO = ['--backend', 'wasm', ...OVERRIDES.split(' ')];
let track = '';
let out = '';
let bundles: string[] = [];

before(() => {
  track = `text:${fixtureTextFile()}`;
  out = tempDir();
  const result = runCli(['--track', track, ...MICRO, '--seeds', '5', '--out', out, '-q'], 300_000);
  assert.equal(result.status, 0, result.stderr);
  bundles = fs.readdirSync(path.join(out, 'bundles')).map((f) => path.join(out, 'bundles', f)).sort();
});

test('--seeds 5 runs five seeds into the database and prints their statistics', () => {
  assert.equal(bundles.length, 5);
  const listed = runCli(['runs', '--out', out, '--json']);
  assert.equal(listed.status, 0, listed.stderr);
  const runs = JSON.parse(listed.stdout) as { seed: number; status: string; stepsToTarget: number | null }[];
  assert.deepEqual(runs.map((r) => r.seed).sort(), [0, 1, 2, 3, 4]);
  assert.ok(runs.every((r) => r.status === 'success' && r.stepsToTarget! <= 100), JSON.stringify(runs));
});

test('verify accepts the bundles and rejects an edited one with exit 5', () => {
  assert.equal(runCli(['verify', ...bundles]).status, 0);
  const edited = path.join(tempDir(), 'edited.json');
  fs.writeFileSync(edited, fs.readFileSync(bundles[0]!, 'utf8').replace(/"timeToTargetMs":([0-9.]+)/, '"timeToTargetMs":1'));
  const result = runCli(['verify', edited]);
  assert.equal(result.status, 5);
  assert.match(result.stdout, /INVALID .*checksum/);
});

test('verify --replay re-runs steps here: a real log reproduces, a consistently forged one does not', () => {
  const real = runCli(['verify', '--replay', '8', bundles[0]!], 120_000);
  assert.equal(real.status, 0, real.stdout + real.stderr);
  assert.match(real.stdout, /replayed 8 steps, train losses reproduce/);
  // A forger lowers every logged training loss and re-seals the bundle: offline checks cannot tell.
  const { run, events, code } = readBundle(bundles[0]!);
  const forgedEvents = events.map((e) => (e.key === 'train_loss' ? { ...e, value: Number(e.value) * 0.97 } : e));
  const forged = path.join(tempDir(), 'forged.json');
  writeBundle(createBundle(run, forgedEvents, code.files), forged);
  assert.equal(runCli(['verify', forged]).status, 0);
  const replayed = runCli(['verify', '--replay', '8', forged], 120_000);
  assert.equal(replayed.status, 5);
  assert.match(replayed.stdout, /INVALID .*step 1 logged train loss/);
});

test('import merges bundles into another database, idempotently', () => {
  const db = path.join(tempDir(), 'merged.db');
  const first = runCli(['import', path.join(out, 'bundles'), '--db', db]);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /5 added/);
  assert.match(runCli(['import', ...bundles, '--db', db]).stdout, /0 added, 0 completed, 5 already there/);
});

test('submit records a valid set once, then refuses the same runs as not faster than the record', () => {
  // The micro runs are unofficial (overrides); make official copies the way a calibrated track's runs would be.
  const dir = tempDir();
  const official = bundles.map((file) => {
    const { run, events, code } = readBundle(file);
    const copy = path.join(dir, path.basename(file));
    // The log says what the record says (verify binds the two), so both are made official.
    const officialEvents = events.map((e) => (e.key === 'submission_benchmark' ? { ...e, metadata: { ...e.metadata, official: true, overrides: [] } } : e));
    writeBundle(createBundle({ ...run, track: { ...run.track, official: true, overrides: [] } }, officialEvents, code.files), copy);
    return copy;
  });
  const db = path.join(tempDir(), 'records.db');
  const description = '<script>alert(1)</script> & friends';
  const accepted = runCli(['submit', ...official, '-m', description, '--contributors', 'ada, alan', '--db', db]);
  assert.equal(accepted.status, 0, accepted.stdout + accepted.stderr);
  assert.match(accepted.stdout, /accepted: record #1/);
  const again = runCli(['submit', ...official, '-m', 'again', '--db', db]);
  assert.equal(again.status, 5);
  assert.match(again.stdout, /FAIL\s+beats-record/);
  assert.match(again.stderr, /submission refused: beats-record failed/);
  const tooFew = runCli(['submit', ...official.slice(0, 3), '-m', 'five needed', '--db', db]);
  assert.match(tooFew.stdout, /FAIL\s+enough-runs\s+3 finished runs \(at least 5 needed\)/);
  assert.equal(runCli(['submit', 'no-such-run', '-m', 'x', '--db', db]).status, 2);

  // The accepted record is also a file beside the database, with copies of its bundles: what a repository
  // commits. Importing both into an empty database judges the record again and restores it, date included.
  const claims = fs.readdirSync(path.join(path.dirname(db), 'records'));
  assert.equal(claims.length, 1, 'one claim for one accepted submission');
  const claimFile = path.join(path.dirname(db), 'records', claims[0]!);
  const claim = JSON.parse(fs.readFileSync(claimFile, 'utf8')) as { submittedAt: string; runIds: string[]; description: string };
  assert.equal(claim.description, description);
  const fresh = path.join(tempDir(), 'fresh.db');
  const restored = runCli(['import', path.dirname(db), '--db', fresh]);
  assert.equal(restored.status, 0, restored.stderr);
  assert.match(restored.stdout, /5 added[\s\S]*records: 1 judged again and accepted, 0 already there, 0 refused/);
  const store = ResultsStore.open(fresh);
  try {
    const [record] = store.records();
    assert.deepEqual([...record!.runIds].sort(), [...claim.runIds].sort());
    assert.equal(record!.createdAt, claim.submittedAt);
  } finally {
    store.close();
  }
  assert.match(runCli(['import', path.dirname(db), '--db', fresh]).stdout, /records: 0 judged again and accepted, 1 already there/);
  // An edited claim (a run dropped) is judged like any submission and refused, with its reason.
  const edited = tempDir();
  fs.writeFileSync(path.join(edited, 'claim.json'), JSON.stringify({ ...claim, runIds: claim.runIds.slice(1) }));
  const refused = runCli(['import', path.join(path.dirname(db), 'bundles'), edited, '--db', path.join(tempDir(), 'other.db')]);
  assert.equal(refused.status, 5);
  assert.match(refused.stderr, /record claim refused: .*claim\.json: enough-runs failed \(4 finished runs \(at least 5 needed\)\)/);
});

test('ci: a candidate that no longer reaches the target is a regression (exit 1) with Markdown and JSON reports', () => {
  const dir = tempDir();
  const result = runCli(
    ['ci', '--baseline', path.join(out, 'bundles'), '--track', track, '--backend', 'wasm', '--runs', '2', '--metric', 'steps',
      '--run-args=--preset micro --target 2.8 --steps 30 --lr 1e-6', '--out', path.join(dir, 'runs'),
      '--json', path.join(dir, 'report.json'), '--benchmark-json', path.join(dir, 'bench.json'), '--markdown', path.join(dir, 'summary.md')],
    240_000,
  );
  assert.equal(result.status, 1, result.stderr);
  assert.match(result.stdout, /speedrun ci: ❌ regression/);
  const report = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8'));
  assert.equal(report.verdict, 'regression');
  assert.match(report.reason, /did not reach the target in 2 of 2 runs/);
  const bench = JSON.parse(fs.readFileSync(path.join(dir, 'bench.json'), 'utf8')) as { name: string; unit: string }[];
  assert.deepEqual(bench.map((b) => b.unit), ['s', 's', 'steps']);
  assert.equal(fs.readFileSync(path.join(dir, 'summary.md'), 'utf8'), result.stdout);
});

test('ci: the same code against git HEAD, interleaved with the same seeds, is no regression (exit 0)', (t) => {
  if (!fs.existsSync(path.join(ROOT, '.git'))) return t.skip('not a git checkout');
  const out = tempDir();
  const result = runCli(
    // The shortest runs that still train (one evaluation after the start): six of them, three pairs.
    ['ci', '--baseline', 'HEAD', '--track', track, '--backend', 'wasm', '--runs', '3', '--max-runs', '3', '--metric', 'steps', '--run-args=--preset micro --target 3.0 --steps 50', '--out', out],
    300_000,
  );
  assert.equal(result.status, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /✅ no regression/);
  assert.match(result.stdout, /interleaved with the same seeds/);
  // Same seeds, same code: the steps agree exactly, so the first look rules a 10 % slowdown out.
  assert.match(result.stdout, /a 10 % slowdown is ruled out/);
  assert.match(result.stdout, /Paired noise on steps: 0\.0 % after 3 pairs/);
  assert.match(result.stdout, /\| robust time \(steps × median step\) \|/);
  assert.match(fs.readFileSync(path.join(out, 'paired-changes.svg'), 'utf8'), /^<svg/);
});

test('ci: a baseline that is neither a bundle nor a git ref is an error (exit 2)', () => {
  const result = runCli(['ci', '--baseline', 'no-such-ref-or-file', '--runs', '3']);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /neither an existing bundle path nor a git ref/);
  const tooFew = runCli(['ci', '--baseline', 'HEAD', '--runs', '2']);
  assert.equal(tooFew.status, 2);
  assert.match(tooFew.stderr, /--runs must be at least 3 against a git ref/);
  const detect = runCli(['ci', '--baseline', 'HEAD', '--detect', '0.01']);
  assert.equal(detect.status, 2);
  assert.match(detect.stderr, /--detect \(0.01\) must be above --min-effect \(0.05\)/);
});
