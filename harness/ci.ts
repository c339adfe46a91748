/**
 * `speedrun ci`: did this change make time-to-target worse? Candidate (this checkout) and baseline (a git ref,
 * checked out in a temporary worktree, or a set of run bundles measured earlier) are run as separate processes,
 * interleaved with the same seeds (B A B A ...) so machine drift cancels. With a git baseline the check is
 * sequential (harness/regression.ts): after every pair from `--runs` on it decides if it can, and keeps adding
 * pairs up to `--max-runs`; a verdict it cannot back at the noise it measured is "inconclusive". Three estimates
 * are reported for every run: time to target, the robust time (steps to target × the run's median step time,
 * which a burst of interference on a shared machine barely moves) and steps to target. Exit 0 no regression,
 * 1 regression, 2 error, 3 inconclusive. Writes Markdown (for $GITHUB_STEP_SUMMARY or a PR comment), JSON, a
 * plot of the paired ratios, and github-action-benchmark's "customSmallerIsBetter" JSON.
 */
import { spawnSync } from 'node:child_process';
import { onInterrupt, runChild } from './interrupt.ts';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nativeBuilt } from './backends/nativeBlas.ts';
import { codeFiles, hashCodeFiles, PROJECT_ROOT } from './environment.ts';
import { UserError } from './errors.ts';
import {
  compareRuns,
  DEFAULT_SEQUENTIAL,
  operatingCharacteristics,
  sequentialDesign,
  sequentialLook,
  type Comparison,
  type SequentialLook,
  type SequentialOptions,
} from './regression.ts';
import type { TopLevelSpec } from 'vega-lite';
import type { RunRecord } from './records.ts';
import { mean, median, std, twoSampleTTest } from './stats.ts';
import { bundlePaths, readVerifiedBundle } from './store/bundle.ts';
import { engineLabel } from './backends/engineLabel.ts';

/** Pairs before the first look, and the most pairs the check adds (harness/regression.ts DEFAULT_SEQUENTIAL). */
export const DEFAULT_CI_RUNS = DEFAULT_SEQUENTIAL.minPairs;
export const DEFAULT_CI_MAX_RUNS = DEFAULT_SEQUENTIAL.maxPairs;

export type CiMetric = 'time' | 'robust' | 'steps';
export const CI_METRICS: readonly CiMetric[] = ['time', 'robust', 'steps'];
/** What decides unless --metric says otherwise (docs/ci.md "Validation" says why). */
export const DEFAULT_CI_METRIC: CiMetric = 'time';

export interface CiRequest {
  recipe: string;
  track: string;
  backend: string;
  /** A git ref, or bundle files / directories of bundles. */
  baseline: string;
  /** Pairs (runs per side) before the first look; with bundles, the candidate's runs. */
  runs: number;
  /** The most pairs a sequential check adds before it says "inconclusive". */
  maxRuns: number;
  firstSeed: number;
  metric: CiMetric;
  /** alpha, minEffect, detect and beta; minPairs and maxPairs come from runs and maxRuns. */
  decision: Omit<SequentialOptions, 'minPairs' | 'maxPairs'>;
  /** Extra `speedrun run` flags passed to both sides (overrides such as --steps, --target, --preset). */
  runArgs: string[];
  /** Extra environment of the candidate's runs only (the injected slowdown of the validation trials). */
  candidateEnv?: Record<string, string>;
  outDir: string;
  log?: (line: string) => void;
}

/** One measured run, as much as a comparison needs (old baselines only need to write run.json and events.jsonl). */
export interface MeasuredRun {
  seed: number;
  status: string;
  timeToTargetMs: number | null;
  /** Steps to target × the median step time up to the target; null when not reached or not logged. */
  robustTimeMs: number | null;
  stepsToTarget: number | null;
  trainTimeMs: number;
  runId: string;
}

export interface MetricSummary {
  baselineMean: number;
  baselineStd: number;
  candidateMean: number;
  candidateStd: number;
  /** Geometric-mean ratio candidate / baseline; NaN when the candidate missed the target. */
  ratio: number;
  /** Standard deviation of the paired log ratios; null without pairs. */
  pairedNoise: number | null;
}

