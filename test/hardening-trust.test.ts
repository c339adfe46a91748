/**
 * The second adversarial pass: one trust check shared by verify, import and submit; suite reports and record
 * claims whose facts come from the runs they name; one signal and cleanup path; generated job files that cannot be
 * broken out of; one rule for a repeated flag; small inputs that used to hang or go unbounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT, UserError, asUserError } from '../harness/errors.ts';
import { executeRun } from '../harness/run.ts';
import { createBundle, readBundle, writeBundle, type RunBundle } from '../harness/store/bundle.ts';
import { ResultsStore } from '../harness/store/database.ts';
import { importResults } from '../harness/importResults.ts';
import { judgeRuns, submitRuns } from '../harness/submitRecord.ts';
import { bundleTrustProblems, verifyFiles } from '../harness/verifyBundles.ts';
import { importSuiteReport, type SuiteReport } from '../harness/suite.ts';
import { slurmScript, kubernetesJob, type ClusterOptions, type MatrixSpec } from '../harness/matrix.ts';
import { loadShardDir } from '../harness/data/shards.ts';
import { prepareShards } from '../harness/data/prepare.ts';
import { formatRetime } from '../harness/retime.ts';
import { syntheticRun } from './fixtures/records.ts';
import { microPlan, ROOT, runMain, tempDir } from './utils.ts';

let real: RunBundle | undefined;
/** One micro run's bundle (cpu, 20 steps), shared by the tests that edit copies of it. */
async function realBundle(): Promise<RunBundle> {
  if (!real) {
    const plan = await microPlan({ steps: 20, target: 3.2 });
    real = readBundle((await executeRun(plan, { outDir: tempDir() })).bundle);
  }
  return structuredClone(real);
}

/** A forger's edit, resealed with the project's own canonical checksum, written as a file. */
function forged(bundle: RunBundle, edit: (b: RunBundle) => void): string {
  const copy = structuredClone(bundle);
  edit(copy);
  const file = path.join(tempDir(), `${copy.run.runId}.json`);
  writeBundle(createBundle(copy.run, copy.events, copy.code.files), file);
  return file;
}

const refusedWith = (pattern: RegExp) => (e: unknown) => e instanceof UserError && e.exitCode === EXIT.rejected && pattern.test(e.message) && !e.message.includes('\n');

