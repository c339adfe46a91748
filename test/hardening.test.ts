/**
 * Hostile inputs and lost-data cases: forged and malformed bundles, names that would become paths outside their
 * directory, a run whose bundle cannot be written, empty splits, real-size text for `data prepare`, and the
 * interoperability of the event log with MLPerf's compliance rule for run_stop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { encode } from 'gpt-tokenizer/encoding/r50k_base';
import { UserError, EXIT } from '../harness/errors.ts';
import { checkName } from '../harness/names.ts';
import { executeRun, resolveRun } from '../harness/run.ts';
import { canonicalJson, createBundle, parseBundle, readBundle, verifyBundle, type RunBundle } from '../harness/store/bundle.ts';
import { ResultsStore } from '../harness/store/database.ts';
import { judgeSubmission } from '../harness/submit.ts';
import { gpt2Decode, prepareShards } from '../harness/data/prepare.ts';
import { loadShardDir, writeShard } from '../harness/data/shards.ts';
import { kubernetesJob, slurmScript, type MatrixSpec } from '../harness/matrix.ts';
import { syntheticRun } from './fixtures/records.ts';
import { microPlan, runCli, runMain, tempDir } from './utils.ts';

let realBundle: RunBundle | undefined;
async function bundleOfRealRun(): Promise<RunBundle> {
  if (!realBundle) {
    const plan = await microPlan({ steps: 20, target: 3.2 });
    realBundle = readBundle((await executeRun(plan, { outDir: tempDir() })).bundle);
  }
  return structuredClone(realBundle);
}

/** A forger's edit: change the record, then recompute the checksum with the project's own canonical JSON. */
const reseal = (bundle: RunBundle): RunBundle => createBundle(bundle.run, bundle.events, bundle.code.files);
const problemsOf = (bundle: RunBundle): string => {
  const verdict = verifyBundle(bundle);
  return verdict.status === 'valid' ? '' : verdict.problems.join('; ');
};
const rejects = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof UserError && e.exitCode === EXIT.rejected && message.test(e.message) && !e.message.includes('\n'));

test('names that become paths: one pattern, no separators, no leading dot', () => {
  for (const ok of ['20261123T161911-brown-char-baseline-s0-ffe5f5', 'muon+rotary', 'a.b_c-d']) assert.equal(checkName('x', ok), ok);
  for (const bad of ['../../x', 'a/b', '/abs', '..', '.hidden', '', 'a\\b', 'x'.repeat(201), 'a b']) assert.throws(() => checkName('--name', bad), UserError, bad);
});

test('a bundle whose run id climbs out of its directory is refused when read (exit 5)', async () => {
  const bundle = await bundleOfRealRun();
  for (const runId of ['../../../../x', 'a/b', '.x']) {
    const forged = reseal({ ...bundle, run: { ...bundle.run, runId } });
    rejects(() => parseBundle(JSON.stringify(forged), 'forged.json'), /run\.runId: run id: letters, digits/);
  }
});

test('the leaderboard never writes outside its directory, even from a hostile database', async () => {
  const { renderSite } = await import('../harness/leaderboard/render.ts');
  const dir = tempDir();
  const store = ResultsStore.open(path.join(dir, 'db', 'speedrun.db'));
  const bundleFile = path.join(dir, 'some-bundle.json');
  fs.writeFileSync(bundleFile, '{}');
  const runs = [0, 1, 2, 3, 4].map((seed) => syntheticRun({ id: seed === 0 ? '../../evil' : `ok-${seed}`, seed, timeToTargetMs: 150_000 + seed, finalValLoss: 2.45 - seed * 0.001 }));
  for (const run of runs) store.finishRun(run, { path: bundleFile, checksum: 'x' });
  const decision = judgeSubmission({ runs, bundleProblems: {}, description: 'd', contributors: [], referenceSteps: [] });
  assert.equal(decision.status, 'accepted');
  if (decision.status !== 'accepted') return;
  store.addSubmission({ trackId: runs[0]!.track.id, recipes: 'baseline', description: 'd', contributors: [], runIds: decision.record.runIds, status: 'accepted', checks: [] }, decision.record);
  const out = path.join(dir, 'site', 'inner');
  await renderSite(store, out);
  store.close();
  assert.ok(!fs.existsSync(path.join(out, '..', '..', 'evil.json')) && !fs.existsSync(path.join(dir, 'evil.json')), 'nothing written outside the site');
  assert.ok(fs.existsSync(path.join(out, 'bundles', 'ok-1.json')), 'safe ids are copied as before');
});