export interface CiReport {
  verdict: 'regression' | 'no-regression' | 'inconclusive';
  metric: CiMetric;
  recipe: string;
  track: string;
  backend: string;
  baseline: { kind: 'git' | 'bundles'; ref: string; commit?: string };
  decision: SequentialOptions;
  runs: { seed: number; baseline?: MeasuredRun; candidate: MeasuredRun }[];
  metrics: Record<CiMetric, MetricSummary>;
  /** The sequential rule's last look on the deciding metric (git baselines). */
  look: SequentialLook | null;
  /** The unpaired comparison (bundle baselines). */
  comparison: Comparison | null;
  /** At the deciding metric's measured paired noise: how often this design catches a `detect` slowdown. */
  power: { pairedNoise: number; catches: number; expectedPairs: number } | null;
  reason: string;
}

/** Steps to target × the median step time of the steps before it: robust to a few slow steps. */
export function robustTime(stepMs: readonly number[], stepsToTarget: number | null): number | null {
  if (stepsToTarget === null || stepsToTarget <= 0 || stepMs.length < stepsToTarget) return null;
  return stepsToTarget * median(stepMs.slice(0, stepsToTarget));
}

/** The step times of parsed events, in step order; [] when a step is missing or its time is not a number. */
export function stepTimesOfEvents(events: Iterable<unknown>): number[] {
  const times: number[] = [];
  for (const event of events) {
    const e = event as { key?: unknown; metadata?: { step?: unknown; step_ms?: unknown } } | null;
    if (e?.key !== 'train_loss') continue;
    const step = e.metadata?.step;
    const ms = e.metadata?.step_ms;
    if (typeof step !== 'number' || typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || step !== times.length + 1) return [];
    times.push(ms);
  }
  return times;
}

/** The step times of a run's event log (events.jsonl, one JSON event a line, MLLOG-prefixed or not); [] when unreadable. */
export function stepTimesOf(lines: Iterable<string>): number[] {
  const events: unknown[] = [];
  for (const raw of lines) {
    const line = raw.startsWith(':::MLLOG ') ? raw.slice(9) : raw;
    if (!line.includes('"train_loss"')) continue;
    try {
      events.push(JSON.parse(line));
    } catch {
      return [];
    }
  }
  return stepTimesOfEvents(events);
}

const toMeasured = (r: Pick<RunRecord, 'runId' | 'status' | 'timeToTargetMs' | 'stepsToTarget' | 'trainTimeMs' | 'config'>, stepMs: readonly number[]): MeasuredRun => ({
  seed: r.config.train.seed,
  status: r.status,
  timeToTargetMs: r.timeToTargetMs,
  robustTimeMs: robustTime(stepMs, r.stepsToTarget),
  stepsToTarget: r.stepsToTarget,
  trainTimeMs: r.trainTimeMs,
  runId: r.runId,
});

function git(args: string[], cwd = PROJECT_ROOT): { ok: boolean; out: string } {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  return { ok: r.status === 0, out: (r.stdout ?? '').trim() || (r.stderr ?? '').trim() };
}

/** Runs one `speedrun run` of a checkout in its own process and reads back its run.json and step times. */
export async function runOnce(root: string, request: CiRequest, seed: number, outDir: string, env: Record<string, string> = {}): Promise<MeasuredRun> {
  const args = [path.join(root, 'bin', 'speedrun.js'), 'run', '--recipe', request.recipe, '--track', request.track, '--backend', request.backend, '--seed', String(seed), '--quiet', '--out', outDir, ...request.runArgs];
  // Its own process group, asynchronously: a signal to ci stops the run at once (harness/interrupt.ts).
  const child = await runChild(process.execPath, args, { cwd: root, env: { ...process.env, ...env, SPEEDRUN_DB: path.join(outDir, 'speedrun.db') } });
  const runsDir = path.join(outDir, 'runs');
  const produced = fs.existsSync(runsDir) ? fs.readdirSync(runsDir).map((d) => path.join(runsDir, d)).filter((d) => fs.existsSync(path.join(d, 'run.json'))) : [];
  if (produced.length !== 1) {
    const lastLine = (child.stderr ?? '').trim().split('\n').at(-1) ?? '';
    throw new UserError(`ci: ${root === PROJECT_ROOT ? 'candidate' : 'baseline'} run (seed ${seed}) produced no result (exit ${child.status}): ${lastLine}`);
  }
  const eventsFile = path.join(produced[0]!, 'events.jsonl');
  const stepMs = fs.existsSync(eventsFile) ? stepTimesOf(fs.readFileSync(eventsFile, 'utf8').split('\n')) : [];
  return toMeasured(JSON.parse(fs.readFileSync(path.join(produced[0]!, 'run.json'), 'utf8')) as RunRecord, stepMs);
}

