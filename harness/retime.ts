/**
 * `speedrun retime <record file | record id>`: re-run a record's configuration on this machine, the way
 * modded-nanogpt re-times old records on new hardware or software. Each of the record's runs becomes a run
 * request (same recipes, track, overrides, learning rate, workers and seed); when this machine's hardware class
 * already has a current record on the track, its runs are interleaved with them (A B A B, as every comparison on
 * a noisy machine must be), so the report compares both measured in one sitting. The new runs are ordinary runs:
 * `speedrun submit` turns them into this class's first record.
 *
 * `retimeRecord` is the command as an API: the caller passes how a run request is run here (the CLI's runner,
 * with its progress bar), so tests can call it without a subprocess.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackendRequest } from './backends/index.ts';
import { codeHash, PROJECT_ROOT } from './environment.ts';
import { UserError } from './errors.ts';
import { describeHardware, hardwareClassOf } from './hardware.ts';
import { checkName } from './names.ts';
import type { RunRecord } from './records.ts';
import { defaultResultsDir, type RunRequest } from './run.ts';
import { mean, std } from './stats.ts';
import { readVerifiedBundle, type RunBundle } from './store/bundle.ts';
import type { ResultsStore, StoredRecord } from './store/database.ts';
import { asClaim } from './store/recordClaim.ts';

export interface RetimeSide {
  label: string;
  recordId: number | null;
  recipes: string;
  hardwareClass: string;
  /** The record's own figure, as it was measured where it was set. */
  recordedMeanMs: number | null;
  bundles: RunBundle[];
}

export interface RetimeEntry {
  side: 'record' | 'current';
  request: RunRequest;
  /** The recorded run this entry repeats. */
  source: RunBundle;
}

/** A record file (a claim) or a record id -> the record's runs, as verified bundles. */
export function loadRecordSide(source: string, store: ResultsStore): RetimeSide {
  if (/^\d+$/.test(source) && !fs.existsSync(source)) {
    const record = store.records().find((r) => r.id === Number(source));
    if (!record) throw new UserError(`no record #${source} in ${store.file}`);
    return sideOf(record, store, undefined);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(source, 'utf8'));
  } catch (error) {
    throw new UserError(`${source}: neither a record id nor a readable record file (${(error as Error).message.split('\n')[0]})`);
  }
  const claim = asClaim(parsed, source);
  if (!claim) throw new UserError(`${source} is not a record file (kind speedrun-record-claim)`);
  const stored = store.records({ trackId: claim.trackId }).find((r) => [...r.runIds].sort().join(',') === [...claim.runIds].sort().join(','));
  const bundles = claim.runIds.map((id) => bundleOf(id, store, path.join(path.dirname(path.resolve(source)), '..', 'bundles')));
  return {
    label: stored ? `record #${stored.id}` : `record file ${path.basename(source)}`,
    recordId: stored?.id ?? null,
    recipes: claim.recipes,
    hardwareClass: stored?.hardwareClass ?? hardwareClassOf(bundles[0]!.run.hardware),
    recordedMeanMs: stored?.timeToTargetMs ?? null,
    bundles,
  };
}

export function sideOf(record: StoredRecord, store: ResultsStore, bundlesDir: string | undefined): RetimeSide {
  return {
    label: `record #${record.id}`,
    recordId: record.id,
    recipes: record.recipes,
    hardwareClass: record.hardwareClass,
    recordedMeanMs: record.timeToTargetMs,
    bundles: record.runIds.map((id) => bundleOf(id, store, bundlesDir)),
  };
}

/** A run's verified bundle: from the database, else `<bundlesDir>/<id>.json` (a record file's folder). */
function bundleOf(runId: string, store: ResultsStore, bundlesDir: string | undefined): RunBundle {
  const file = store.run(runId)?.bundlePath ?? (bundlesDir ? path.join(bundlesDir, `${checkName('run id', runId)}.json`) : undefined);
  if (!file || !fs.existsSync(file)) throw new UserError(`run ${runId} of the record has no bundle here: \`speedrun import\` its bundles first`);
  return readVerifiedBundle(file);
}

