/**
 * The command line (yargs). Each command parses flags and calls a function the tests can call too.
 * UserError -> one line on stderr and exit 2; any other error is a bug and keeps its stack trace.
 */
import { calibrate } from './calibrate.ts';
import { formatFlops, MAX_SEEDS } from './units.ts';
import yargs from 'yargs';
import { AUTO_ORDER, BACKEND_NAMES, describeBackends, type BackendRequest } from './backends/index.ts';
import { MODEL_PRESETS } from './config.ts';
import { hardwareClassOf } from './hardware.ts';
import { asUserError, CI_EXIT, EXIT, UserError } from './errors.ts';
import { prepareShards } from './data/prepare.ts';
import { defaultResultsDir, executeRun, resolveRun, type RunRecord, type RunRequest } from './run.ts';
import { formatSeedsSummary, formatSummary, progressObserver } from './progress.ts';
import { CI_METRICS, ciBenchmarkJson, ciMarkdown, DEFAULT_CI_MAX_RUNS, DEFAULT_CI_METRIC, DEFAULT_CI_RUNS, pairedChangesSpec, runCi, runCiSuite } from './ci.ts';
import { DEFAULT_SEQUENTIAL } from './regression.ts';
import { abortOnSignals, interruptible } from './interrupt.ts';
import { importResults } from './importResults.ts';
import { importLogs } from './external/importLogs.ts';
import { LOG_FORMATS, type LogFormat } from './external/externalRun.ts';
import { formatFolders } from './external/judgeFolders.ts';
import { checkExecRequest, execRun, type ExecRequest, type ExecStatus } from './external/execRun.ts';
import { currentRecordWithTimes, submitRuns } from './submitRecord.ts';
import { verifyFiles } from './verifyBundles.ts';
import { defaultDatabasePath, ResultsStore } from './store/database.ts';
// The leaderboard (vega, handlebars) and matrix (yaml) modules load only for their commands: every run pays
// for what the CLI imports up front (startup time and resident memory).
import type { MatrixSpec } from './matrix.ts';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUILTIN_TRACKS, resolveTrack, trackId } from './tracks.ts';
import { RECIPES, resolveRecipes } from '../recipes/index.ts';
import { composeRecipes } from './recipe.ts';
import { HELDOUT_FAMILY, REFERENCE_STEPS } from './heldout.ts';
import { SUITE_WORKLOADS } from './suiteWorkloads.ts';

export const STATUS_EXIT: Record<RunRecord['status'], number> = {
  success: EXIT.success,
  budget_exhausted: EXIT.targetNotReached,
  diverged: EXIT.diverged,
  aborted: EXIT.aborted,
};

/** Opens the results database for one command and closes it afterwards, whatever happens. */
async function withStore<T>(dbFlag: string | undefined, outDir: string | undefined, fn: (store: ResultsStore) => T | Promise<T>): Promise<T> {
  const store = openStore(dbFlag, outDir);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

function openStore(dbFlag: string | undefined, outDir: string | undefined): ResultsStore {
  const store = ResultsStore.open(dbFlag ?? defaultDatabasePath(outDir ?? defaultResultsDir()));
  for (const warning of store.warnings) process.stderr.write(`speedrun: warning: ${warning}\n`);
  return store;
}

async function runOne(request: RunRequest, quiet: boolean, store: ResultsStore): Promise<RunRecord> {
  const plan = await resolveRun(request);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(
    `speedrun: ${plan.recipes.join(',')} on ${trackId(plan.track)}${plan.official ? '' : ' (unofficial)'}, ` +
      `target val loss ${plan.config.train.target}, backend ${plan.backend.name} (${plan.backend.threads} thread${plan.backend.threads === 1 ? '' : 's'}), seed ${plan.config.train.seed}`,
  );
  for (const note of plan.notes) log(`note: ${note}`);
  // Ctrl-C, and the SIGTERM/SIGHUP that Kubernetes, Slurm and a closed terminal send, all end the run the same
  // way: finish the step, record it as aborted with everything measured, write the bundle.
  const progress = quiet ? undefined : progressObserver(plan);
  let record: RunRecord;
  try {
    record = await abortOnSignals('finishing the current step and writing what was measured', log, (signal) => executeRun(plan, request, { observer: progress?.observer, signal, store }));
  } finally {
    progress?.stop();
  }
  process.stderr.write(`\n${formatSummary(record)}\n`);
  return record;
}

/** One run, or `--seeds N` runs (seed, seed+1, ...) followed by their statistics. */
async function runCommand(request: RunRequest, seeds: number, quiet: boolean, dbFlag: string | undefined): Promise<number> {
  if (!Number.isInteger(seeds) || seeds < 1 || seeds > MAX_SEEDS) throw new UserError(`--seeds must be an integer from 1 to ${MAX_SEEDS}, got ${seeds}`);
  return withStore(dbFlag, request.outDir, async (store) => {
    const records: RunRecord[] = [];
    for (let i = 0; i < seeds; i++) {
      const record = await runOne({ ...request, seed: request.seed + i }, quiet, store);
      records.push(record);
      if (record.status === 'aborted') break;
    }
    if (records.length > 1) {
      const first = records[0]!;
      process.stderr.write(`\n${formatSeedsSummary(records, currentRecordWithTimes(store, first.track.id, hardwareClassOf(first.hardware)))}\n`);
    }
    const failed = records.find((r) => r.status !== 'success');
    return STATUS_EXIT[failed?.status ?? 'success'];
  });
}

const EXEC_EXIT: Record<ExecStatus, number> = { success: EXIT.success, budget_exhausted: EXIT.targetNotReached, diverged: EXIT.diverged, failed: EXIT.trainerFailed, aborted: EXIT.aborted };

/** `run --exec`: a trainer launched and timed from its log; Ctrl-C/SIGTERM/SIGHUP stop its whole process group. */
async function execCommand(request: ExecRequest, quiet: boolean, dbFlag: string | undefined): Promise<number> {
  checkExecRequest(request);
  return withStore(dbFlag, request.outDir, async (store) => {
    const log = (line: string) => process.stderr.write(`${line}\n`);
    log(`speedrun: ${request.command} (${request.format} log), target ${request.target}${request.maxTimeSec ? `, at most ${request.maxTimeSec} s` : ''}`);
    const record = await abortOnSignals("stopping the trainer's process group and recording the run as aborted", log, (signal) =>
      execRun(request, store, { signal, onEval: quiet ? undefined : (e) => log(`step ${e.step}: val ${e.value} at ${(e.trainTimeMs / 1000).toFixed(1)} s of train time`) }),
    );
    const s = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);
    const lines: [string, string][] = [
      ['status', `${record.status} (${record.reason})`],
      ['track', `${record.track} (external trainer, launched by speedrun)`],
      ['time to target', `${s(record.timeToTargetMs)} (the trainer's train clock)`],
      ['train time', s(record.trainTimeMs)],
      ['wall time', `${s(record.wallTimeMs)} (speedrun's clock, launch to exit)`],
      ['steps', String(record.steps ?? '-')],
      ['final val', record.finalValue === null ? '-' : `${record.finalValue} (target ${record.target})`],
      ['hardware', record.hardwareClass],
      ['software', Object.entries(record.software).map(([k, v]) => `${k} ${v}`).join(', ') || '-'],
      ['code', `${record.codeHash.slice(0, 12)} (the command and ${request.sources.length} source file(s))`],
      ['run', record.runId],
    ];
    process.stderr.write(`\n${lines.map(([k, v]) => `${k.padEnd(15)} ${v}`).join('\n')}\n`);
    return EXEC_EXIT[record.status];
  });
}