const valueOf = (run: MeasuredRun, metric: CiMetric): number | null =>
  metric === 'time' ? run.timeToTargetMs : metric === 'robust' ? run.robustTimeMs : run.stepsToTarget;

function summarize(baselines: readonly MeasuredRun[], candidates: readonly MeasuredRun[], metric: CiMetric, paired: boolean): MetricSummary {
  const b = baselines.map((r) => valueOf(r, metric)).filter((v): v is number => v !== null);
  const c = candidates.map((r) => valueOf(r, metric)).filter((v): v is number => v !== null);
  const complete = c.length === candidates.length && b.length === baselines.length;
  const logs = (xs: number[]) => xs.map(Math.log);
  const differences = paired && complete ? c.map((v, i) => Math.log(v / b[i]!)) : [];
  return {
    baselineMean: b.length ? mean(b) : Number.NaN,
    baselineStd: std(b),
    candidateMean: c.length ? mean(c) : Number.NaN,
    candidateStd: std(c),
    ratio: complete && c.length && b.length ? Math.exp(mean(logs(c)) - mean(logs(b))) : Number.NaN,
    pairedNoise: differences.length >= 2 ? std(differences) : null,
  };
}

export type PairsOutcome = { verdict: SequentialLook['verdict']; reason: string; look: SequentialLook | null };

/**
 * The sequential decision after the pairs measured so far (pure: the loop in runCi, and the tests, call it). A
 * baseline that missed the target is an error; a candidate that missed it where the baseline reached it is a
 * regression outright.
 */
export function decidePairs(runs: CiReport['runs'], metric: CiMetric, decision: SequentialOptions): PairsOutcome {
  const missedBaseline = runs.filter((r) => r.baseline!.timeToTargetMs === null);
  if (missedBaseline.length > 0) {
    throw new UserError(`ci: the baseline did not reach the target in ${missedBaseline.length} run(s) (${missedBaseline.map((r) => `seed ${r.seed}: ${r.baseline!.status}`).join(', ')}); nothing to compare against`);
  }
  const missed = runs.filter((r) => r.candidate.timeToTargetMs === null);
  if (missed.length > 0) {
    return { verdict: 'regression', look: null, reason: `the candidate did not reach the target in ${missed.length} of ${runs.length} runs (${missed.map((r) => `seed ${r.seed}: ${r.candidate.status}`).join(', ')}) while the baseline always did` };
  }
  if (runs.length < decision.minPairs) return { verdict: 'continue', look: null, reason: `${runs.length} pairs, the first look is at ${decision.minPairs}` };
  const differences = runs.map((r) => {
    const c = valueOf(r.candidate, metric);
    const b = valueOf(r.baseline!, metric);
    if (c === null || b === null) throw new UserError(`ci: seed ${r.seed} has no ${metric} estimate (its event log has no step times); use --metric time`);
    return Math.log(c / b);
  });
  const look = sequentialLook(differences, sequentialDesign(decision));
  return { verdict: look.verdict, look, reason: `${metric} to target: ${look.reason}` };
}