test('verify binds the record to its own event log: a copied run with another seed, an unknown recipe', async () => {
  const bundle = await bundleOfRealRun();
  const seed = structuredClone(bundle);
  seed.run.config.train.seed = 1;
  seed.run.runId = `${seed.run.runId}-copy`;
  assert.match(problemsOf(reseal(seed)), /seed: the log says 0, the record says 1/);
  const recipe = structuredClone(bundle);
  recipe.run.recipes = ['<script>alert(4)</script>'];
  recipe.events.find((e) => e.key === 'recipes')!.value = recipe.run.recipes;
  assert.match(problemsOf(reseal(recipe)), /unknown recipes/);
  const track = structuredClone(bundle);
  track.run.track.dataHash = 'e'.repeat(64);
  assert.match(problemsOf(reseal(track)), /track: the log says/);
  const backend = structuredClone(bundle);
  backend.run.backend = { ...backend.run.backend, name: 'native' };
  assert.match(problemsOf(reseal(backend)), /backend: the log and the record differ/);
  const config = structuredClone(bundle);
  config.run.config.train.lr *= 2;
  assert.match(problemsOf(reseal(config)), /config: the log \(run_start\) and the record differ/);
  const hardware = structuredClone(bundle);
  hardware.run.hardware = { ...hardware.run.hardware, cpuCores: 64 };
  assert.match(problemsOf(reseal(hardware)), /hardware: the log and the record differ/);
  assert.equal(problemsOf(bundle), '', 'the untouched bundle still verifies');
});

test('the record rules refuse copies of one run (identical loss curves) even with distinct seeds', () => {
  const one = syntheticRun({ id: 'r0', seed: 0 });
  const copies = [0, 1, 2, 3, 4].map((seed) => ({ ...structuredClone(one), runId: `r${seed}`, config: { ...one.config, train: { ...one.config.train, seed } } }));
  const decision = judgeSubmission({ runs: copies, bundleProblems: {}, description: 'd', contributors: [], referenceSteps: [] });
  assert.equal(decision.status, 'refused');
  const failed = decision.checks.filter((c) => c.status === 'fail');
  assert.deepEqual(failed.map((c) => c.rule), ['independent-runs']);
  assert.match(failed[0]!.detail, /identical validation loss curves/);
});

test('malformed bundles are one-line refusals (exit 5), never a TypeError', async () => {
  const bundle = await bundleOfRealRun();
  const cases: [string, (b: Record<string, any>) => void, RegExp][] = [
    ['run.evals deleted', (b) => delete b.run.evals, /run\.evals/],
    ['run: {}', (b) => (b.run = {}), /run\.runId/],
    ['code.files deleted', (b) => delete b.code.files, /code\.files/],
    ['a null event', (b) => (b.events[3] = null), /events\.3/],
    ['an event without metadata', (b) => delete b.events[2].metadata, /events\.2\.metadata/],
    ['events not an array', (b) => (b.events = {}), /events/],
  ];
  for (const [what, edit, message] of cases) {
    const b = structuredClone(bundle) as unknown as Record<string, any>;
    edit(b);
    rejects(() => parseBundle(JSON.stringify(b), 'b.json'), message);
    assert.ok(what);
  }
  rejects(() => parseBundle('{"kind": "speedrun-run-bundle", "version": 1', 'cut.json'), /not a readable run bundle/);
});

