/** Hardware classes that tell CPU generations apart, legacy classes for old fingerprints, and `retime`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { hardwareClassOf, isaSummary, microarchitectureOf, type HardwareFingerprint } from '../harness/hardware.ts';
import { executeRun, type RunRecord } from '../harness/run.ts';
import { ResultsStore } from '../harness/store/database.ts';
import { syntheticRun, TEST_HARDWARE } from './fixtures/records.ts';
import { microPlan, runCli, tempDir } from './utils.ts';

const zen3: HardwareFingerprint = { ...TEST_HARDWARE, cpuManufacturer: 'AMD', cpuBrand: 'EPYC', cpuFlags: ['avx2', 'fma'], cpuFamily: '25', cpuModelNumber: '1', hardwareClass: '' };

test('two machines that differ only in family/model, or only in AVX-512, are different classes', () => {
  const zen4 = { ...zen3, cpuModelNumber: '17' };
  const zen3With512 = { ...zen3, cpuFlags: ['avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl'] };
  assert.equal(hardwareClassOf(zen3), 'AMD EPYC (Zen 3, family 25 model 1, AVX2+FMA) x2');
  assert.equal(hardwareClassOf(zen4), 'AMD EPYC (Zen 4, family 25 model 17, AVX2+FMA) x2');
  assert.notEqual(hardwareClassOf(zen3With512), hardwareClassOf(zen3));
  assert.match(hardwareClassOf({ ...zen3, gpus: ['NVIDIA H200 141 GB'] }), /\+ NVIDIA H200 141 GB$/);
  assert.equal(microarchitectureOf('GenuineIntel', 6, 143), 'Sapphire Rapids');
  assert.equal(microarchitectureOf('AMD', 99, 1), undefined);
  assert.equal(hardwareClassOf({ ...zen3, cpuManufacturer: 'Other', cpuFamily: '99' }), 'Other EPYC (family 99 model 1, AVX2+FMA) x2', 'an unknown generation is named by its numbers');
  assert.equal(isaSummary(['avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_tile']), 'AVX-512+VNNI+BF16+AMX');
  assert.equal(isaSummary(['neon', 'sve']), 'NEON+SVE');
  const { cpuFamily: _f, cpuModelNumber: _m, ...old } = zen3;
  assert.equal(hardwareClassOf(old), 'AMD EPYC x2 (legacy)', 'a fingerprint without family/model is legacy');
});

test('an old database comes back with recomputed classes, or legacy ones where the fingerprint lacks family/model', () => {
  const file = path.join(tempDir(), 'old.db');
  const old = ResultsStore.open(file, { maxVersion: 3 });
  const { cpuFamily: _f, cpuModelNumber: _m, ...legacyHardware } = zen3;
  const legacy = { ...syntheticRun({ id: 'legacy-run', seed: 0 }), hardware: { ...legacyHardware, hardwareClass: 'AMD EPYC x2' } };
  const known = { ...syntheticRun({ id: 'known-run', seed: 1 }), hardware: { ...zen3, hardwareClass: 'AMD EPYC x2' } };
  for (const run of [legacy, known]) old.finishRun(run);
  // What the code of that time wrote: the bare class string, in runs and records.
  old.db.prepare("UPDATE runs SET hardware_class = 'AMD EPYC x2'").run();
  for (const run of [legacy, known]) {
    old.addSubmission(
      { trackId: run.track.id, recipes: 'baseline', description: run.runId, contributors: [], runIds: [run.runId], status: 'accepted', checks: [] },
      { trackId: run.track.id, hardwareClass: 'AMD EPYC x2', recipes: 'baseline', description: run.runId, contributors: [], codeHash: run.codeHash, backend: 'wasm', runs: 1, timeToTargetMs: 1, timeToTargetStdMs: 0, olympicMeanMs: 1, stepsToTarget: 1, tokensToTarget: 1, pValue: 0, runIds: [run.runId] },
    );
  }
  old.close();
  assert.equal(new Database(file).pragma('user_version', { simple: true }), 3);
  const store = ResultsStore.open(file);
  assert.equal(store.run('legacy-run')?.hardwareClass, 'AMD EPYC x2 (legacy)');
  assert.equal(store.run('known-run')?.hardwareClass, 'AMD EPYC (Zen 3, family 25 model 1, AVX2+FMA) x2');
  const classes = store.records().map((r) => [r.description, r.hardwareClass]);
  assert.deepEqual(classes, [['legacy-run', 'AMD EPYC x2 (legacy)'], ['known-run', 'AMD EPYC (Zen 3, family 25 model 1, AVX2+FMA) x2']]);
  store.close();
});

test('retime re-runs a micro record here, interleaved with the current record of this class, and reports both', async () => {
  const out = tempDir();
  const db = path.join(out, 'speedrun.db');
  const store = ResultsStore.open(db);
  const runs: RunRecord[] = [];
  for (const seed of [0]) {
    const plan = await microPlan({ seed, steps: 10, target: 4.0 });
    runs.push(await executeRun(plan, { outDir: out }, { store }));
  }
  const here = store.run(runs[0]!.runId)!.hardwareClass;
  const record = (hardwareClass: string, description: string) =>
    store.addSubmission(
      { trackId: runs[0]!.track.id, recipes: 'baseline', description, contributors: [], runIds: runs.map((r) => r.runId), status: 'accepted', checks: [] },
      { trackId: runs[0]!.track.id, hardwareClass, recipes: 'baseline', description, contributors: [], codeHash: runs[0]!.codeHash, backend: 'cpu', runs: 1, timeToTargetMs: 1000, timeToTargetStdMs: 0, olympicMeanMs: 1000, stepsToTarget: 10, tokensToTarget: 1, pValue: 0, runIds: runs.map((r) => r.runId) },
    )!;
  const oldId = record('Old CPU x2 (legacy)', 'set elsewhere');
  const currentId = record(here, 'current here');
  store.close();
  const result = runCli(['retime', String(oldId), '--db', db, '--out', out, '-q']);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`re-timed record #${oldId} \\(baseline on text:.*\\), set on Old CPU x2 \\(legacy\\) at 1\\.0 s`));
  assert.match(result.stdout, /here, on .*: mean .* over \d of 1 runs/);
  assert.match(result.stdout, new RegExp(`current record of this class, record #${currentId} \\(baseline\\), interleaved`));
  assert.match(result.stdout, /next: speedrun submit \S+ -m/);
  // Two new runs, the record's then the current record's, each of the seed it repeats.
  const after = ResultsStore.open(db);
  const added = after.runs().slice(1);
  after.close();
  assert.deepEqual(added.map((r) => r.seed), [0, 0]);
  assert.equal(runCli(['retime', '999', '--db', db]).status, 2, 'an unknown record id is bad input');
});

test('retime --from-bundle runs a record whose sources differ from this checkout from its own bundled sources', async () => {
  const { spawnSync } = await import('node:child_process');
  const fs = await import('node:fs');
  const { checkoutOfBundle } = await import('../harness/retime.ts');
  const { codeFiles, hashCodeFiles } = await import('../harness/environment.ts');
  const { readBundle } = await import('../harness/store/bundle.ts');
  const { ROOT } = await import('./utils.ts');
  const out = tempDir();
  const db = path.join(out, 'speedrun.db');
  // Sources that differ from this checkout by one comment: a record made with "other code".
  const files = { ...codeFiles() };
  files['harness/names.ts'] += '\n// a record made with other sources\n';
  const other = { run: { runId: 'other' }, code: { hash: hashCodeFiles(files), files } } as unknown as Parameters<typeof checkoutOfBundle>[0];
  const dir = checkoutOfBundle(other, ROOT, tempDir());
  assert.equal(hashCodeFiles(codeFiles(dir)), other.code.hash, 'the laid-out sources hash to the bundle');
  const text = path.join(out, 'fixture.txt');
  fs.writeFileSync(text, (await import('./utils.ts')).fixtureText());
  const made = spawnSync(process.execPath, ['--import', 'tsx', path.join(dir, 'entry.mjs'), '--track', `text:${text}`, '--preset', 'micro', '--backend', 'cpu', '--steps', '10', '--target', '4', '--out', out, '--db', path.join(dir, 'runs.db'), '-q'], { cwd: dir, encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const [bundleFile] = fs.readdirSync(path.join(out, 'bundles'));
  const bundle = readBundle(path.join(out, 'bundles', bundleFile!));
  assert.equal(bundle.run.codeHash, other.code.hash);
  const store = ResultsStore.open(db);
  store.importBundle(bundle, path.join(out, 'bundles', bundleFile!));
  const r = bundle.run;
  const id = store.addSubmission(
    { trackId: r.track.id, recipes: 'baseline', description: 'other code', contributors: [], runIds: [r.runId], status: 'accepted', checks: [] },
    { trackId: r.track.id, hardwareClass: 'Old CPU x2 (legacy)', recipes: 'baseline', description: 'other code', contributors: [], codeHash: r.codeHash, backend: 'cpu', runs: 1, timeToTargetMs: 1000, timeToTargetStdMs: 0, olympicMeanMs: 1000, stepsToTarget: 10, tokensToTarget: 1, pValue: 0, runIds: [r.runId] },
  )!;
  store.close();
  const result = runCli(['retime', String(id), '--from-bundle', '--db', db, '--out', out, '-q']);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr, /from the bundle's sources/);
  assert.match(result.stdout, /re-timed record #\d+ .*\n  here, on .*: mean/);
  const after = ResultsStore.open(db);
  const newest = after.runs().at(-1)!;
  after.close();
  assert.equal(newest.codeHash, other.code.hash, "the re-timed run ran the record's own code");
  assert.notEqual(newest.id, r.runId);
});