/** Bundle baselines are fixed and unpaired: regression by Welch's test; no regression only if a `detect` slowdown is ruled out at beta. */
function decideUnpaired(baselines: readonly MeasuredRun[], candidates: readonly MeasuredRun[], metric: CiMetric, decision: SequentialOptions): { verdict: CiReport['verdict']; reason: string; comparison: Comparison | null } {
  const failedBaseline = baselines.filter((r) => r.timeToTargetMs === null);
  if (failedBaseline.length > 0) {
    throw new UserError(`ci: the baseline did not reach the target in ${failedBaseline.length} run(s) (${failedBaseline.map((r) => `seed ${r.seed}: ${r.status}`).join(', ')}); nothing to compare against`);
  }
  const missed = candidates.filter((r) => r.timeToTargetMs === null);
  if (missed.length > 0) {
    return { verdict: 'regression', comparison: null, reason: `the candidate did not reach the target in ${missed.length} of ${candidates.length} runs (${missed.map((r) => `seed ${r.seed}: ${r.status}`).join(', ')}) while the baseline always did` };
  }
  const values = (runs: readonly MeasuredRun[]) =>
    runs.map((r) => {
      const v = valueOf(r, metric);
      if (v === null) throw new UserError(`ci: seed ${r.seed} has no ${metric} estimate; use --metric time`);
      return v;
    });
  const c = values(candidates);
  const b = values(baselines);
  const comparison = compareRuns(c, b, false, decision);
  if (comparison.verdict === 'regression') return { verdict: 'regression', comparison, reason: `${metric} to target: ${comparison.reason}` };
  const shifted = b.map((v) => Math.log(v) + Math.log(1 + decision.detect));
  const ruledOut = twoSampleTTest(c.map(Math.log), shifted, 'less').pValue < decision.beta;
  return ruledOut
    ? { verdict: 'no-regression', comparison, reason: `${metric} to target: ${comparison.reason}, and a ${decision.detect * 100} % slowdown is ruled out` }
    : { verdict: 'inconclusive', comparison, reason: `inconclusive: ${metric} to target: ${comparison.reason}, but a ${decision.detect * 100} % slowdown cannot be ruled out at this noise with ${candidates.length} runs; raise --runs` };
}

/**
 * Both sides must run on the same engine. `auto` could pick differently in the baseline's checkout (its native
 * addon is not built there, or it predates a backend), so ci settles it once: native when built here, else wasm.
 * GPU backends are compared only when asked for by name.
 */
export function concreteBackend(backend: string): string {
  return backend === 'auto' ? (nativeBuilt() ? 'native' : 'wasm') : backend;
}

/** Whether two checkouts hold the same compiled sources (harness/, recipes/) and compiler configuration. */
function sameSources(a: string, b: string): boolean {
  const configs = (root: string) => ['tsconfig.json', 'tsconfig.build.json'].map((f) => (fs.existsSync(path.join(root, f)) ? fs.readFileSync(path.join(root, f), 'utf8') : ''));
  return hashCodeFiles(codeFiles(a)) === hashCodeFiles(codeFiles(b)) && configs(a).join('\0') === configs(b).join('\0');
}

function report(request: CiRequest & { backend: string }, decision: SequentialOptions, runs: CiReport['runs'], baselines: MeasuredRun[], paired: boolean, outcome: { verdict: CiReport['verdict']; reason: string; look: SequentialLook | null; comparison: Comparison | null }, baseline: CiReport['baseline']): CiReport {
  const candidates = runs.map((r) => r.candidate);
  const metrics = Object.fromEntries(CI_METRICS.map((m) => [m, summarize(baselines, candidates, m, paired)])) as Record<CiMetric, MetricSummary>;
  const noise = metrics[request.metric].pairedNoise;
  const power = paired && noise !== null
    ? (() => {
        const oc = operatingCharacteristics(sequentialDesign(decision), noise, decision.detect);
        return { pairedNoise: noise, catches: oc.regression, expectedPairs: oc.expectedPairs };
      })()
    : null;
  return { verdict: outcome.verdict, metric: request.metric, recipe: request.recipe, track: request.track, backend: request.backend, baseline, decision, runs, metrics, look: outcome.look, comparison: outcome.comparison, power, reason: outcome.reason };
}