/** Every path to a value in a JSON tree. */
function jsonPaths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => jsonPaths(v, [...prefix, i], out));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) jsonPaths(v, [...prefix, k], out);
  return out;
}

test('property: verify never throws on a randomly mutated bundle and accepts only the unmutated one', async () => {
  const original = await bundleOfRealRun();
  const text = JSON.stringify(original);
  // Sample the record and the log's non-step events more often than the thousands of per-step values.
  const all = jsonPaths(original).filter((p) => p.length > 0);
  const interesting = all.filter((p) => p[0] !== 'events' || !['train_loss'].includes(String((original.events[p[1] as number] as { key?: string } | undefined)?.key)));
  const DELETE = Symbol('delete');
  fc.assert(
    fc.property(fc.nat(), fc.oneof(fc.constant(DELETE), fc.jsonValue({ maxDepth: 2 })), (pick, replacement) => {
      const mutated = JSON.parse(text) as Record<string, unknown>;
      const where = interesting[pick % interesting.length]!;
      let parent = mutated as Record<string | number, unknown>;
      for (const key of where.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
      const last = where.at(-1)!;
      if (replacement === DELETE) {
        if (Array.isArray(parent)) parent.splice(last as number, 1);
        else delete parent[last];
      } else {
        parent[last] = replacement;
      }
      const mutatedText = JSON.stringify(mutated);
      let verdict: 'valid' | 'invalid';
      try {
        verdict = verifyBundle(parseBundle(mutatedText, 'm.json')).status;
      } catch (error) {
        if (!(error instanceof UserError) || error.exitCode !== EXIT.rejected) throw error;
        verdict = 'invalid';
      }
      const changed = canonicalJson(JSON.parse(mutatedText)) !== canonicalJson(original);
      assert.equal(verdict, changed ? 'invalid' : 'valid', `${where.join('.')} -> ${JSON.stringify(replacement === DELETE ? 'deleted' : replacement)}`);
    }),
    { numRuns: 300, seed: 20261201 },
  );
});

test('a finished run whose bundle cannot be written keeps its true status in the database', async () => {
  const out = tempDir();
  fs.writeFileSync(path.join(out, 'bundles'), 'a file where the bundles directory should be');
  const store = ResultsStore.open(path.join(out, 'speedrun.db'));
  const plan = await microPlan({ steps: 10, target: 0.01 });
  await assert.rejects(executeRun(plan, { outDir: out }, { store }), (e: unknown) => e instanceof UserError && /finished \(budget_exhausted\).*bundle could not be written.*(ENOTDIR|EEXIST)/.test(e.message));
  const row = store.run(plan.runId);
  assert.equal(row?.status, 'budget_exhausted');
  assert.equal(row?.steps, 10);
  assert.equal(row?.bundlePath, null);
  assert.ok(fs.existsSync(path.join(out, 'runs', plan.runId, 'run.json')));
  store.close();
});

test('an empty train split is refused while resolving, before a run directory or row exists', async () => {
  const dir = tempDir();
  writeShard(path.join(dir, 'd_train_000001.bin'), []);
  writeShard(path.join(dir, 'd_val_000000.bin'), Array.from({ length: 5000 }, (_, i) => i % 500));
  await assert.rejects(resolveRun({ recipe: 'baseline', track: `shards:${dir}`, backend: 'cpu', seed: 0, preset: 'micro', steps: 5 }), /the train split has 0 tokens/);
});

/** Deterministic English-like text with paragraphs, long lines and a few non-ASCII characters. */
function generatedText(bytes: number): string {
  const words = ['the', 'river', 'ran', 'past', 'Romeo', 'and', 'Juliet', 'café', 'naïve', '—', 'THOU', "don't", '1984', 'co-op', 'über', '!?'];
  let state = 7;
  const parts: string[] = [];
  let size = 0;
  while (size < bytes) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const word = words[(state >>> 16) % words.length]!;
    const sep = (state & 31) === 0 ? '\n\n' : (state & 7) === 0 ? '\n' : (state & 63) === 1 ? '   ' : ' ';
    parts.push(word, sep);
    size += word.length + sep.length;
  }
  return parts.join('');
}