/** The run request that repeats a recorded run here: its recipes, track, overrides, lr, workers and seed. */
export function requestOf(run: RunRecord, backend: BackendRequest | undefined, outDir: string | undefined): RunRequest {
  const override = (key: string) => run.track.overrides.find((o) => o.startsWith(`${key}=`))?.slice(key.length + 1);
  const number = (key: string) => (override(key) === undefined ? undefined : Number.parseFloat(override(key)!));
  return {
    recipe: run.recipes.join(','),
    track: run.track.name,
    backend: backend ?? (run.backend.name as BackendRequest),
    seed: run.config.train.seed,
    preset: override('preset'),
    target: number('target'),
    steps: number('steps'),
    maxTimeSec: number('max-time'),
    lr: run.config.train.lr,
    ...(run.config.train.gradAccumSteps > 1 ? { gradAccum: run.config.train.gradAccumSteps } : {}),
    ...(run.parallel ? { workers: run.parallel.workers } : {}),
    outDir,
  };
}

/** Record runs and current-record runs alternated (A B A B ...); the shorter side repeats its seeds in turn. */
export function interleave(record: RetimeSide, current: RetimeSide | undefined, backend: BackendRequest | undefined, outDir: string | undefined): RetimeEntry[] {
  const entries: RetimeEntry[] = [];
  const n = record.bundles.length;
  for (let i = 0; i < n; i++) {
    const mine = record.bundles[i]!;
    entries.push({ side: 'record', request: requestOf(mine.run, backend, outDir), source: mine });
    if (current && current.bundles.length > 0) {
      const theirs = current.bundles[i % current.bundles.length]!;
      entries.push({ side: 'current', request: requestOf(theirs.run, backend, outDir), source: theirs });
    }
  }
  return entries;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function summary(runs: RunRecord[]): string {
  const reached = runs.filter((r) => r.timeToTargetMs !== null).map((r) => r.timeToTargetMs!);
  if (reached.length === 0) return `no run of ${runs.length} reached the target`;
  const steps = runs.filter((r) => r.stepsToTarget !== null).map((r) => r.stepsToTarget!);
  return `mean ${seconds(mean(reached))}${reached.length > 1 ? ` ± ${seconds(std(reached))}` : ''} over ${reached.length} of ${runs.length} runs, ${mean(steps).toFixed(0)} steps to target`;
}

/** The report: the record re-timed here, the current record of this class beside it, and what to do next. */
export function formatRetime(record: RetimeSide, current: RetimeSide | undefined, hereClass: string, results: { side: RetimeEntry['side']; record: RunRecord }[]): string {
  const mine = results.filter((r) => r.side === 'record').map((r) => r.record);
  const theirs = results.filter((r) => r.side === 'current').map((r) => r.record);
  const lines = [
    `re-timed ${record.label} (${record.recipes} on ${record.bundles[0]!.run.track.id}), set on ${record.hardwareClass}${record.recordedMeanMs !== null ? ` at ${seconds(record.recordedMeanMs)}` : ''}`,
    `  here, on ${hereClass}: ${summary(mine)}`,
  ];
  if (current) {
    lines.push(`  current record of this class, ${current.label} (${current.recipes}), interleaved: ${summary(theirs)}`);
    const a = mine.filter((r) => r.timeToTargetMs !== null).map((r) => r.timeToTargetMs!);
    const b = theirs.filter((r) => r.timeToTargetMs !== null).map((r) => r.timeToTargetMs!);
    if (a.length > 0 && b.length > 0) lines.push(`  ratio re-timed / current: ${(mean(a) / mean(b)).toFixed(3)} (same sitting)`);
  } else if (record.hardwareClass === hereClass) {
    lines.push('  the record was set on this hardware class: this re-times it on the same class');
  } else {
    lines.push('  this class has no record on this track yet: these runs can set its first one');
  }
  const aborted = mine.filter((r) => r.status === 'aborted');
  if (aborted.length > 0 || mine.length === 0) {
    // A submission of an interrupted set is refused (enough-runs), so none is suggested.
    lines.push(`next: nothing to submit (${aborted.length > 0 ? `run ${aborted.map((r) => r.runId).join(', ')} was aborted` : 'no run finished'}); run retime again to re-time the record`);
  } else {
    lines.push(`next: speedrun submit ${mine.map((r) => r.runId).join(' ')} -m "${record.recipes}, re-timed from ${record.label}"`);
  }
  return `${lines.join('\n')}\n`;
}

/** `speedrun` flags for a run request (for a checkout of other sources, run as its own process). */
export function requestArgs(request: RunRequest): string[] {
  const args = ['--recipe', request.recipe, '--track', request.track, '--backend', request.backend, '--seed', String(request.seed)];
  const flags: [string, number | string | undefined][] = [
    ['preset', request.preset], ['target', request.target], ['steps', request.steps], ['max-time', request.maxTimeSec],
    ['lr', request.lr], ['grad-accum', request.gradAccum], ['workers', request.workers], ['out', request.outDir],
  ];
  for (const [flag, value] of flags) if (value !== undefined) args.push(`--${flag}`, String(value));
  return args;
}

/**
 * The bundle's own sources laid out as a project that runs with this checkout's packages and native build:
 * harness/ and recipes/ from the bundle, package.json, node_modules and native/build linked from here. Its code
 * hash is the bundle's, so runs made from it carry the record's code hash.
 */
export function checkoutOfBundle(bundle: RunBundle, projectRoot: string, into: string): string {
  const dir = path.join(into, `code-${bundle.code.hash.slice(0, 12)}`);
  if (fs.existsSync(path.join(dir, 'entry.mjs'))) return dir;
  for (const [file, text] of Object.entries(bundle.code.files)) {
    const parts = file.split('/');
    if (!['harness', 'recipes'].includes(parts[0]!) || parts.some((p) => p === '' || p === '.' || p === '..') || !file.endsWith('.ts')) {
      throw new UserError(`bundle of ${bundle.run.runId}: source path ${JSON.stringify(file)} is not a file under harness/ or recipes/`, 5);
    }
    fs.mkdirSync(path.join(dir, ...parts.slice(0, -1)), { recursive: true });
    fs.writeFileSync(path.join(dir, ...parts), text);
  }
  fs.copyFileSync(path.join(projectRoot, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(projectRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  if (fs.existsSync(path.join(projectRoot, 'native', 'build'))) {
    fs.mkdirSync(path.join(dir, 'native'), { recursive: true });
    fs.symlinkSync(path.join(projectRoot, 'native', 'build'), path.join(dir, 'native', 'build'), 'dir');
  }
  fs.writeFileSync(path.join(dir, 'entry.mjs'), "import { main } from './harness/cli.ts';\nprocess.exitCode = await main(process.argv.slice(2));\n");
  return dir;
}

/**
 * The record's runs (and the current record of this class, interleaved) re-run here (`runHere`), then the report.
 * With `fromBundle`, a record run whose bundled sources differ from this checkout runs from those sources.
 */
export async function retimeRecord(
  source: string,
  options: { backend?: BackendRequest; quiet: boolean; outDir?: string; fromBundle: boolean },
  store: ResultsStore,
  runHere: (request: RunRequest) => Promise<RunRecord>,
): Promise<{ report: string; aborted: boolean; results: { side: RetimeEntry['side']; record: RunRecord }[] }> {
  const record = loadRecordSide(source, store);
  const hereClass = hardwareClassOf(await describeHardware());
  const currentRecord = store.currentRecord(record.bundles[0]!.run.track.id, hereClass);
  const current = currentRecord && currentRecord.id !== record.recordId ? sideOf(currentRecord, store, undefined) : undefined;
  const resultsDir = options.outDir ?? defaultResultsDir();
  const here = codeHash();
  const results: { side: 'record' | 'current'; record: RunRecord }[] = [];
  for (const entry of interleave(record, current, options.backend, resultsDir)) {
    let run: RunRecord;
    if (options.fromBundle && entry.side === 'record' && entry.source.code.hash !== here) {
      // The record's own code, as its own process (it may be older than this database: it gets its own).
      const dir = checkoutOfBundle(entry.source, PROJECT_ROOT, path.join(resultsDir, 'retime'));
      const bundles = path.join(resultsDir, 'bundles');
      const before = new Set(fs.existsSync(bundles) ? fs.readdirSync(bundles) : []);
      process.stderr.write(`retime: ${entry.request.recipe} seed ${entry.request.seed} from the bundle's sources (code ${entry.source.code.hash.slice(0, 12)})\n`);
      const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(dir, 'entry.mjs'), ...requestArgs(entry.request), '--db', path.join(dir, 'runs.db'), ...(options.quiet ? ['-q'] : [])], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
      const made = (fs.existsSync(bundles) ? fs.readdirSync(bundles) : []).filter((f) => !before.has(f));
      if (made.length !== 1) throw new UserError(`retime: the run from the bundle's sources wrote no bundle (exit ${child.status})`);
      const bundle = readVerifiedBundle(path.join(bundles, made[0]!));
      store.importBundle(bundle, path.join(bundles, made[0]!));
      run = bundle.run;
    } else {
      run = await runHere(entry.request);
    }
    results.push({ side: entry.side, record: run });
    if (run.status === 'aborted') break;
  }
  return { report: formatRetime(record, current, hereClass, results), aborted: results.some((r) => r.record.status === 'aborted'), results };
}