export async function runCi(ciRequest: CiRequest): Promise<CiReport> {
  let request = { ...ciRequest, backend: concreteBackend(ciRequest.backend) };
  const log = request.log ?? (() => {});
  if (!Number.isInteger(request.runs) || request.runs < 2) throw new UserError(`--runs must be an integer of at least 2 (3 against a git ref), got ${request.runs}`);
  if (!Number.isInteger(request.maxRuns) || request.maxRuns < request.runs || request.maxRuns > 200) throw new UserError(`--max-runs must be an integer from --runs (${request.runs}) to 200, got ${request.maxRuns}`);
  const { alpha, beta, minEffect, detect } = request.decision;
  if (!(alpha > 0 && alpha < 0.5)) throw new UserError(`--alpha must be in (0, 0.5), got ${alpha}`);
  if (!(beta > 0 && beta < 0.5)) throw new UserError(`--beta must be in (0, 0.5), got ${beta}`);
  if (!(minEffect >= 0) || !(detect > minEffect)) throw new UserError(`--detect (${detect}) must be above --min-effect (${minEffect}), which must be at least 0`);
  const decision: SequentialOptions = { ...request.decision, minPairs: request.runs, maxPairs: request.maxRuns };
  fs.mkdirSync(request.outDir, { recursive: true });
  const runs: CiReport['runs'] = [];

  if (fs.existsSync(request.baseline.split(',')[0]!)) {
    // Baseline measured earlier: verified bundles of the same track; compared unpaired, with a fixed run count.
    const files = bundlePaths(request.baseline.split(','));
    if (files.length < 2) throw new UserError(`ci: baseline ${request.baseline} holds ${files.length} bundle(s); at least 2 are needed`);
    const baselineRuns = files.map((file) => {
      const bundle = readVerifiedBundle(file);
      const stepMs = stepTimesOfEvents(bundle.events); // verified already: no second parse
      return { bundle, run: toMeasured(bundle.run, stepMs) };
    });
    // Like with like: the candidate runs on the engine the baseline ran on.
    const engines = [...new Set(baselineRuns.map((b) => engineLabel(b.bundle.run.backend)))];
    if (engines.length !== 1) throw new UserError(`ci: baseline bundles ran on different backends (${engines.join(', ')})`);
    const backendName = baselineRuns[0]!.bundle.run.backend.name;
    if (ciRequest.backend === 'auto') request = { ...request, backend: backendName };
    else if (request.backend !== backendName) throw new UserError(`ci: baseline bundles ran on ${engines[0]}, not ${request.backend}; pass --backend ${backendName}`);
    // native's kernels-only build, where the baseline ran on it: the candidate too, even where OpenBLAS's is built.
    if (engines[0] !== backendName) request = { ...request, candidateEnv: { ...request.candidateEnv, SPEEDRUN_NATIVE_BLAS: '0' } };
    const tracks = new Set(baselineRuns.map((b) => b.bundle.run.track.id));
    if (tracks.size !== 1) throw new UserError(`ci: baseline bundles are on different tracks: ${[...tracks].join(', ')}`);
    for (let i = 0; i < request.runs; i++) {
      const seed = request.firstSeed + i;
      log(`candidate seed ${seed}…`);
      runs.push({ seed, candidate: await runOnce(PROJECT_ROOT, request, seed, path.join(request.outDir, 'candidate', `seed-${seed}`), request.candidateEnv) });
    }
    const baselines = baselineRuns.map((b) => b.run);
    const outcome = decideUnpaired(baselines, runs.map((r) => r.candidate), request.metric, decision);
    return report(request, decision, runs, baselines, false, { ...outcome, look: null }, { kind: 'bundles', ref: request.baseline });
  }

  if (request.runs < 3) throw new UserError(`--runs must be at least 3 against a git ref (the sequential check's first look), got ${request.runs}`);
  const resolved = git(['rev-parse', '--verify', '--quiet', `${request.baseline}^{commit}`]);
  if (!resolved.ok) throw new UserError(`ci: --baseline '${request.baseline}' is neither an existing bundle path nor a git ref of this repository`);
  const commit = resolved.out;
  const worktree = path.join(request.outDir, 'baseline-checkout');
  const added = git(['worktree', 'add', '--detach', '--force', worktree, commit]);
  if (!added.ok) throw new UserError(`ci: could not check out ${request.baseline} (${added.out.split('\n').at(-1)})`);
  let outcome: PairsOutcome = { verdict: 'continue', look: null, reason: '' };
  // On every exit path, a signal included: no worktree stays registered to block the next ci with this --out.
  const removeWorktree = () => git(['worktree', 'remove', '--force', worktree]);
  const forget = onInterrupt(removeWorktree);
  try {
    // The baseline uses this checkout's installed packages and built native addon.
    fs.symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(worktree, 'node_modules'), 'dir');
    if (fs.existsSync(path.join(PROJECT_ROOT, 'native', 'build')) && fs.existsSync(path.join(worktree, 'native'))) {
      fs.symlinkSync(path.join(PROJECT_ROOT, 'native', 'build'), path.join(worktree, 'native', 'build'), 'dir');
    }
    // Both sides run the same way: compiled, as `npm ci` leaves a checkout (where the baseline's version can);
    // a build that is already current is left as it is. A baseline whose sources are this checkout's (an A/A
    // check) takes this checkout's dist/ instead of compiling it again; runtime.mjs still checks its hash.
    if (sameSources(worktree, PROJECT_ROOT) && fs.existsSync(path.join(PROJECT_ROOT, 'dist', '.source-hash'))) {
      fs.cpSync(path.join(PROJECT_ROOT, 'dist'), path.join(worktree, 'dist'), { recursive: true });
    }
    for (const root of [worktree, PROJECT_ROOT]) {
      const runtime = path.join(root, 'bin', 'runtime.mjs');
      if (fs.existsSync(runtime)) spawnSync(process.execPath, [runtime, 'build'], { cwd: root, encoding: 'utf8' });
    }
    // One pair at a time, deciding after each from the first look on.
    for (let i = 0; outcome.verdict === 'continue' && i < request.maxRuns; i++) {
      const seed = request.firstSeed + i;
      log(`seed ${seed}: baseline (${request.baseline})…`);
      const baseline = await runOnce(worktree, request, seed, path.join(request.outDir, 'baseline', `seed-${seed}`));
      log(`seed ${seed}: candidate…`);
      const candidate = await runOnce(PROJECT_ROOT, request, seed, path.join(request.outDir, 'candidate', `seed-${seed}`), request.candidateEnv);
      runs.push({ seed, baseline, candidate });
      outcome = decidePairs(runs, request.metric, decision);
      if (outcome.look) log(`${runs.length} pairs: ${outcome.look.reason}`);
    }
  } finally {
    forget();
    removeWorktree();
  }
  const verdict = outcome.verdict === 'continue' ? 'inconclusive' : outcome.verdict; // only if the loop could not look
  return report(request, decision, runs, runs.map((r) => r.baseline!), true, { ...outcome, verdict, comparison: null }, { kind: 'git', ref: request.baseline, commit });
}