test('verify, import and submit refuse the same forged compute figures, for the same reason', async () => {
  const bundle = await realBundle();
  const c = bundle.run.compute!;
  const cases: [string, (b: RunBundle) => void, RegExp][] = [
    // FLOPs and peak x10: the MFU is unchanged, every figure follows from the others, only the count tells.
    ['flops x10', (b) => Object.assign(b.run.compute!, { modelFlopsPerStep: c.modelFlopsPerStep * 10, executedFlopsPerStep: c.executedFlopsPerStep! * 10, flopsToTarget: c.flopsToTarget! * 10, peak: { ...c.peak!, flopsPerSec: c.peak!.flopsPerSec * 10 } }), /model FLOPs a step \d+, but the bundled config's model counts/],
    ['peak / 10', (b) => Object.assign(b.run.compute!, { peak: { ...c.peak!, flopsPerSec: c.peak!.flopsPerSec / 10 }, mfu: c.mfu! * 10 }), /MFU [\d.]+ % is above 100 %/],
    ['executed 1', (b) => Object.assign(b.run.compute!, { executedFlopsPerStep: 1 }), /executed FLOPs a step 1 are below the model's/],
  ];
  for (const [label, edit, pattern] of cases) {
    const file = forged(bundle, (b) => {
      b.run.runId = `${b.run.runId}-${label.replace(/\W+/g, '-')}`;
      edit(b);
    });
    const [verdict] = await verifyFiles([file], undefined);
    assert.equal(verdict!.status, 'invalid', label);
    assert.match(verdict!.detail!, pattern, label);
    const store = ResultsStore.open(path.join(tempDir(), 'db.sqlite'));
    try {
      await assert.rejects(importResults([file], store), refusedWith(pattern), label);
      assert.equal(store.runs().length, 0, `${label}: nothing imported`);
      const { decision } = await judgeRuns([{ file, bundle: readBundle(file) }], { description: 'x', contributors: [] }, store);
      const bundles = decision.checks.find((check) => check.rule === 'bundles')!;
      assert.equal(bundles.status, 'fail', label);
      assert.match(bundles.detail, pattern, label);
    } finally {
      store.close();
    }
  }
});

test('a peak far from the one stored for the class is refused on import; one within noise is not', async () => {
  const bundle = await realBundle();
  const store = ResultsStore.open(path.join(tempDir(), 'db.sqlite'));
  try {
    const engine = (await import('../harness/backends/engineLabel.ts')).engineLabel(bundle.run.backend);
    store.savePeak(bundle.run.hardware.hardwareClass, engine, { flopsPerSec: bundle.run.compute!.peak!.flopsPerSec * 3, method: 'calibrated' });
    assert.match((await bundleTrustProblems(bundle, store)).join(), /peak .* is 0\.333x the .* stored for .* \(at most 2x apart\)/);
    store.savePeak(bundle.run.hardware.hardwareClass, engine, { flopsPerSec: bundle.run.compute!.peak!.flopsPerSec * 1.2, method: 'calibrated' });
    assert.deepEqual(await bundleTrustProblems(bundle, store), []);
  } finally {
    store.close();
  }
});

/** A database holding five synthetic runs of two workloads (their bundles faked: importSuiteReport reads rows). */
function suiteFixture(): { store: ResultsStore; report: SuiteReport } {
  const store = ResultsStore.open(path.join(tempDir(), 'db.sqlite'));
  const bundleFile = path.join(tempDir(), 'b.json');
  fs.writeFileSync(bundleFile, '{}');
  const cells: SuiteReport['cells'] = [];
  for (const [i, recipes] of ['baseline', 'ngpt'].entries()) {
    for (const seed of [0, 1]) {
      const run = syntheticRun({ id: `r-${recipes}-${seed}`, seed, recipes: [recipes], timeToTargetMs: 100_000 - i * 20_000 + seed, stepsToTarget: 300 - i * 50 });
      store.finishRun(run, { path: bundleFile, checksum: run.runId });
      cells.push({ workload: 'brown-char', recipes, seed, runId: run.runId, status: 'success', timeToTargetMs: 1, stepsToTarget: 1 });
    }
  }
  const hardwareClass = store.run('r-baseline-0')!.hardwareClass;
  const report: SuiteReport = {
    suiteId: 'suite-a',
    base: 'baseline',
    createdAt: '2026-12-08T00:00:00.000Z',
    backend: store.run('r-baseline-0')!.backend,
    hardwareClass,
    seeds: [0, 1],
    workloads: [{ track: 'brown-char', scale: 'S', target: 2.46, flopsPerToken: null }],
    cells,
    summaries: [],
  };
  return { store, report };
}

test('a suite report is rebuilt from its runs: forged class, repeated or reused runs, empty workloads are refused', () => {
  const { store, report } = suiteFixture();
  try {
    const refuse = (edit: (r: SuiteReport) => void, pattern: RegExp) => {
      const copy = structuredClone(report);
      edit(copy);
      assert.throws(() => importSuiteReport(copy, store), refusedWith(pattern));
    };
    refuse((r) => (r.hardwareClass = '<script>x</script> AMD EPYC (Zen 3) x2'), /it says hardware class '<script>/);
    refuse((r) => (r.backend = 'native (oneDNN)'), /it says engine 'native \(oneDNN\)', its runs ran on 'wasm'/);
    refuse((r) => r.cells.push(...Array.from({ length: 4 }, () => ({ ...r.cells[2]! }))), /run r-ngpt-0 is named more than once/);
    refuse((r) => r.workloads.push({ track: 'brown-char-zzz', scale: 'XL', target: 1, flopsPerToken: 1e12 }), /workload brown-char-zzz has no run of its base/);
    assert.equal(importSuiteReport(structuredClone(report), store), 'added');
    const [stored] = store.suiteReports();
    const rebuilt = JSON.parse(stored!.report) as SuiteReport;
    assert.equal(rebuilt.cells[2]!.timeToTargetMs, 80_000, 'times are the runs\' own, not the file\'s');
    assert.equal(importSuiteReport(structuredClone(report), store), 'unchanged');
    refuse((r) => (r.suiteId = 'suite-copy'), /already timed by suite suite-a: a run counts in one suite/);
  } finally {
    store.close();
  }
});

test('a suite row left without its report (a killed process) is replaced on import, in one transaction', () => {
  const { store, report } = suiteFixture();
  try {
    store.startSuite({ id: report.suiteId, backend: report.backend, hardwareClass: report.hardwareClass, recipeSets: ['baseline'], heldout: null });
    store.addSuiteRun(report.suiteId, 'r-baseline-0', 'brown-char', 'timed');
    assert.equal(importSuiteReport(structuredClone(report), store), 'added');
    assert.equal(store.suiteRuns(report.suiteId).length, 4);
  } finally {
    store.close();
  }
});

test('a suite report over the size cap is refused before it is parsed', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'big.json');
  fs.writeFileSync(file, `{"suiteId":"x","pad":"${'x'.repeat(5 * 2 ** 20)}"}`);
  const store = ResultsStore.open(path.join(dir, 'db.sqlite'));
  try {
    await assert.rejects(importResults([file], store), refusedWith(/a suite report of 5\.0 MB \(at most 4 MB\)/));
  } finally {
    store.close();
  }
});

test('record claims: the rules\' minimum is the project\'s, and a claim cannot jump the queue by its date', async () => {
  const store = ResultsStore.open(path.join(tempDir(), 'db.sqlite'));
  try {
    await assert.rejects(submitRuns(['x'], { description: 'd', contributors: [], minRuns: 2 }, store), (e: unknown) => e instanceof UserError && /--min-runs may ask for more runs than the rules' 5, never fewer \(got 2\)/.test(e.message));
  } finally {
    store.close();
  }
  // A claim file saying minRuns 2 is judged with 5; one dated before its own runs finished is refused.
  const bundle = await realBundle();
  const dir = tempDir();
  const bundleFile = path.join(dir, 'bundles', `${bundle.run.runId}.json`);
  writeBundle(bundle, bundleFile);
  const claim = { kind: 'speedrun-record-claim', version: 1, trackId: bundle.run.track.id, recipes: 'baseline', description: 'd', contributors: [], runIds: [bundle.run.runId] };
  fs.mkdirSync(path.join(dir, 'records'));
  fs.writeFileSync(path.join(dir, 'records', 'few.json'), JSON.stringify({ ...claim, submittedAt: '2099-01-01T00:00:00.000Z', minRuns: 1 }));
  fs.writeFileSync(path.join(dir, 'records', 'early.json'), JSON.stringify({ ...claim, runIds: [bundle.run.runId, bundle.run.runId], submittedAt: '2000-01-01T00:00:00.000Z' }));
  const db = ResultsStore.open(path.join(tempDir(), 'db.sqlite'));
  try {
    const report = await importResults([dir], db);
    assert.equal(report.records!.accepted, 0);
    assert.match(report.records!.refused.join('\n'), /few\.json: .*enough-runs failed \(1 finished runs \(at least 5 needed\)\)/);
    assert.match(report.records!.refused.join('\n'), /early\.json: submitted at 2000-01-01T00:00:00\.000Z, before its last run finished/);
  } finally {
    db.close();
  }
});

test('submit writes its files before its rows: an unusable bundles folder keeps nothing, and a resubmission works', async () => {
  const dir = tempDir();
  const files = [0, 1, 2, 3, 4].map((seed) =>
    forged(real!, (b) => {
      b.run.runId = `${b.run.runId}-official-${seed}`;
      b.run.track = { ...b.run.track, official: true, overrides: [] };
      b.run.config.train.seed = seed;
      b.run.evals = b.run.evals.map((e) => ({ ...e, valLoss: e.valLoss - seed * 1e-4 }));
      b.run.finalValLoss = b.run.evals.at(-1)!.valLoss;
      b.events = b.events.map((e) => {
        if (e.key === 'submission_benchmark') return { ...e, metadata: { ...e.metadata, official: true, overrides: [] } };
        if (e.key === 'seed') return { ...e, value: seed };
        if (e.key === 'run_start') return { ...e, value: { ...(e.value as object), config: b.run.config } };
        if (e.key === 'eval_loss') return { ...e, value: Number(e.value) - seed * 1e-4 };
        return e;
      });
    }),
  );
  await realBundle();
  const db = path.join(dir, 'results', 'speedrun.db');
  fs.mkdirSync(path.dirname(db), { recursive: true });
  fs.writeFileSync(path.join(dir, 'results', 'records'), 'a regular file where the records folder goes');
  const store = ResultsStore.open(db);
  try {
    await assert.rejects(submitRuns(files, { description: 'd', contributors: [] }, store), /records/);
    assert.equal(store.records().length, 0, 'no record row without its file');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'results', 'bundles')), [], 'the bundle copies are removed again');
    fs.rmSync(path.join(dir, 'results', 'records'));
    const again = await submitRuns(files, { description: 'd', contributors: [] }, store);
    assert.equal(again.status, 'accepted', JSON.stringify(again.decision.checks.filter((c) => c.status === 'fail')));
  } finally {
    store.close();
  }
});