test('data prepare streams: the tokens equal those of the whole text, cut into pieces anywhere', () => {
  const dir = tempDir();
  const text = generatedText(200_000);
  fs.writeFileSync(path.join(dir, 'in.txt'), text);
  const result = prepareShards({ inputs: [path.join(dir, 'in.txt')], outDir: path.join(dir, 'out'), name: 'g', valFraction: 0.1, shardTokens: 7_000, pieceBytes: 997 });
  const data = loadShardDir(path.join(dir, 'out'), gpt2Decode);
  assert.deepEqual([...data.train, ...data.val], [50256, ...encode(text)]);
  assert.ok(result.files.length > 5, 'training tokens are split into shards as they fill');
  assert.ok(Math.abs(result.valTokens / (result.trainTokens + result.valTokens) - 0.1) < 0.01, 'about a tenth is validation');
});

test('data prepare handles several MB of text, and refuses unsafe names and overwrites', () => {
  const dir = tempDir();
  const input = path.join(dir, 'big.txt');
  const text = generatedText(5_000_000);
  fs.writeFileSync(input, text);
  const out = path.join(dir, 'out');
  const result = prepareShards({ inputs: [input, input], outDir: out, name: 'big', valFraction: 0.05, shardTokens: 100_000_000 });
  assert.equal(result.files.length, 2);
  const data = loadShardDir(out, gpt2Decode);
  assert.equal(data.decode(data.val).length + data.decode(data.train).length, 2 * (text.length + '<|endoftext|>'.length));
  assert.throws(() => prepareShards({ inputs: [input], outDir: out, name: 'big', valFraction: 0.1, shardTokens: 1000 }), /already holds 2 'big' shard\(s\).*--force/);
  for (const name of ['../../x', '/abs', 'a/b']) assert.throws(() => prepareShards({ inputs: [input], outDir: out, name, valFraction: 0.1, shardTokens: 1000 }), /is not a safe name/);
  const forced = prepareShards({ inputs: [input], outDir: out, name: 'big', valFraction: 0.1, shardTokens: 10_000_000, force: true });
  assert.equal(fs.readdirSync(out).length, forced.files.length, 'old shards replaced, none left over');
  // A file that turns out not to be UTF-8 half-way leaves no partial shard set behind.
  const bad = path.join(dir, 'bad.txt');
  fs.writeFileSync(bad, Buffer.concat([Buffer.from(text.slice(0, 100_000)), Buffer.from([0xff, 0xfe]), Buffer.from(' end')]));
  const badOut = path.join(dir, 'bad-out');
  assert.throws(() => prepareShards({ inputs: [bad], outDir: badOut, name: 'b', valFraction: 0.1, shardTokens: 1000, pieceBytes: 4096 }), /is not valid UTF-8 text/);
  assert.deepEqual(fs.readdirSync(badOut), []);
});

test('run_stop carries MLPerf\'s metadata.status (compliance checker rule) beside speedrun\'s own status', async () => {
  const bundle = await bundleOfRealRun();
  const stop = bundle.events.find((e) => e.key === 'run_stop')!;
  assert.ok(['success', 'aborted'].includes(stop.metadata.status as string));
  assert.equal(stop.metadata.speedrun_status, bundle.run.status);
  // The same through --mllog, as a log scraper reads it.
  const out = tempDir();
  fs.writeFileSync(path.join(out, 't.txt'), generatedText(40_000));
  const run = runCli(['--track', `text:${path.join(out, 't.txt')}`, '--preset', 'micro', '--backend', 'cpu', '--steps', '3', '--target', '0.01', '--mllog', '-q', '--out', out]);
  assert.equal(run.status, EXIT.targetNotReached, run.stderr);
  const lines = run.stdout.split('\n').filter((l) => l.startsWith(':::MLLOG ')).map((l) => JSON.parse(l.slice(9)) as { key: string; metadata: Record<string, unknown> });
  const mlStop = lines.find((l) => l.key === 'run_stop');
  assert.ok(mlStop && 'status' in mlStop.metadata, 'run_stop has metadata.status');
  assert.equal(mlStop.metadata.status, 'aborted');
  assert.equal(mlStop.metadata.speedrun_status, 'budget_exhausted');
});

