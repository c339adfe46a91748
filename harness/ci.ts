/**
 * `speedrun ci`: did this change make time-to-target worse? Candidate (this checkout) and baseline (a git ref,
 * checked out in a temporary worktree, or a set of run bundles measured earlier) are run as separate processes,
 * interleaved with the same seeds (B A B A ...) so machine drift cancels; the decision rule is harness/regression.ts.
 * Steps-to-target is reported beside time as the noise-free companion. Exit 0 no regression, 1 regression,
 * 2 error. Writes Markdown (for $GITHUB_STEP_SUMMARY or a PR comment), JSON, and github-action-benchmark's
 * "customSmallerIsBetter" JSON.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nativeBuilt } from './backends/nativeBlas.ts';
import { codeFiles, hashCodeFiles, PROJECT_ROOT } from './environment.ts';
import { UserError } from './errors.ts';
import { compareRuns, type Comparison, type DecisionOptions } from './regression.ts';
import type { RunRecord } from './records.ts';
import { mean, std } from './stats.ts';
import { bundlePaths, readVerifiedBundle } from './store/bundle.ts';

/**
 * Run-to-run noise of one brown-char time to target on this machine, for paired runs of the same seed: 2.2 %,
 * measured with `speedrun ci --baseline HEAD --recipe ngpt --runs 3` (a real A/A, 2026-11-23; README "CI
 * regression checks"). Three pairs make that a rough estimate; the default run count keeps its bars up to ~3 %.
 */
export const MEASURED_NOISE_CV = 0.022;

/** Runs per side: at MEASURED_NOISE_CV, false alarms <= 1 % and power >= 90 % for a 10 % slowdown (tested). */
export const DEFAULT_CI_RUNS = 6;

export interface CiRequest {
  recipe: string;
  track: string;
  backend: string;
  /** A git ref, or bundle files / directories of bundles. */
  baseline: string;
  runs: number;
  firstSeed: number;
  metric: 'time' | 'steps';
  decision: DecisionOptions;
  /** Extra `speedrun run` flags passed to both sides (overrides such as --steps, --target, --preset). */
  runArgs: string[];
  outDir: string;
  log?: (line: string) => void;
}

/** One measured run, as much as a comparison needs (old baselines only need to write run.json). */
export interface MeasuredRun {
  seed: number;
  status: string;
  timeToTargetMs: number | null;
  stepsToTarget: number | null;
  trainTimeMs: number;
  runId: string;
}

export interface CiReport {
  verdict: 'regression' | 'no-regression';
  metric: 'time' | 'steps';
  recipe: string;
  track: string;
  backend: string;
  baseline: { kind: 'git' | 'bundles'; ref: string; commit?: string };
  decision: DecisionOptions;
  runs: { seed: number; baseline?: MeasuredRun; candidate: MeasuredRun }[];
  time: { baselineMeanMs: number; baselineStdMs: number; candidateMeanMs: number; candidateStdMs: number; comparison: Comparison | null };
  steps: { baselineMean: number; candidateMean: number; comparison: Comparison | null };
  reason: string;
}

const toMeasured = (r: Pick<RunRecord, 'runId' | 'status' | 'timeToTargetMs' | 'stepsToTarget' | 'trainTimeMs' | 'config'>): MeasuredRun => ({
  seed: r.config.train.seed,
  status: r.status,
  timeToTargetMs: r.timeToTargetMs,
  stepsToTarget: r.stepsToTarget,
  trainTimeMs: r.trainTimeMs,
  runId: r.runId,
});

function git(args: string[], cwd = PROJECT_ROOT): { ok: boolean; out: string } {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  return { ok: r.status === 0, out: (r.stdout ?? '').trim() || (r.stderr ?? '').trim() };
}

/** Runs one `speedrun run` of a checkout in its own process and reads back its run.json. */
function runOnce(root: string, request: CiRequest, seed: number, outDir: string): MeasuredRun {
  const args = [path.join(root, 'bin', 'speedrun.js'), 'run', '--recipe', request.recipe, '--track', request.track, '--backend', request.backend, '--seed', String(seed), '--quiet', '--out', outDir, ...request.runArgs];
  const child = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: { ...process.env, SPEEDRUN_DB: path.join(outDir, 'speedrun.db') }, maxBuffer: 64 * 2 ** 20 });
  const runsDir = path.join(outDir, 'runs');
  const produced = fs.existsSync(runsDir) ? fs.readdirSync(runsDir).map((d) => path.join(runsDir, d, 'run.json')).filter((f) => fs.existsSync(f)) : [];
  if (produced.length !== 1) {
    const lastLine = (child.stderr ?? '').trim().split('\n').at(-1) ?? '';
    throw new UserError(`ci: ${root === PROJECT_ROOT ? 'candidate' : 'baseline'} run (seed ${seed}) produced no result (exit ${child.status}): ${lastLine}`);
  }
  return toMeasured(JSON.parse(fs.readFileSync(produced[0]!, 'utf8')) as RunRecord);
}

