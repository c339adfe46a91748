/**
 * `run --exec`: any trainer launched and timed from its log, each outcome recorded with its reason, nothing left
 * running, and its bundle verifiable and importable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ResultsStore } from '../harness/store/database.ts';
import { verifyFiles } from '../harness/verifyBundles.ts';
import { createExecBundle, type ExecBundle } from '../harness/external/execBundle.ts';
import { ROOT, runMain, tempDir } from './utils.ts';

/** A trainer script printing modded-nanogpt's step lines, `evals` of them, the last at `final`. */
function trainer(dir: string, body: string): string {
  const file = path.join(dir, 'train.sh');
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

const GOOD = [
  'echo "Running PyTorch 2.10.0+cu128 compiled for CUDA 12.8"',
  'echo "|   0  NVIDIA H200                    On  |   00000000:8D:00.0 Off |                    0 |"',
  'echo "step:0/20 val_loss:10.8 train_time:0ms step_avg:0ms"',
  'echo "step:10/20 val_loss:3.40 train_time:500ms step_avg:50ms"',
  'echo "step:20/20 val_loss:3.20 train_time:1000ms step_avg:50ms"',
].join('\n');

test('run --exec: a trainer reaching the target is a success, timed by its own clock, recorded and verifiable', async () => {
  const dir = tempDir();
  const script = trainer(dir, GOOD);
  const out = path.join(dir, 'results');
  const result = await runMain(['run', '--exec', `sh ${script}`, '--log-format', 'modded-nanogpt', '--target', '3.28', '--source', script, '--out', out, '-q']);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr, /status\s+success/);
  assert.match(result.stderr, /time to target\s+1\.0 s \(the trainer's train clock\)/);
  assert.match(result.stderr, /hardware\s+NVIDIA H200 x1/);
  const [bundle] = fs.readdirSync(path.join(out, 'bundles'));
  const file = path.join(out, 'bundles', bundle!);
  const [verdict] = await verifyFiles([file], undefined);
  assert.equal(verdict!.status, 'valid', verdict!.detail);
  // A forger who moves the time to target, even resealing the checksum, is caught by the evaluations.
  const forged = JSON.parse(fs.readFileSync(file, 'utf8')) as ExecBundle;
  const edited = createExecBundle({ ...forged.run, timeToTargetMs: 100 }, forged.sources);
  const forgedFile = path.join(dir, 'forged.json');
  fs.writeFileSync(forgedFile, JSON.stringify(edited));
  const [refused] = await verifyFiles([forgedFile], undefined);
  assert.equal(refused!.status, 'invalid');
  assert.match(refused!.detail, /do not follow from the evaluations/);
  const db = path.join(dir, 'other.db');
  const imported = await runMain(['import', file, '--db', db]);
  assert.match(imported.stdout, /run --exec\): 1 added/);
  const store = ResultsStore.open(db);
  try {
    const [run] = store.execRuns();
    assert.equal(run!.status, 'success');
    assert.equal(run!.timeToTargetMs, 1000);
  } finally {
    store.close();
  }
});

test('run --exec: every failure is recorded with its reason and its exit code', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'results');
  const cases: [string, number, RegExp][] = [
    ['no-such-trainer-xyz', 6, /failed \(the trainer exited with code 127/],
    ['echo garbage; exit 0', 6, /failed \(its output is not a readable modded-nanogpt log: no step lines/],
    ['echo "step:0/20 val_loss:10.8 train_time:0ms"; exit 1', 6, /failed \(the trainer exited with code 1\)/],
    ['echo "step:0/20 val_loss:10.8 train_time:0ms"; echo "step:20/20 val_loss:4.0 train_time:9ms"', 3, /budget_exhausted \(finished at step 20 with 4, above the target 3\.28\)/],
    ['echo "step:0/20 val_loss:nan train_time:0ms"', 4, /diverged \(line 1: val_loss is NaN at step 0\)/],
    ['sleep 30', 3, /budget_exhausted \(stopped at --max-time 1 s of wall time/],
  ];
  for (const [command, code, reason] of cases) {
    const result = await runMain(['run', '--exec', command, '--log-format', 'modded-nanogpt', '--target', '3.28', '--max-time', '1', '--out', out, '-q']);
    assert.equal(result.status, code, `${command}: ${result.stderr}`);
    assert.match(result.stderr, reason, command);
  }
  const store = ResultsStore.open(path.join(out, 'speedrun.db'));
  try {
    assert.deepEqual(store.execRuns().map((r) => r.status), ['failed', 'failed', 'failed', 'budget_exhausted', 'diverged', 'budget_exhausted']);
  } finally {
    store.close();
  }
  const bad = await runMain(['run', '--exec', 'true', '--target', '3']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--exec needs --log-format/);
});

test('run --exec: SIGTERM stops the trainer\'s whole group, a child ignoring it included, and records the run as aborted (exit 130)', async () => {
  const dir = tempDir();
  const pidFile = path.join(dir, 'child.pid');
  const script = trainer(dir, `echo "step:0/20 val_loss:10.8 train_time:0ms"\nsh -c 'trap "" TERM; echo $$ > ${pidFile}; while true; do sleep 1; done' &\nwait`);
  const out = path.join(dir, 'results');
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'speedrun.js'), 'run', '--exec', `sh ${script}`, '--log-format', 'modded-nanogpt', '--target', '3.28', '--out', out, '-q'], { stdio: 'ignore' });
  const deadline = Date.now() + 60_000;
  while (!fs.existsSync(pidFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 200));
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 130);
  const stubborn = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.throws(() => process.kill(stubborn, 0), /ESRCH/, 'the child that ignored SIGTERM did not outlive speedrun');
  const store = ResultsStore.open(path.join(out, 'speedrun.db'));
  try {
    const [run] = store.execRuns();
    assert.equal(run!.status, 'aborted');
    assert.ok(run!.bundlePath && fs.existsSync(run!.bundlePath));
  } finally {
    store.close();
  }
});