async function verifyCommand(files: string[], replaySteps: number | undefined): Promise<number> {
  const verdicts = await verifyFiles(files, replaySteps);
  for (const v of verdicts) {
    for (const note of v.notes) process.stdout.write(`note     ${note}\n`);
    process.stdout.write(v.status === 'valid' ? `valid    ${v.file}${v.detail ? `: ${v.detail}` : ''}\n` : `INVALID  ${v.detail}\n`);
  }
  return verdicts.every((v) => v.status === 'valid') ? EXIT.success : EXIT.rejected;
}

async function importCommand(files: string[], store: ResultsStore): Promise<number> {
  const report = await importResults(files, store);
  const { added, replaced, unchanged } = report.bundles;
  process.stdout.write(`imported into ${store.file}: ${added} added, ${replaced} completed, ${unchanged} already there${report.skipped > 0 ? `; ${report.skipped} JSON files skipped (no bundle, suite report or record file)` : ''}\n`);
  if (report.suites) process.stdout.write(`suites: ${report.suites.added} added, ${report.suites.unchanged} already there\n`);
  if (report.execRuns.added + report.execRuns.unchanged > 0) process.stdout.write(`launched trainers' runs (run --exec): ${report.execRuns.added} added, ${report.execRuns.unchanged} already there\n`);
  if (!report.records) return EXIT.success;
  const { accepted, unchanged: kept, refused } = report.records;
  process.stdout.write(`records: ${accepted} judged again and accepted, ${kept} already there, ${refused.length} refused\n`);
  for (const line of refused) process.stderr.write(`speedrun: record claim refused: ${line}\n`);
  return refused.length === 0 ? EXIT.success : EXIT.rejected;
}

function importLogsCommand(specs: string[], options: { format: LogFormat; target?: number; track?: string }, store: ResultsStore): number {
  const result = importLogs(specs, options, store);
  for (const { track, folders } of result.tracks) process.stdout.write(`\n${track.title} (external runs, self-reported)\n${formatFolders(folders, track.target)}`);
  process.stdout.write(`\nimported into ${store.file}: ${result.read} logs read, ${result.added} new external runs, ${result.refused.length} refused\n`);
  for (const { file, reason } of result.refused) process.stderr.write(`refused: ${file}: ${reason}\n`);
  return result.read > 0 ? EXIT.success : EXIT.rejected;
}

async function retimeCommand(source: string, options: { backend?: BackendRequest; quiet: boolean; outDir?: string; fromBundle: boolean }, store: ResultsStore): Promise<number> {
  const { retimeRecord } = await import('./retime.ts');
  const result = await retimeRecord(source, options, store, (request) => runOne(request, options.quiet, store));
  process.stdout.write(result.report);
  return result.aborted ? EXIT.aborted : EXIT.success;
}