export function decide(request: Pick<CiRequest, 'metric' | 'decision'>, runs: CiReport['runs'], baselineOnly: MeasuredRun[] | undefined, paired: boolean): Pick<CiReport, 'verdict' | 'time' | 'steps' | 'reason'> {
  const baselines = baselineOnly ?? runs.map((r) => r.baseline!);
  const candidates = runs.map((r) => r.candidate);
  const failedBaseline = baselines.filter((r) => r.timeToTargetMs === null);
  if (failedBaseline.length > 0) {
    throw new UserError(`ci: the baseline did not reach the target in ${failedBaseline.length} run(s) (${failedBaseline.map((r) => `seed ${r.seed}: ${r.status}`).join(', ')}); nothing to compare against`);
  }
  const bTimes = baselines.map((r) => r.timeToTargetMs!);
  const bSteps = baselines.map((r) => r.stepsToTarget!);
  const reachedC = candidates.filter((r) => r.timeToTargetMs !== null);
  const cTimes = reachedC.map((r) => r.timeToTargetMs!);
  const cSteps = reachedC.map((r) => r.stepsToTarget!);
  const time = { baselineMeanMs: mean(bTimes), baselineStdMs: std(bTimes), candidateMeanMs: cTimes.length ? mean(cTimes) : Number.NaN, candidateStdMs: std(cTimes), comparison: null as Comparison | null };
  const steps = { baselineMean: mean(bSteps), candidateMean: cSteps.length ? mean(cSteps) : Number.NaN, comparison: null as Comparison | null };
  if (reachedC.length < candidates.length) {
    const missed = candidates.filter((r) => r.timeToTargetMs === null);
    return { verdict: 'regression', time, steps, reason: `the candidate did not reach the target in ${missed.length} of ${candidates.length} runs (${missed.map((r) => `seed ${r.seed}: ${r.status}`).join(', ')}) while the baseline always did` };
  }
  time.comparison = compareRuns(cTimes, bTimes, paired, request.decision);
  steps.comparison = compareRuns(cSteps, bSteps, paired, request.decision);
  const decisive = request.metric === 'time' ? time.comparison : steps.comparison;
  return { verdict: decisive.verdict, time, steps, reason: `${request.metric === 'time' ? 'time' : 'steps'} to target: ${decisive.reason}` };
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

export function runCi(ciRequest: CiRequest): CiReport {
  let request = { ...ciRequest, backend: concreteBackend(ciRequest.backend) };
  const log = request.log ?? (() => {});
  if (!Number.isInteger(request.runs) || request.runs < 2) throw new UserError(`--runs must be an integer of at least 2, got ${request.runs}`);
  fs.mkdirSync(request.outDir, { recursive: true });
  const seeds = Array.from({ length: request.runs }, (_, i) => request.firstSeed + i);
  const runs: CiReport['runs'] = [];

  if (fs.existsSync(request.baseline.split(',')[0]!)) {
    // Baseline measured earlier: verified bundles of the same track; compared unpaired.
    const files = bundlePaths(request.baseline.split(','));
    if (files.length < 2) throw new UserError(`ci: baseline ${request.baseline} holds ${files.length} bundle(s); at least 2 are needed`);
    const baselineRuns = files.map((file) => {
      const bundle = readVerifiedBundle(file);
      return { bundle, run: toMeasured(bundle.run) };
    });
    // Like with like: the candidate runs on the engine the baseline ran on.
    const engines = [...new Set(baselineRuns.map((b) => b.bundle.run.backend.name))];
    if (engines.length !== 1) throw new UserError(`ci: baseline bundles ran on different backends (${engines.join(', ')})`);
    if (ciRequest.backend === 'auto') request = { ...request, backend: engines[0]! };
    else if (request.backend !== engines[0]) throw new UserError(`ci: baseline bundles ran on ${engines[0]}, not ${request.backend}; pass --backend ${engines[0]}`);
    for (const seed of seeds) {
      log(`candidate seed ${seed}…`);
      const candidate = runOnce(PROJECT_ROOT, request, seed, path.join(request.outDir, 'candidate', `seed-${seed}`));
      runs.push({ seed, candidate });
    }
    const tracks = new Set(baselineRuns.map((b) => b.bundle.run.track.id));
    if (tracks.size !== 1) throw new UserError(`ci: baseline bundles are on different tracks: ${[...tracks].join(', ')}`);
    const outcome = decide(request, runs, baselineRuns.map((b) => b.run), false);
    return { ...outcome, metric: request.metric, recipe: request.recipe, track: request.track, backend: request.backend, baseline: { kind: 'bundles', ref: request.baseline }, decision: request.decision, runs };
  }

  const resolved = git(['rev-parse', '--verify', '--quiet', `${request.baseline}^{commit}`]);
  if (!resolved.ok) throw new UserError(`ci: --baseline '${request.baseline}' is neither an existing bundle path nor a git ref of this repository`);
  const commit = resolved.out;
  const worktree = path.join(request.outDir, 'baseline-checkout');
  const added = git(['worktree', 'add', '--detach', '--force', worktree, commit]);
  if (!added.ok) throw new UserError(`ci: could not check out ${request.baseline} (${added.out.split('\n').at(-1)})`);
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
    for (const seed of seeds) {
      log(`seed ${seed}: baseline (${request.baseline})…`);
      const baseline = runOnce(worktree, request, seed, path.join(request.outDir, 'baseline', `seed-${seed}`));
      log(`seed ${seed}: candidate…`);
      const candidate = runOnce(PROJECT_ROOT, request, seed, path.join(request.outDir, 'candidate', `seed-${seed}`));
      runs.push({ seed, baseline, candidate });
    }
  } finally {
    git(['worktree', 'remove', '--force', worktree]);
  }
  const outcome = decide(request, runs, undefined, true);
  return { ...outcome, metric: request.metric, recipe: request.recipe, track: request.track, backend: request.backend, baseline: { kind: 'git', ref: request.baseline, commit }, decision: request.decision, runs };
}