test('SQLite errors a user can fix are one line (exit 2), extended codes included', () => {
  const full = Object.assign(new Error('database or disk is full'), { name: 'SqliteError', code: 'SQLITE_FULL' });
  const io = Object.assign(new Error('disk I/O error'), { name: 'SqliteError', code: 'SQLITE_IOERR_WRITE' });
  for (const [error, pattern] of [[full, /results database: database or disk is full \(SQLITE_FULL\)/], [io, /disk I\/O error \(SQLITE_IOERR_WRITE\)/]] as const) {
    const mapped = asUserError(error);
    assert.ok(mapped instanceof UserError && mapped.exitCode === undefined && pattern.test(mapped.message), String(mapped));
  }
  const bug = Object.assign(new Error('constraint'), { name: 'SqliteError', code: 'SQLITE_CONSTRAINT_UNIQUE' });
  assert.equal(asUserError(bug), bug, 'a constraint failure is a bug, not bad input');
});

test('generated Slurm and Kubernetes files: control characters refused, everything else quoted, checked by running the job under bash', () => {
  const spec: MatrixSpec = { recipes: ['baseline'], tracks: ['brown-char'], seeds: 1, firstSeed: 0, backend: 'wasm', runArgs: [] };
  const base: ClusterOptions = { name: 'speedrun-matrix', image: 'node:20', workdir: '/w', results: '/r', parallelism: 1, cpus: 2 };
  const pwn = path.join(tempDir(), 'PWN');
  for (const options of [{ ...base, results: `/r\ntouch ${pwn}\n#` }, { ...base, name: `x\ntouch ${pwn}` }, { ...base, image: 'a\nb' }]) {
    assert.throws(() => slurmScript(spec, options), /holds a control character|must be lowercase letters/);
    assert.throws(() => kubernetesJob(spec, options), /holds a control character|must be lowercase letters/);
  }
  assert.throws(() => slurmScript({ ...spec, recipes: ['a\nb'] }, base), /--recipe holds a control character/);
  // Shell metacharacters without control characters are data: the generated job runs and creates nothing.
  const dir = tempDir();
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'npx'), '#!/bin/sh\necho "npx $*"\n', { mode: 0o755 });
  const hostile = `${dir}/r $(touch ${pwn}) \`touch ${pwn}\`; touch ${pwn}`;
  const script = path.join(dir, 'job.sh');
  fs.writeFileSync(script, slurmScript(spec, { ...base, workdir: dir, results: hostile }));
  const ran = spawnSync('bash', [script], { encoding: 'utf8', env: { PATH: `${bin}:/usr/bin:/bin`, SLURM_ARRAY_TASK_ID: '0' } });
  assert.equal(ran.status, 0, ran.stderr);
  assert.match(ran.stdout, /^npx speedrun matrix run --index 0 /);
  assert.ok(!fs.existsSync(pwn), 'nothing the values said was executed');
  assert.match(kubernetesJob(spec, { ...base, results: hostile }).split('\n')[1]!, /^# Afterwards: speedrun import '/);
});