const seconds = (ms: number | null | undefined): string => (ms === null || ms === undefined || Number.isNaN(ms) ? '—' : `${(ms / 1000).toFixed(1)} s`);
const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
const change = (ratio: number): string => (Number.isNaN(ratio) ? '—' : `${ratio >= 1 ? '+' : ''}${pct(ratio - 1)}`);
const METRIC_LABEL: Record<CiMetric, string> = { time: 'time to target', robust: 'robust time (steps × median step)', steps: 'steps to target' };
const ICON: Record<CiReport['verdict'], string> = { regression: '❌ regression', 'no-regression': '✅ no regression', inconclusive: '⚠️ inconclusive' };

/** The paired log ratios as percentages, one a pair: what the plot and the runs table show. */
export function pairedChanges(report: CiReport): { seed: number; metric: CiMetric; change: number }[] {
  return report.runs.flatMap((r) =>
    CI_METRICS.flatMap((metric) => {
      const c = valueOf(r.candidate, metric);
      const b = r.baseline ? valueOf(r.baseline, metric) : null;
      return c !== null && b !== null ? [{ seed: r.seed, metric, change: (c / b - 1) * 100 }] : [];
    }),
  );
}

export function ciMarkdown(report: CiReport, plotFile?: string): string {
  const baselineName = report.baseline.kind === 'git' ? `\`${report.baseline.ref}\` (${report.baseline.commit?.slice(0, 10)})` : `bundles \`${report.baseline.ref}\``;
  const d = report.decision;
  const rule =
    report.baseline.kind === 'git'
      ? `Sequential rule: after every pair from ${d.minPairs} to ${d.maxPairs}, a regression needs a one-sided paired t-test past its O'Brien-Fleming share of alpha = ${d.alpha} and a slowdown above ${d.minEffect * 100} %; no regression needs a ${d.detect * 100} % slowdown ruled out at its Pocock share of beta = ${d.beta}.`
      : `Fixed comparison (unpaired, Welch): a regression needs p < ${d.alpha} and a slowdown above ${d.minEffect * 100} %; no regression needs a ${d.detect * 100} % slowdown ruled out at beta = ${d.beta}.`;
  const noise = report.power
    ? `Paired noise on ${report.metric}: ${pct(report.power.pairedNoise)} after ${report.runs.length} pairs; at that noise this design catches a ${d.detect * 100} % slowdown ${pct(report.power.catches)} of the time (normal theory, about ${report.power.expectedPairs.toFixed(0)} pairs on average).`
    : `Noise: baseline ${report.metric} spread ${pct(report.metrics[report.metric].baselineStd / report.metrics[report.metric].baselineMean)} (CV), candidate ${pct(report.metrics[report.metric].candidateStd / report.metrics[report.metric].candidateMean)}.`;
  const fmt = (metric: CiMetric, v: number) => (metric === 'steps' ? (Number.isNaN(v) ? '—' : v.toFixed(0)) : seconds(v));
  const lines = [
    `### speedrun ci: ${ICON[report.verdict]}`,
    '',
    `Recipe \`${report.recipe}\` on \`${report.track}\` (${report.backend}), ${report.runs.length} ${report.baseline.kind === 'git' ? 'pairs' : 'runs'}, baseline ${baselineName}${report.baseline.kind === 'git' ? ', interleaved with the same seeds' : ''}.`,
    `Decision on ${METRIC_LABEL[report.metric]}: ${report.reason}.`,
    noise,
    rule,
    '',
    '| | baseline (mean ± std) | candidate (mean ± std) | change | paired noise |',
    '|---|---:|---:|---:|---:|',
    ...CI_METRICS.map((m) => {
      const s = report.metrics[m];
      return `| ${METRIC_LABEL[m]}${m === report.metric ? ' (decides)' : ''} | ${fmt(m, s.baselineMean)} ± ${fmt(m, s.baselineStd)} | ${fmt(m, s.candidateMean)} ± ${fmt(m, s.candidateStd)} | ${change(s.ratio)} | ${s.pairedNoise === null ? '—' : pct(s.pairedNoise)} |`;
    }),
    '',
    ...(plotFile ? [`Paired changes per seed: [${path.basename(plotFile)}](${plotFile})`, ''] : []),
    '<details><summary>runs</summary>',
    '',
    '| seed | baseline time | baseline robust | baseline steps | candidate time | candidate robust | candidate steps | change (time) |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...report.runs.map((r) => {
      const t = r.baseline?.timeToTargetMs && r.candidate.timeToTargetMs ? change(r.candidate.timeToTargetMs / r.baseline.timeToTargetMs) : '—';
      return `| ${r.seed} | ${seconds(r.baseline?.timeToTargetMs)} | ${seconds(r.baseline?.robustTimeMs)} | ${r.baseline?.stepsToTarget ?? '—'} | ${seconds(r.candidate.timeToTargetMs)} | ${seconds(r.candidate.robustTimeMs)} | ${r.candidate.stepsToTarget ?? r.candidate.status} | ${t} |`;
    }),
    '',
    '</details>',
  ];
  return `${lines.join('\n')}\n`;
}