function runsCommand(store: ResultsStore, filter: { track?: string; recipe?: string }, json: boolean): number {
  const runs = store.runs({ trackId: filter.track, recipes: filter.recipe });
  if (json) {
    process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
    return EXIT.success;
  }
  const s = (ms: number | null) => (ms === null ? '-' : (ms / 1000).toFixed(1));
  process.stdout.write(`${['run', 'status', 'recipes', 'seed', 'time to target (s)', 'steps', 'FLOPs to target', 'MFU', 'final val'].join('\t')}\n`);
  for (const r of runs) {
    const mfu = r.mfu === null ? 'unknown' : `${(100 * r.mfu).toFixed(1)} %`;
    const flops = r.flopsToTarget === null ? (r.modelFlopsPerStep === null ? 'unknown' : '-') : formatFlops(r.flopsToTarget);
    process.stdout.write(`${[r.id, r.status, r.recipes, r.seed, s(r.timeToTargetMs), r.stepsToTarget ?? r.steps ?? '-', flops, mfu, r.finalValLoss?.toFixed(4) ?? '-'].join('\t')}\n`);
  }
  return EXIT.success;
}

async function submitCommand(specs: string[], description: string, contributors: string[], minRuns: number | undefined, store: ResultsStore): Promise<number> {
  const result = await submitRuns(specs, { description, contributors, ...(minRuns === undefined ? {} : { minRuns }) }, store);
  for (const c of result.decision.checks) process.stdout.write(`${c.status === 'pass' ? 'pass' : c.status === 'skip' ? 'skip' : 'FAIL'}  ${c.rule.padEnd(15)} ${c.detail}\n`);
  if (result.status === 'accepted') {
    process.stdout.write(`accepted: record #${result.recordId} on ${result.trackId} (${result.hardwareClass}), time to target ${(result.decision.record.timeToTargetMs / 1000).toFixed(1)} s\n`);
    process.stdout.write(`record file: ${result.recordFile} (commit it with the bundles in ${result.bundlesDir})\n`);
    return EXIT.success;
  }
  const failed = result.decision.checks.filter((c) => c.status === 'fail').map((c) => c.rule);
  process.stderr.write(`speedrun: submission refused: ${failed.join(', ')} failed\n`);
  return EXIT.rejected;
}