test('one rule for every string flag of every command: given twice, it is refused with one line (exit 2)', async () => {
  const commands = ['run', 'runs', 'import x', 'verify x', 'submit x', 'ci', 'leaderboard', 'matrix list', 'retime x', 'pack', 'calibrate', 'suite', 'data prepare'];
  let checked = 0;
  for (const command of commands) {
    const help = await runMain([...command.split(' ').filter((w) => w !== 'x'), '--help']);
    // yargs' help: one block per option, its type tag on the option's line or a wrapped line after it.
    const blocks = help.stdout.split(/\n(?=\s+(?:-\w, )?--[\w-]+)/);
    const flags = blocks.flatMap((block) => {
      const name = /^\s+(?:-\w, )?--([\w-]+)/.exec(block)?.[1];
      return name && block.includes('[string]') && !block.includes('[array]') ? [name] : [];
    });
    assert.ok(flags.length > 0 || command === 'verify x', `${command}: no string flags found in --help`);
    for (const flag of flags) {
      const result = await runMain([...command.split(' '), `--${flag}`, 'a', `--${flag}`, 'b']);
      assert.equal(result.status, EXIT.badInput, `${command} --${flag}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`^speedrun: --${flag} was given 2 times \\("a", "b"\\); give it once\\n$`), `${command} --${flag}`);
      checked++;
    }
  }
  assert.ok(checked >= 30, `only ${checked} string flags checked`);
  const numeric = await runMain(['--steps', '1', '--steps', '2']);
  assert.match(numeric.stderr, /--steps was given 2 times \(1, 2\)/);
  const seeds = await runMain(['--seeds', '1e9']);
  assert.equal(seeds.status, EXIT.badInput);
  assert.match(seeds.stderr, /--seeds must be an integer from 1 to 1000, got 1000000000/);
});

test('a shard that is a FIFO or a device is refused, not read forever', () => {
  const dir = tempDir();
  assert.equal(spawnSync('mkfifo', [path.join(dir, 'data_val_000000.bin')]).status, 0);
  fs.symlinkSync('/dev/zero', path.join(dir, 'data_train_000001.bin'));
  assert.throws(() => loadShardDir(dir, () => ''), (e: unknown) => e instanceof UserError && /is not a regular file/.test(e.message));
});

test('data prepare refuses a shard size that would scatter the corpus over more than 10,000 files', () => {
  const dir = tempDir();
  const input = path.join(dir, 'in.txt');
  fs.writeFileSync(input, 'word '.repeat(100_000));
  assert.throws(() => prepareShards({ inputs: [input], outDir: path.join(dir, 'out'), name: 'x', valFraction: 0.1, shardTokens: 10 }), /--shard-tokens 10 would write about 12,500 shards \(at most 10,000\)/);
  assert.ok(!fs.existsSync(path.join(dir, 'out')), 'nothing written');
});

test('import walks past what is not a bundle (ci/, runs/, other JSON) and an id conflict is a refusal (exit 5)', async () => {
  const bundle = await realBundle();
  const dir = tempDir();
  writeBundle(bundle, path.join(dir, 'bundles', `${bundle.run.runId}.json`));
  fs.mkdirSync(path.join(dir, 'ci', 'x', 'runs', 'r'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'ci', 'x', 'runs', 'r', 'run.json'), '{"schema":2}');
  fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"not a bundle"}');
  const store = ResultsStore.open(path.join(tempDir(), 'db.sqlite'));
  try {
    const report = await importResults([dir], store);
    assert.deepEqual(report.bundles, { added: 1, unchanged: 0, replaced: 0 });
    assert.equal(report.skipped, 1);
    const other = forged(bundle, (b) => (b.run.notes = ['another bundle under the same run id']));
    await assert.rejects(importResults([other], store), refusedWith(/already in the database with a different bundle/));
  } finally {
    store.close();
  }
});

test('an empty SPEEDRUN_DB is unset, like the other variables', async () => {
  const { defaultDatabasePath } = await import('../harness/store/database.ts');
  const before = process.env.SPEEDRUN_DB;
  process.env.SPEEDRUN_DB = '';
  try {
    assert.equal(defaultDatabasePath('/tmp/results'), '/tmp/results/speedrun.db');
  } finally {
    if (before === undefined) delete process.env.SPEEDRUN_DB;
    else process.env.SPEEDRUN_DB = before;
  }
});

test('retime suggests no submission when a run was aborted', () => {
  const side = { label: 'record #1', recipes: 'baseline', hardwareClass: 'X', recordedMeanMs: 1000, bundles: [{ run: syntheticRun({ id: 'a' }) }] } as unknown as Parameters<typeof formatRetime>[0];
  const report = formatRetime(side, undefined, 'X', [{ side: 'record', record: syntheticRun({ id: 'r1', status: 'aborted', timeToTargetMs: null }) }]);
  assert.match(report, /next: nothing to submit \(run r1 was aborted\)/);
  assert.doesNotMatch(report, /speedrun submit/);
});

test('the signal path: SIGTERM stops a child\'s whole process group, runs the cleanups and exits 130', async () => {
  const dir = tempDir();
  const marker = path.join(dir, 'staging');
  const pidFile = path.join(dir, 'grandchild.pid');
  fs.mkdirSync(marker);
  const script = path.join(dir, 'long.mts');
  // A "long command": a child that starts a grandchild ignoring nothing, and a temporary folder to remove.
  fs.writeFileSync(
    script,
    `import { interruptible, onInterrupt, runChild } from ${JSON.stringify(path.join(ROOT, 'harness', 'interrupt.ts'))};
import * as fs from 'node:fs';
await interruptible(async () => {
  onInterrupt(() => fs.rmSync(${JSON.stringify(marker)}, { recursive: true, force: true }));
  await runChild('/bin/sh', ['-c', 'sleep 60 & echo $! > ${pidFile}; trap "" TERM; wait']);
}, () => {});
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  while (!fs.existsSync(pidFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 130);
  assert.ok(!fs.existsSync(marker), 'the cleanup ran');
  const grandchild = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.throws(() => process.kill(grandchild, 0), /ESRCH/, 'nothing of the child\'s group outlives it');
});
