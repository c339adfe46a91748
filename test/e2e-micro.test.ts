/** The whole CLI on the embedded wasm backend: a micro run reaches a loose target and leaves its record. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtureTextFile, runCli, tempDir } from './utils.ts';

test('speedrun --preset micro on wasm reaches a loose target, prints a summary and MLLOG lines', () => {
  const out = tempDir();
  const started = Date.now();
  const result = runCli(['--track', `text:${fixtureTextFile()}`, '--preset', 'micro', '--backend', 'wasm', '--target', '2.4', '--steps', '300', '--out', out, '--mllog']);
  const seconds = (Date.now() - started) / 1000;
  assert.equal(result.status, 0, result.stderr);
  assert.ok(seconds < 60, `took ${seconds} s`);
  assert.match(result.stderr, /status\s+success/);
  assert.match(result.stderr, /backend\s+wasm \(@tensorflow\/tfjs-backend-wasm 4\.22\.0, \d threads?\)/);
  const mllog = result.stdout.split('\n').filter((l) => l.startsWith(':::MLLOG '));
  const keys = mllog.map((l) => JSON.parse(l.slice(':::MLLOG '.length)).key);
  for (const key of ['init_start', 'init_stop', 'run_start', 'eval_loss', 'run_stop']) assert.ok(keys.includes(key), `MLLOG has ${key}`);
  const [runDir] = fs.readdirSync(path.join(out, 'runs'));
  const record = JSON.parse(fs.readFileSync(path.join(out, 'runs', runDir!, 'run.json'), 'utf8'));
  assert.equal(record.status, 'success');
  assert.ok(record.timeToTargetMs > 0 && record.timeToTargetMs <= record.trainTimeMs);
  assert.equal(record.backend.name, 'wasm');
  assert.ok(record.backend.threads >= 1);
  assert.match(record.codeHash, /^[0-9a-f]{64}$/);
  assert.match(record.track.dataHash, /^[0-9a-f]{64}$/);
});

test('a target that is never reached exits 3 and still records the run', () => {
  const out = tempDir();
  const result = runCli(['--track', `text:${fixtureTextFile()}`, '--preset', 'micro', '--backend', 'wasm', '--target', '0.01', '--steps', '5', '--out', out, '-q']);
  assert.equal(result.status, 3, result.stderr);
  assert.match(result.stderr, /status\s+budget_exhausted/);
  const [runDir] = fs.readdirSync(path.join(out, 'runs'));
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'runs', runDir!, 'run.json'), 'utf8')).status, 'budget_exhausted');
});

// Ctrl-C, and the SIGTERM / SIGHUP that Kubernetes, Slurm and a closed terminal send, end a run the same way.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) test(`${signal} ends a CLI run as aborted with exit 130 and keeps what was measured`, async () => {
  const { spawn } = await import('node:child_process');
  const { ROOT } = await import('./utils.ts');
  const out = tempDir();
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'speedrun.js'), '--track', `text:${fixtureTextFile()}`, '--preset', 'micro', '--backend', 'wasm', '--target', '0.01', '--steps', '100000', '--out', out, '-q'], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Wait until training has logged a few steps, then interrupt.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const runs = fs.existsSync(path.join(out, 'runs')) ? fs.readdirSync(path.join(out, 'runs')) : [];
    const log = runs[0] ? path.join(out, 'runs', runs[0], 'events.jsonl') : '';
    if (log && fs.existsSync(log) && (fs.readFileSync(log, 'utf8').match(/"train_loss"/g) ?? []).length >= 5) break;
    assert.ok(Date.now() < deadline, 'training did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill(signal);
  assert.equal(await exited, 130, stderr);
  assert.match(stderr, /status\s+aborted/);
  const [runDir] = fs.readdirSync(path.join(out, 'runs'));
  const record = JSON.parse(fs.readFileSync(path.join(out, 'runs', runDir!, 'run.json'), 'utf8'));
  assert.equal(record.status, 'aborted');
  assert.ok(record.steps >= 5);
  // The database row and the bundle keep what was measured.
  const { ResultsStore } = await import('../harness/store/database.ts');
  const store = ResultsStore.open(path.join(out, 'speedrun.db'));
  const stored = store.run(record.runId);
  assert.equal(stored?.status, 'aborted');
  assert.equal(stored?.steps, record.steps);
  assert.ok(stored?.bundlePath && fs.existsSync(stored.bundlePath));
  store.close();
});