/** github-action-benchmark's custom format (tool: customSmallerIsBetter). */
export function ciBenchmarkJson(report: CiReport): { name: string; unit: string; value: number; range?: string; extra?: string }[] {
  const label = `${report.recipe} on ${report.track} (${report.backend})`;
  const { time, robust, steps } = report.metrics;
  return [
    { name: `time to target: ${label}`, unit: 's', value: time.candidateMean / 1000, range: `± ${(time.candidateStd / 1000).toFixed(2)}`, extra: `${report.runs.length} runs; baseline ${(time.baselineMean / 1000).toFixed(2)} s` },
    { name: `robust time to target: ${label}`, unit: 's', value: robust.candidateMean / 1000, range: `± ${(robust.candidateStd / 1000).toFixed(2)}`, extra: `baseline ${(robust.baselineMean / 1000).toFixed(2)} s` },
    { name: `steps to target: ${label}`, unit: 'steps', value: steps.candidateMean, extra: `baseline ${steps.baselineMean.toFixed(0)}` },
  ];
}

/** The paired changes per seed, one colour per estimate, with the no-change and the `detect` lines (Vega-Lite). */
export function pairedChangesSpec(report: CiReport): TopLevelSpec | null {
  const values = pairedChanges(report).map((p) => ({ ...p, metric: METRIC_LABEL[p.metric] }));
  if (values.length === 0) return null;
  return {
    width: 480,
    height: 180,
    title: `paired change per seed (candidate / baseline − 1), deciding on ${METRIC_LABEL[report.metric]}`,
    layer: [
      {
        data: { values },
        mark: { type: 'point', filled: true, size: 60 },
        encoding: {
          x: { field: 'seed', type: 'ordinal', title: 'seed (pair)' },
          y: { field: 'change', type: 'quantitative', title: 'change (%)' },
          color: { field: 'metric', type: 'nominal', title: null, legend: { orient: 'bottom', labelLimit: 400 } },
        },
      },
      { data: { values: [{ y: 0 }] }, mark: { type: 'rule', color: '#888' }, encoding: { y: { field: 'y', type: 'quantitative' } } },
      { data: { values: [{ y: report.decision.detect * 100 }] }, mark: { type: 'rule', color: '#c33', strokeDash: [4, 4] }, encoding: { y: { field: 'y', type: 'quantitative' } } },
    ],
  };
}