test('matrix refuses scheduler numbers a scheduler would not take', () => {
  const spec: MatrixSpec = { recipes: ['baseline'], tracks: ['brown-char'], seeds: 5, firstSeed: 0, backend: 'auto', runArgs: [] };
  const cluster = { name: 'm', image: 'i', workdir: '/w', results: '/r', parallelism: 4, cpus: 2 };
  for (const bad of [{ parallelism: 0 }, { parallelism: -1 }, { parallelism: 1.5 }, { cpus: Number.NaN }, { cpus: 0 }]) {
    assert.throws(() => slurmScript(spec, { ...cluster, ...bad }), /matrix: --(parallelism|cpus) must be/);
    assert.throws(() => kubernetesJob(spec, { ...cluster, ...bad }), /matrix: --(parallelism|cpus) must be/);
  }
  assert.match(slurmScript(spec, cluster), /--array=0-4%4/);
});

test('bad numbers and unusable paths are one line with exit 2, and a bad bundle is exit 5 for verify and import alike', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, 'x');
  const cases: [string[], RegExp][] = [
    [['--steps', 'abc'], /--steps must be a number, got "abc"/],
    [['matrix', 'slurm', '--cpus', 'abc'], /--cpus must be a number, got "abc"/],
    [['--out', path.join(file, 'x'), '--steps', '1', '--backend', 'cpu', '--preset', 'micro'], /cannot mkdir .*a part of the path is a file/],
    [['runs', '--db', path.join(file, 'x.db')], /cannot mkdir .*exists and is not a directory/],
    [['leaderboard', '--out', path.join(file, 'site')], /cannot mkdir .*a part of the path is a file/],
    [['data', 'prepare', '--input', file, '--out', path.join(file, 'o')], /cannot mkdir .*a part of the path is a file/],
    [['data', 'prepare', '--input', file, '--out', dir, '--name', '../x'], /--name "\.\.\/x" is not a safe name/],
  ];
  for (const [args, message] of cases) {
    const r = await runMain(args);
    assert.equal(r.status, EXIT.badInput, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line`);
  }
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, JSON.stringify({ kind: 'speedrun-run-bundle', version: 1, run: {} }));
  const verify = await runMain(['verify', bad]);
  assert.equal(verify.status, EXIT.rejected);
  assert.match(verify.stdout, /INVALID .*malformed run bundle \(run\.runId/);
  const imported = await runMain(['import', bad, '--db', path.join(dir, 'db.sqlite')]);
  assert.equal(imported.status, EXIT.rejected);
  assert.match(imported.stderr, /malformed run bundle/);
  assert.equal((await runMain(['verify', path.join(dir, 'missing.json')])).status, EXIT.badInput, 'a missing file is bad input');
});

test('a database that fails SQLite\'s quick_check is used with a warning', () => {
  const file = path.join(tempDir(), 'broken.db');
  const store = ResultsStore.open(file);
  for (let i = 0; i < 300; i++) store.finishRun(syntheticRun({ id: `r${i}`, seed: i }));
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.close();
  // Scramble an index page: the tables still read, the structure check fails.
  const bytes = fs.readFileSync(file);
  const pageSize = bytes.readUInt16BE(16);
  const lastPage = bytes.length / pageSize - 1;
  bytes.fill(0x55, lastPage * pageSize + 8, lastPage * pageSize + pageSize);
  fs.writeFileSync(file, bytes);
  const reopened = ResultsStore.open(file, { reconcile: false });
  assert.match(reopened.warnings.join('\n'), /fails SQLite's quick_check/);
  reopened.close();
});
