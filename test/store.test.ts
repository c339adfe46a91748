/** The results database: migrations, concurrent writers, runs killed hard, and what a run leaves in it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { executeRun } from '../harness/run.ts';
import { ResultsStore } from '../harness/store/database.ts';
import { SCHEMA_VERSION } from '../harness/store/migrations.ts';
import { syntheticRun } from './fixtures/records.ts';
import { microPlan, ROOT, tempDir } from './utils.ts';

const WRITER = path.join(ROOT, 'test', 'fixtures', 'store-writer.ts');

function spawnWriter(args: string[]) {
  return spawn(process.execPath, ['--import', 'tsx', WRITER, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

test('a fresh database gets every migration, in WAL mode', () => {
  const store = ResultsStore.open(path.join(tempDir(), 'fresh.db'));
  assert.equal(store.schemaVersion, SCHEMA_VERSION);
  assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
  const tables = (store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
  for (const t of ['runs', 'eval_points', 'submissions', 'records', 'record_runs']) assert.ok(tables.includes(t), t);
  store.close();
});

test('an older database is migrated in place and keeps its runs', () => {
  const file = path.join(tempDir(), 'old.db');
  const old = ResultsStore.open(file, { maxVersion: 1 });
  assert.equal(old.schemaVersion, 1);
  // A version-1 row, written the way version 1 wrote it (no hardware columns yet).
  old.db
    .prepare(
      `INSERT INTO runs (id, status, track_id, track_name, track_version, data_hash, target, official, recipes, config, seed, backend,
        backend_info, environment, code_hash, host, pid, started_at, time_to_target_ms) VALUES
        ('old-run', 'success', 'brown-char@1', 'brown-char', 1, 'd', 2.46, 1, 'baseline', '{}', 0, 'wasm', '{}', '{}', 'c', 'h', 1, 't', 123)`,
    )
    .run();
  old.close();
  const store = ResultsStore.open(file);
  assert.equal(store.schemaVersion, SCHEMA_VERSION);
  const run = store.run('old-run');
  assert.equal(run?.timeToTargetMs, 123);
  assert.equal(run?.hardwareClass, 'unknown (legacy)', 'no fingerprint to recompute a class from: legacy');
  assert.equal(run?.workers, 1);
  assert.deepEqual(store.records(), []);
  store.close();
});

test('a database from a newer speedrun is refused with a clear error', () => {
  const file = path.join(tempDir(), 'newer.db');
  const db = new Database(file);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  assert.throws(() => ResultsStore.open(file), /newer than this speedrun/);
});

test('four processes writing one database at once lose nothing', async () => {
  const file = path.join(tempDir(), 'shared.db');
  ResultsStore.open(file).close();
  const perWriter = 40;
  const writers = ['a', 'b', 'c', 'd'].map((name) => spawnWriter(['insert', file, name, String(perWriter)]));
  const codes = await Promise.all(writers.map((w) => new Promise<number | null>((resolve) => w.on('close', resolve))));
  assert.deepEqual(codes, [0, 0, 0, 0]);
  const store = ResultsStore.open(file);
  assert.equal(store.runs().length, 4 * perWriter);
  assert.equal(store.runs({ status: 'success' }).length, 4 * perWriter);
  const points = store.db.prepare('SELECT COUNT(*) AS n FROM eval_points').get() as { n: number };
  assert.equal(points.n, 4 * perWriter * syntheticRun({ id: 'x' }).evals.length, 'every evaluation point of every run');
  assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
  store.close();
});

test('a run killed hard (SIGKILL) is shown as aborted afterwards, with the points it measured', async () => {
  const file = path.join(tempDir(), 'killed.db');
  const writer = spawnWriter(['hang', file, 'doomed']);
  await new Promise<void>((resolve, reject) => {
    writer.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('started') && resolve());
    writer.on('close', () => reject(new Error('writer ended early')));
  });
  const before = ResultsStore.open(file);
  assert.equal(before.run('doomed')?.status, 'running', 'a live run is left alone');
  before.close();
  writer.kill('SIGKILL');
  await new Promise((resolve) => writer.on('close', resolve));
  const after = ResultsStore.open(file);
  const run = after.run('doomed');
  assert.equal(run?.status, 'aborted');
  assert.match(run!.reason, /killed/);
  assert.equal(after.evals('doomed').length, 1);
  after.close();
});

test('a run is in the database from its start and finalized with its evaluation points and bundle', async () => {
  const out = tempDir();
  const store = ResultsStore.open(path.join(out, 'speedrun.db'));
  const plan = await microPlan({ steps: 20 });
  let statusDuringRun: string | undefined;
  const record = await executeRun(plan, { outDir: out }, {
    store,
    observer: {
      onStep: () => {
        statusDuringRun ??= store.run(plan.runId)?.status;
      },
    },
  });
  assert.equal(statusDuringRun, 'running');
  const stored = store.run(plan.runId)!;
  assert.equal(stored.status, record.status);
  assert.equal(stored.steps, 20);
  assert.equal(stored.trainTimeMs, record.trainTimeMs);
  assert.equal(stored.bundlePath, record.bundle);
  assert.deepEqual(store.evals(plan.runId), record.evals);
  store.close();
});

test('importing a bundle twice is a no-op; a different bundle under the same id is refused', async () => {
  const store = ResultsStore.open(path.join(tempDir(), 'import.db'));
  const { createBundle } = await import('../harness/store/bundle.ts');
  const bundle = createBundle(syntheticRun({ id: 'imported' }), [], { 'harness/x.ts': 'x' });
  assert.equal(store.importBundle(bundle, '/tmp/imported.json'), 'added');
  assert.equal(store.importBundle(bundle, '/tmp/imported.json'), 'unchanged');
  const other = createBundle(syntheticRun({ id: 'imported', timeToTargetMs: 1 }), [], { 'harness/x.ts': 'x' });
  assert.throws(() => store.importBundle(other, '/tmp/other.json'), /different bundle/);
  assert.equal(store.run('imported')?.workers, 1);
  store.importBundle(createBundle(syntheticRun({ id: 'two-workers', workers: 2 }), [], { 'harness/x.ts': 'x' }), '/tmp/two.json');
  assert.equal(store.run('two-workers')?.workers, 2, 'the worker count comes from the record');
  assert.equal(store.run('imported')?.timeToTargetMs, 150_000);
  store.close();
});