function listCommand(): number {
  const out: string[] = ['Recipes:'];
  for (const [name, entry] of Object.entries(RECIPES)) {
    const r = entry.create({});
    out.push(`  ${name.padEnd(16)} ${r.description}`, `  ${''.padEnd(16)} source: ${r.source}`);
    for (const [key, describe] of Object.entries(entry.options ?? {})) out.push(`  ${''.padEnd(16)} option ${name}:${key}=<n>: ${describe}`);
  }
  out.push('', 'Tracks:');
  for (const t of BUILTIN_TRACKS) {
    out.push(`  ${trackId(t).padEnd(20)} ${t.description}; preset ${t.preset}, batch ${t.batchSize}, target ${t.target}, eval every ${t.evalInterval} steps on ${t.evalTokens} tokens`);
  }
  out.push(`  ${'heldout:<seed>'.padEnd(20)} a held-out variant of brown-char drawn from the seed (${HELDOUT_FAMILY}); target set by \`speedrun suite\` (unofficial)`);
  out.push(`  ${'text:<file>'.padEnd(20)} any UTF-8 text, char level, first 90% train / last 10% val (unofficial)`);
  out.push(`  ${'shards:<dir>'.padEnd(20)} modded-nanogpt .bin GPT-2 token shards (*_train_*.bin, *_val_*.bin) (unofficial)`);
  out.push('', 'Suite (speedrun suite):');
  for (const w of SUITE_WORKLOADS) out.push(`  ${w.scale.padEnd(16)} ${w.track}`);
  out.push(`  ${'held-out'.padEnd(16)} heldout:<seed>, target = a baseline's validation loss after ${REFERENCE_STEPS} steps on it`);
  out.push('', 'Model presets:');
  for (const [name, p] of Object.entries(MODEL_PRESETS)) {
    out.push(`  ${name.padEnd(16)} ${p.nLayer} layers, ${p.nHead} heads, width ${p.nEmbd}, context ${p.blockSize}, batch ${p.batchSize}`);
  }
  out.push('', `Backends (auto picks the first that loads of ${AUTO_ORDER.join(', ')}):`);
  for (const b of describeBackends()) out.push(`  ${b.name.padEnd(16)} ${b.available ? 'available' : 'not installed'}: ${b.how}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return EXIT.success;
}

/** The one rule for a flag given twice, whatever its type and command: refused, naming both values. */
const givenTwice = (flag: string, values: unknown[]): UserError =>
  new UserError(`--${flag} was given ${values.length} times (${values.map((v) => JSON.stringify(v)).join(', ')}); give it once`);

/**
 * Applies the rule to every option that is not a list (lists, like matrix's --recipe, are repeated on purpose).
 * A yargs middleware, so no command can forget it.
 */
function refuseRepeatedFlags(argv: Record<string, unknown>, options: { array: string[]; alias: Record<string, string[]> }): void {
  const isList = (key: string) => options.array.includes(key) || (options.alias[key] ?? []).some((a) => options.array.includes(a)) || Object.entries(options.alias).some(([k, aliases]) => aliases.includes(key) && options.array.includes(k));
  for (const [key, value] of Object.entries(argv)) {
    if (key === '_' || key === '$0' || key.length === 1 || !Array.isArray(value) || isList(key)) continue;
    throw givenTwice(key, value);
  }
}

/** A numeric flag that names what was typed when it is not a number: "--steps must be a number, got abc". */
const numberFlag =
  (flag: string) =>
  (raw: unknown): number => {
    if (Array.isArray(raw)) throw givenTwice(flag, raw);
    const value = raw;
    const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
    if (!Number.isFinite(n)) throw new UserError(`--${flag} must be a number, got ${JSON.stringify(value) ?? 'nothing'}`);
    return n;
  };

export async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.success;
  const parser: ReturnType<typeof yargs> = yargs(argv)
    .scriptName('speedrun')
    .usage('$0 [run] --recipe <a,b,...> [options]\n\nTime how long a recipe takes to train a GPT to a track\'s target validation loss.')
    .command(
      ['run', '$0'],
      'train until the target validation loss (the default command)',
      (y) =>
        y
          .option('recipe', { alias: 'r', type: 'string', default: 'baseline', describe: 'recipes to compose, in order: a,b,c; options as name:key=value (muon:lr=0.04)' })
          .option('track', { alias: 't', type: 'string', default: 'brown-char', describe: 'brown-char | text:<file> | shards:<dir>' })
          .option('backend', { alias: 'b', type: 'string', default: 'auto', describe: `engine: ${BACKEND_NAMES.join(' | ')} (auto: the first that loads of ${AUTO_ORDER.join(', ')})` })
          .option('seed', { coerce: numberFlag('seed'), default: 0, describe: 'seed of the initialization and the data order' })
          .option('steps', { coerce: numberFlag('steps'), describe: 'step budget (override: run becomes unofficial)' })
          .option('max-time', { coerce: numberFlag('max-time'), describe: 'train-clock budget in seconds (override: unofficial)' })
          .option('target', { coerce: numberFlag('target'), describe: 'target validation loss (override: unofficial)' })
          .option('preset', { type: 'string', describe: `model preset: ${Object.keys(MODEL_PRESETS).join(' | ')} (override: unofficial)` })
          .option('lr', { coerce: numberFlag('lr'), describe: 'peak learning rate (min lr scales with it)' })
          .option('threads', { coerce: numberFlag('threads'), describe: 'wasm threads (default: all cores)' })
          .option('grad-accum', { coerce: numberFlag('grad-accum'), describe: 'split each batch into N micro-batches (same global batch, less memory)' })
          .option('workers', { coerce: numberFlag('workers'), describe: 'data-parallel worker threads, one backend thread each (comms recipes choose how gradients move)' })
          .option('out', { type: 'string', describe: 'results directory (default: $SPEEDRUN_RESULTS, else ./results)' })
          .option('seeds', { coerce: numberFlag('seeds'), default: 1, describe: 'run N seeds (seed, seed+1, ...) and print their statistics' })
          .option('db', { type: 'string', describe: 'results database (default: $SPEEDRUN_DB, else <out>/speedrun.db)' })
          .option('mllog', { type: 'boolean', default: false, describe: 'also print :::MLLOG lines to stdout' })
          .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress bar' })
          .option('force', { type: 'boolean', default: false, describe: 'start even when the first evaluation is estimated to be over an hour away' })
          .option('price-per-hour', { coerce: numberFlag('price-per-hour'), describe: 'dollars per hour of this machine: the run records its cost to target' })
          .option('prices', { type: 'string', describe: 'price table: JSON {"<hardware class>": dollars per hour} (default: $SPEEDRUN_PRICES)' })
          .option('exec', { type: 'string', describe: 'run this trainer command instead (any language; its own process group), timed from its log: needs --log-format and --target' })
          .option('log-format', { choices: LOG_FORMATS, describe: "with --exec: the trainer's log format (modded-nanogpt, mllog, jsonl)" })
          .option('source', { type: 'string', array: true, describe: "with --exec: the trainer's source files, hashed and carried in the bundle (repeat)" }),
      async (args) => {
        if (args.exec !== undefined) {
          if (!args['log-format']) throw new UserError('--exec needs --log-format (modded-nanogpt, mllog or jsonl)');
          if (args.target === undefined) throw new UserError('--exec needs --target (the validation loss the trainer must reach)');
          exitCode = await execCommand(
            { command: args.exec, format: args['log-format'], target: args.target, sources: args.source ?? [], maxTimeSec: args['max-time'], outDir: args.out ?? defaultResultsDir() },
            args.quiet,
            args.db,
          );
          return;
        }
        exitCode = await runCommand(
          {
            recipe: args.recipe,
            track: args.track,
            backend: args.backend as BackendRequest,
            seed: args.seed,
            steps: args.steps,
            maxTimeSec: args['max-time'],
            target: args.target,
            preset: args.preset,
            lr: args.lr,
            threads: args.threads,
            gradAccum: args['grad-accum'],
            workers: args.workers,
            outDir: args.out,
            mllog: args.mllog,
            force: args.force,
            pricePerHour: args['price-per-hour'],
            prices: args.prices,
          },
          args.seeds,
          args.quiet,
          args.db,
        );
      },
    )
    .command(
      'runs',
      'list the runs in the results database',
      (y) =>
        y
          .option('track', { type: 'string', describe: 'only this track id (name@version)' })
          .option('recipe', { type: 'string', describe: 'only this recipe set (a,b,c)' })
          .option('json', { type: 'boolean', default: false })
          .option('db', { type: 'string' })
          .option('out', { type: 'string' }),
      async (args) => {
        await withStore(args.db, args.out, async (store) => {
          exitCode = runsCommand(store, { track: args.track, recipe: args.recipe }, args.json);
        });
      },
    )
    .command(
      'import <bundles..>',
      'verify run bundles (files or directories) and merge them into the results database; --from FORMAT reads other trainers\' logs as external runs',
      (y) =>
        y
          .positional('bundles', { type: 'string', array: true, demandOption: true })
          .option('from', { choices: LOG_FORMATS, describe: "read these as other trainers' logs: modded-nanogpt's record logs, MLPerf :::MLLOG lines, or speedrun's JSON lines" })
          .option('target', { coerce: numberFlag('target'), describe: "with --from: the track's target (default: modded-nanogpt's, from the folder: track_1_short 3.28, track_2_medium 2.92)" })
          .option('track-name', { type: 'string', describe: 'with --from and --target: the name the external track is stored under' })
          .option('db', { type: 'string' })
          .option('out', { type: 'string' }),
      async (args) => {
        await withStore(args.db, args.out, async (store) => {
          exitCode = args.from ? importLogsCommand(args.bundles, { format: args.from, target: args.target, track: args['track-name'] }, store) : await importCommand(args.bundles, store);
        });
      },
    )
    .command(
      'verify <bundles..>',
      'check run bundles offline: checksum, code hash, and every number against the event log (--replay N: and re-run N steps here)',
      (y) =>
        y
          .positional('bundles', { type: 'string', array: true, demandOption: true })
          .option('replay', { coerce: numberFlag('replay'), describe: 're-run the first N steps (same config, seed, backend, threads) and compare the training losses' }),
      async (args) => {
        exitCode = await verifyCommand(args.bundles, args.replay);
      },
    )
    .command(
      'submit <runs..>',
      'turn runs (ids or bundle files) into a record, if they meet the rules',
      (y) =>
        y
          .positional('runs', { type: 'string', array: true, demandOption: true })
          .option('description', { alias: 'm', type: 'string', demandOption: true, describe: 'what the record changes' })
          .option('contributors', { type: 'string', default: '', describe: 'comma-separated names' })
          .option('min-runs', { coerce: numberFlag('min-runs'), describe: 'runs required (default 5)' })
          .option('db', { type: 'string' })
          .option('out', { type: 'string' }),
      async (args) => {
        await withStore(args.db, args.out, async (store) => {
          const contributors = args.contributors.split(',').map((c) => c.trim()).filter((c) => c.length > 0);
          exitCode = await submitCommand(args.runs, args.description, contributors, args['min-runs'], store);
        });
      },
    )
    .command(
      'ci',
      'regression check: candidate (this checkout) vs baseline (git ref or bundles), interleaved pairs until decided; exit 0 ok, 1 regression, 2 error, 3 inconclusive',
      (y) =>
        y
          .option('recipe', { alias: 'r', type: 'string', default: 'baseline' })
          .option('track', { alias: 't', type: 'string', default: 'brown-char' })
          .option('backend', { alias: 'b', type: 'string', default: 'auto' })
          .option('baseline', { type: 'string', demandOption: true, describe: 'git ref (e.g. origin/main) or bundle files/directories, comma-separated' })
          .option('runs', { coerce: numberFlag('runs'), default: DEFAULT_CI_RUNS, describe: 'pairs before the first look (with bundles: candidate runs); seeds first-seed, first-seed+1, ...' })
          .option('max-runs', { coerce: numberFlag('max-runs'), default: DEFAULT_CI_MAX_RUNS, describe: 'most pairs before the check says inconclusive (exit 3)' })
          .option('first-seed', { coerce: numberFlag('first-seed'), default: 0 })
          .option('metric', { choices: CI_METRICS, default: DEFAULT_CI_METRIC, describe: 'what decides: time to target, robust time (steps x median step), or steps to target' })
          .option('alpha', { coerce: numberFlag('alpha'), default: DEFAULT_SEQUENTIAL.alpha, describe: 'false-alarm rate over all the looks' })
          .option('min-effect', { coerce: numberFlag('min-effect'), default: DEFAULT_SEQUENTIAL.minEffect, describe: 'smallest slowdown that counts (0.05 = 5 %)' })
          .option('detect', { coerce: numberFlag('detect'), default: DEFAULT_SEQUENTIAL.detect, describe: 'the slowdown the check must catch (0.1 = 10 %)' })
          .option('beta', { coerce: numberFlag('beta'), default: DEFAULT_SEQUENTIAL.beta, describe: 'largest chance of clearing a --detect slowdown as no regression' })
          .option('run-args', { type: 'string', default: '', describe: 'extra `speedrun run` flags for both sides, written --run-args="--steps 200"' })
          .option('out', { type: 'string', describe: 'where the runs go (default <results>/ci/<timestamp>)' })
          .option('markdown', { type: 'string', describe: 'also write the Markdown summary here' })
          .option('json', { type: 'string', describe: 'write the full report as JSON here' })
          .option('benchmark-json', { type: 'string', describe: "write github-action-benchmark's customSmallerIsBetter JSON here" })
          .option('suite', { type: 'boolean', default: false, describe: "check every public workload of the suite (a regression on any is a regression; alpha split among them); --track is ignored" }),
      async (args) => {
        try {
          const outDir = path.resolve(args.out ?? path.join(defaultResultsDir(), 'ci', new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')));
          const request = {
            recipe: args.recipe,
            backend: args.backend,
            baseline: args.baseline,
            runs: args.runs,
            maxRuns: args['max-runs'],
            firstSeed: args['first-seed'],
            metric: args.metric,
            decision: { alpha: args.alpha, minEffect: args['min-effect'], detect: args.detect, beta: args.beta },
            runArgs: args['run-args'].split(/\s+/).filter((a) => a.length > 0),
            outDir,
            log: (line: string) => process.stderr.write(`ci: ${line}\n`),
          };
          if (args.suite) {
            const suite = await interruptible(() => runCiSuite(request, SUITE_WORKLOADS.map((w) => w.track)));
            const markdown = [`# speedrun ci --suite: ${suite.verdict}`, '', `${suite.reports.length} workloads, alpha ${suite.alphaPerWorkload.toPrecision(3)} each (Bonferroni).`, '', ...suite.reports.map((r) => ciMarkdown(r))].join('\n');
            process.stdout.write(markdown);
            if (args.markdown) fs.writeFileSync(args.markdown, markdown);
            if (process.env.GITHUB_STEP_SUMMARY) fs.appendFileSync(process.env.GITHUB_STEP_SUMMARY, markdown);
            if (args.json) fs.writeFileSync(args.json, `${JSON.stringify(suite, null, 2)}\n`);
            if (args['benchmark-json']) fs.writeFileSync(args['benchmark-json'], `${JSON.stringify(suite.reports.flatMap((r) => ciBenchmarkJson(r)), null, 2)}\n`);
            exitCode = suite.verdict === 'regression' ? CI_EXIT.regression : suite.verdict === 'inconclusive' ? CI_EXIT.inconclusive : CI_EXIT.noRegression;
            return;
          }
          const report = await interruptible(() => runCi({ ...request, track: args.track }));
          const plotSpec = pairedChangesSpec(report);
          const plotFile = plotSpec ? path.join(outDir, 'paired-changes.svg') : undefined;
          if (plotSpec && plotFile) fs.writeFileSync(plotFile, await (await import('./leaderboard/charts.ts')).renderSvg(plotSpec));
          const markdown = ciMarkdown(report, plotFile);
          process.stdout.write(markdown);
          if (args.markdown) fs.writeFileSync(args.markdown, markdown);
          if (process.env.GITHUB_STEP_SUMMARY) fs.appendFileSync(process.env.GITHUB_STEP_SUMMARY, markdown);
          if (args.json) fs.writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
          if (args['benchmark-json']) fs.writeFileSync(args['benchmark-json'], `${JSON.stringify(ciBenchmarkJson(report), null, 2)}\n`);
          exitCode = report.verdict === 'regression' ? CI_EXIT.regression : report.verdict === 'inconclusive' ? CI_EXIT.inconclusive : CI_EXIT.noRegression;
        } catch (error) {
          // ci's contract: 2 for every error, bugs included (1 means "regression" to a CI system).
          process.stderr.write(`speedrun ci: ${error instanceof UserError ? error.message.replace(/^ci: /, '') : (error as Error).stack}\n`);
          exitCode = CI_EXIT.error;
        }
      },
    )
    .command(
      'leaderboard',
      'build the static leaderboard site from the results database (or print the record tables as Markdown)',
      (y) =>
        y
          .option('out', { alias: 'o', type: 'string', describe: 'site directory (default <results>/site)' })
          .option('format', { choices: ['html', 'md'] as const, default: 'html' as const, describe: 'html: the site; md: record tables to stdout' })
          .option('db', { type: 'string' }),
      async (args) => {
        const { recordTablesMarkdown, renderSite } = await import('./leaderboard/render.ts');
        await withStore(args.db, undefined, async (store) => {
          if (args.format === 'md') {
            process.stdout.write(recordTablesMarkdown(store));
          } else {
            const out = path.resolve(args.out ?? path.join(defaultResultsDir(), 'site'));
            const started = performance.now();
            const { pages, data } = await renderSite(store, out);
            process.stdout.write(`wrote ${pages.length} pages (${data.tracks.length} tracks, ${data.records.length} records) to ${out} in ${((performance.now() - started) / 1000).toFixed(2)} s\nopen ${path.join(out, 'index.html')}\n`);
          }
          exitCode = EXIT.success;
        });
      },
    )
    .command(
      'matrix <action>',
      'recipes x seeds x tracks as a Kubernetes Indexed Job (k8s), a Slurm job array (slurm), a list, or run job --index',
      (y) =>
        y
          .positional('action', { choices: ['k8s', 'slurm', 'list', 'run'] as const, demandOption: true })
          .option('recipe', { alias: 'r', type: 'string', array: true, default: ['baseline'], describe: 'a recipe set (a,b,c); repeat for more' })
          .option('track', { alias: 't', type: 'string', array: true, default: ['brown-char'], describe: 'repeat for more' })
          .option('seeds', { coerce: numberFlag('seeds'), default: 5 })
          .option('first-seed', { coerce: numberFlag('first-seed'), default: 0 })
          .option('backend', { alias: 'b', type: 'string', default: 'auto' })
          .option('run-args', { type: 'string', default: '', describe: 'extra `speedrun run` flags for every job, written --run-args="--steps 200"' })
          .option('index', { coerce: numberFlag('index'), describe: 'run: the job to run (0-based)' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'run: print the job\'s `speedrun` arguments as JSON instead of running it' })
          .option('name', { type: 'string', default: 'speedrun-matrix' })
          .option('image', { type: 'string', default: 'node:20-bookworm', describe: 'k8s: an image with speedrun installed in --workdir' })
          .option('workdir', { type: 'string', default: '/speedrun', describe: 'the project directory in the image / on the cluster' })
          .option('results', { type: 'string', default: '/results', describe: 'shared results directory (bundles land in <results>/bundles)' })
          .option('kit', { type: 'string', describe: 'k8s/slurm: an unpacked `speedrun pack` kit on the cluster (absolute path): jobs run its launcher, no npm or network needed' })
          .option('parallelism', { coerce: numberFlag('parallelism'), default: 4 })
          .option('cpus', { coerce: numberFlag('cpus'), default: 2 }),
      async (args) => {
        const spec: MatrixSpec = {
          recipes: args.recipe,
          tracks: args.track,
          seeds: args.seeds,
          firstSeed: args['first-seed'],
          backend: args.backend,
          runArgs: args['run-args'].split(/\s+/).filter((a) => a.length > 0),
        };
        const { expandMatrix, jobAt, kubernetesJob, runArgsOf, slurmScript } = await import('./matrix.ts');
        // Catch a typo before a cluster runs hundreds of failing jobs (data is loaded by the jobs themselves).
        for (const recipe of spec.recipes) composeRecipes(resolveRecipes(recipe));
        for (const track of spec.tracks) resolveTrack(track);
        const cluster = { name: args.name, image: args.image, workdir: args.workdir, results: args.results, parallelism: args.parallelism, cpus: args.cpus, ...(args.kit !== undefined ? { kit: args.kit } : {}) };
        if (args.action === 'run') {
          if (args.index === undefined) throw new UserError('matrix run needs --index (the scheduler sets it from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID)');
          const job = jobAt(spec, args.index);
          if (args['dry-run']) {
            process.stdout.write(`${JSON.stringify(runArgsOf(spec, job))}\n`);
            return;
          }
          process.stderr.write(`matrix job ${job.index}: ${job.recipe} on ${job.track}, seed ${job.seed}\n`);
          exitCode = await main(runArgsOf(spec, job));
        } else if (args.action === 'list') {
          for (const job of expandMatrix(spec)) process.stdout.write(`${job.index}\t${job.track}\t${job.recipe}\tseed ${job.seed}\n`);
        } else {
          process.stdout.write(args.action === 'k8s' ? kubernetesJob(spec, cluster) : slurmScript(spec, cluster));
        }
      },
    )
    .command(
      'retime <record>',
      "re-run a record's configuration here (a record file or id), interleaved with the current record of this machine's class",
      (y) =>
        y
          .positional('record', { type: 'string', demandOption: true, describe: 'a record file (results/records/*.json) or a record id' })
          .option('backend', { alias: 'b', type: 'string', describe: "engine (default: the record's)" })
          .option('from-bundle', { type: 'boolean', default: false, describe: "run the record's runs from their bundled sources when they differ from this checkout" })
          .option('quiet', { alias: 'q', type: 'boolean', default: false })
          .option('db', { type: 'string' })
          .option('out', { type: 'string' }),
      async (args) => {
        await withStore(args.db, args.out, async (store) => {
          exitCode = await retimeCommand(args.record, { backend: args.backend as BackendRequest | undefined, quiet: args.quiet, outDir: args.out, fromBundle: args['from-bundle'] }, store);
        });
      },
    )
    .command(
      'pack',
      'write a self-contained kit (node, speedrun, its modules and corpus) for machines without npm or internet',
      (y) =>
        y
          .option('out', { alias: 'o', type: 'string', default: 'speedrun-kit.tar.xz', describe: 'the archive (.tar.xz), or a directory with --no-compress' })
          .option('compress', { type: 'boolean', default: true, describe: 'xz-compressed tar (--no-compress: the kit as a directory)' }),
      async (args) => {
        const { pack } = await import('./pack.ts');
        const result = await interruptible(() => pack({ out: args.out, compress: args.compress, log: (line) => process.stderr.write(`speedrun: ${line}\n`) }));
        const where = result.archive ?? result.directory;
        const start = result.archive ? `tar xf ${path.basename(where)} && ./speedrun-kit/speedrun` : `${where}/speedrun`;
        process.stdout.write(`wrote ${where} (${(result.bytes / 2 ** 20).toFixed(1)} MiB); on the target: ${start} --recipe baseline\n`);
        exitCode = EXIT.success;
      },
    )
    .command(
      'calibrate',
      "measure this machine's peak for a backend (the MFU denominator) and store it for its hardware class",
      (y) =>
        y
          .option('backend', { alias: 'b', type: 'string', default: 'auto', describe: `engine: ${BACKEND_NAMES.join(' | ')}` })
          .option('threads', { coerce: numberFlag('threads') })
          .option('db', { type: 'string' })
          .option('out', { type: 'string' }),
      async (args) => {
        await withStore(args.db, args.out, async (store) => {
          const c = await interruptible(() => calibrate({ backend: args.backend as BackendRequest, threads: args.threads }, store));
          const before = c.previous ? ` (was ${formatFlops(c.previous.flopsPerSec, 'FLOP/s')})` : '';
          process.stdout.write(`peak of ${c.backend} on ${c.hardwareClass}: ${formatFlops(c.peak.flopsPerSec, 'FLOP/s')} (${c.peak.method})${before}; stored for later runs\n`);
          exitCode = EXIT.success;
        });
      },
    )
    .command(
      'suite',
      'judge recipe sets on every workload of the suite (three scales and a held-out variant), interleaved with the base (baseline unless --base): a table, AlgoPerf\'s score and a verdict on transfer',
      (y) =>
        y
          .option('recipe', { alias: 'r', type: 'string', array: true, describe: 'a recipe set to judge (a,b,c); repeat for several, the base runs beside them once' })
          .option('standings', { type: 'boolean', default: false, describe: 'train nothing: print the standings pooled over every finished suite run in the database (per hardware class, engine and base)' })
          .option('base', { type: 'string', default: 'baseline', describe: 'the reference set, added to every recipe set and timed beside them: speedups are over it (e.g. fused-kernels, to judge recipes on the fused engine)' })
          .option('backend', { alias: 'b', type: 'string', default: 'auto' })
          .option('seeds', { coerce: numberFlag('seeds'), default: 1, describe: 'seeds per workload and recipe set (first-seed, first-seed+1, ...)' })
          .option('first-seed', { coerce: numberFlag('first-seed'), default: 0 })
          .option('heldout-seed', { coerce: numberFlag('heldout-seed'), describe: 'the held-out variant\'s draw (default: random, printed and recorded)' })
          // yargs reads --no-heldout as heldout = false.
          .option('heldout', { type: 'boolean', default: true, describe: 'run the held-out workload (--no-heldout: public workloads only)' })
          .option('workload', { type: 'string', array: true, describe: 'only these public workloads (default: all)' })
          .option('threads', { coerce: numberFlag('threads') })
          .option('out', { type: 'string' })
          .option('db', { type: 'string' })
          .option('quiet', { alias: 'q', type: 'boolean', default: false }),
      async (args) => {
        const { runSuite, formatSuite, suiteRecipeSet } = await import('./suite.ts');
        const { standingsOfStore, formatStandings } = await import('./suiteStandings.ts');
        await withStore(args.db, args.out, async (store) => {
          if (args.standings) {
            const { standings, errors } = standingsOfStore(store);
            for (const error of errors) process.stderr.write(`left out: ${error}\n`);
            process.stdout.write(formatStandings(standings));
            exitCode = EXIT.success;
            return;
          }
          if (!args.recipe || args.recipe.length === 0) throw new UserError('suite: give at least one --recipe (or --standings)');
          const report = await runSuite(
            {
              // Canonical labels (what runs record), and every recipe checked before anything trains.
              recipeSets: args.recipe.map((spec) => suiteRecipeSet(args.base, spec)),
              base: suiteRecipeSet(args.base, args.base),
              backend: args.backend as BackendRequest,
              seeds: args.seeds,
              firstSeed: args['first-seed'],
              heldoutSeed: args.heldout ? args['heldout-seed'] : null,
              threads: args.threads,
              outDir: args.out,
              workloads: args.workload,
            },
            (request) => runOne(request, args.quiet, store),
            store,
            (line) => process.stderr.write(`suite: ${line}\n`),
          );
          const dir = path.join(args.out ?? defaultResultsDir(), 'suites');
          fs.mkdirSync(dir, { recursive: true });
          const file = path.join(dir, `${report.suiteId}.json`);
          fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
          process.stdout.write(`${formatSuite(report)}report: ${file}\n`);
          // With earlier suite runs of this class, engine and base in the database, the pooled table too.
          const mine = standingsOfStore(store).standings.find((t) => t.suiteIds.includes(report.suiteId));
          if (mine && mine.suiteIds.length > 1) process.stdout.write(`\n${formatStandings([mine])}`);
          exitCode = EXIT.success;
        });
      },
    )
    .command('list', 'show recipes, tracks, presets and the backends that load here', {}, () => {
      exitCode = listCommand();
    })
    .command('data', 'data tools: `data prepare` writes GPT-2 BPE .bin shards from text', (data) =>
      data
        .command(
          'prepare',
          'tokenize text files with GPT-2 BPE into modded-nanogpt .bin shards',
          (y) =>
            y
              .option('input', { alias: 'i', type: 'string', array: true, demandOption: true, describe: 'UTF-8 text file(s)' })
              .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'output directory' })
              .option('name', { type: 'string', default: 'data', describe: 'shard name prefix' })
              .option('val-fraction', { coerce: numberFlag('val-fraction'), default: 0.1 })
              .option('shard-tokens', { coerce: numberFlag('shard-tokens'), default: 100_000_000 })
              .option('force', { type: 'boolean', default: false, describe: 'replace shards of this --name already in --out' }),
          (args) => {
            const result = prepareShards({
              inputs: args.input,
              outDir: args.out,
              name: args.name,
              valFraction: args['val-fraction'],
              shardTokens: args['shard-tokens'],
              force: args.force,
            });
            process.stdout.write(`wrote ${result.files.length} shard(s): ${result.trainTokens} train + ${result.valTokens} val tokens\n${result.files.join('\n')}\n`);
          },
        )
        .demandCommand(1, 'choose a data command: prepare'),
    )
    .middleware((args): void => refuseRepeatedFlags(args, (parser as unknown as { getOptions(): { array: string[]; alias: Record<string, string[]> } }).getOptions()), true)
    .strict()
    .help()
    .epilogue('Exit codes: 0 target reached, 1 a bug, 2 bad input, 3 target not reached within the budget, 4 diverged, 5 refused (a record, or a bundle that is malformed or does not verify), 130 interrupted (Ctrl-C, SIGTERM, SIGHUP); `ci`: 0 no regression, 1 regression, 2 error, 3 inconclusive.')
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new UserError(message);
    });
  try {
    await parser.parseAsync();
  } catch (caught) {
    // yargs wraps what its checks (and our coerce functions) throw in a YError: a usage mistake, one line.
    const error = caught instanceof Error && caught.name === 'YError' ? new UserError(caught.message) : asUserError(caught);
    if (error instanceof UserError) {
      process.stderr.write(`speedrun: ${error.message}\n`);
      return error.exitCode ?? EXIT.badInput;
    }
    throw error;
  }
  return exitCode;
}