const seconds = (ms: number | null | undefined): string => (ms === null || ms === undefined || Number.isNaN(ms) ? '—' : `${(ms / 1000).toFixed(1)} s`);
const change = (c: Comparison | null): string => (c ? `${c.ratio >= 1 ? '+' : ''}${((c.ratio - 1) * 100).toFixed(1)} % (p = ${c.pValue.toPrecision(2)})` : '—');

export function ciMarkdown(report: CiReport): string {
  const icon = report.verdict === 'regression' ? '❌ regression' : '✅ no regression';
  const baselineName = report.baseline.kind === 'git' ? `\`${report.baseline.ref}\` (${report.baseline.commit?.slice(0, 10)})` : `bundles \`${report.baseline.ref}\``;
  const lines = [
    `### speedrun ci: ${icon}`,
    '',
    `Recipe \`${report.recipe}\` on \`${report.track}\` (${report.backend}), ${report.runs.length} runs, baseline ${baselineName}${report.baseline.kind === 'git' ? ', interleaved with the same seeds' : ''}.`,
    `Decision on ${report.metric} to target: ${report.reason}. Rule: one-sided t-test p < ${report.decision.alpha} and slowdown > ${report.decision.minEffect * 100} %.`,
    '',
    '| | baseline | candidate | change |',
    '|---|---:|---:|---:|',
    `| time to target (mean ± std) | ${seconds(report.time.baselineMeanMs)} ± ${seconds(report.time.baselineStdMs)} | ${seconds(report.time.candidateMeanMs)} ± ${seconds(report.time.candidateStdMs)} | ${change(report.time.comparison)} |`,
    `| steps to target (mean) | ${report.steps.baselineMean.toFixed(0)} | ${Number.isNaN(report.steps.candidateMean) ? '—' : report.steps.candidateMean.toFixed(0)} | ${change(report.steps.comparison)} |`,
    '',
    '<details><summary>runs</summary>',
    '',
    '| seed | baseline time | baseline steps | candidate time | candidate steps |',
    '|---:|---:|---:|---:|---:|',
    ...report.runs.map((r) => `| ${r.seed} | ${seconds(r.baseline?.timeToTargetMs)} | ${r.baseline?.stepsToTarget ?? '—'} | ${seconds(r.candidate.timeToTargetMs)} | ${r.candidate.stepsToTarget ?? r.candidate.status} |`),
    '',
    '</details>',
  ];
  return `${lines.join('\n')}\n`;
}

/** github-action-benchmark's custom format (tool: customSmallerIsBetter). */
export function ciBenchmarkJson(report: CiReport): { name: string; unit: string; value: number; range?: string; extra?: string }[] {
  const label = `${report.recipe} on ${report.track} (${report.backend})`;
  return [
    { name: `time to target: ${label}`, unit: 's', value: report.time.candidateMeanMs / 1000, range: `± ${(report.time.candidateStdMs / 1000).toFixed(2)}`, extra: `${report.runs.length} runs; baseline ${(report.time.baselineMeanMs / 1000).toFixed(2)} s` },
    { name: `steps to target: ${label}`, unit: 'steps', value: report.steps.candidateMean, extra: `baseline ${report.steps.baselineMean.toFixed(0)}` },
  ];
}