/** `ci --suite`: the check on each workload, verdicts combined. */
export interface CiSuiteReport {
  verdict: CiReport['verdict'];
  /** The false-alarm rate each workload's check ran at: alpha / workloads (Bonferroni), so the suite's stays alpha. */
  alphaPerWorkload: number;
  reports: CiReport[];
}

/**
 * The regression check on every public workload of the suite: a regression on any one is a regression; otherwise
 * any inconclusive one makes the suite inconclusive. Each check spends alpha / W, so the suite's false-alarm rate
 * stays at most alpha (a single workload's beta and power are unchanged).
 */
export async function runCiSuite(request: Omit<CiRequest, 'track'>, tracks: readonly string[]): Promise<CiSuiteReport> {
  const alphaPerWorkload = request.decision.alpha / tracks.length;
  const reports: CiReport[] = [];
  for (const track of tracks) {
    request.log?.(`suite workload ${track} (alpha ${alphaPerWorkload.toPrecision(3)})`);
    reports.push(await runCi({ ...request, track, decision: { ...request.decision, alpha: alphaPerWorkload }, outDir: `${request.outDir}/${track.replace(/[^a-zA-Z0-9-]+/g, '_')}` }));
  }
  return { verdict: combineVerdicts(reports.map((r) => r.verdict)), alphaPerWorkload, reports };
}

export function combineVerdicts(verdicts: readonly CiReport['verdict'][]): CiReport['verdict'] {
  if (verdicts.includes('regression')) return 'regression';
  if (verdicts.includes('inconclusive')) return 'inconclusive';
  return 'no-regression';
}
