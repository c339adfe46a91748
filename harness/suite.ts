/**
 * `speedrun suite`: one recipe set judged at several scales and on a held-out workload, with one score
 * (MLCommons AlgoPerf's workloads and performance profiles; nanochat's "help across depths").
 *
 * Per workload and seed the runs are interleaved, the base (baseline, or e.g. fused-kernels) then each recipe
 * set, on one engine, so that slow drift of the machine falls on all of them alike. Every run is an ordinary run (database row and bundle); the
 * suite records which runs it made, on which workload, in which role. The held-out workload is drawn from a seed
 * (harness/heldout.ts); its target is the validation loss a baseline reference run reaches after REFERENCE_STEPS
 * steps on it, measured first in the same suite run.
 *
 * Stages as everywhere: the caller supplies the runner (the CLI's, with progress; a test's, without training), and
 * summariseSuite is pure.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { resolveRecipes } from '../recipes/index.ts';
import { hardwareClassOf } from './hardware.ts';
import { composeRecipes } from './recipe.ts';
import { drawHeldout, REFERENCE_SEED, REFERENCE_STEPS, type HeldoutVariant } from './heldout.ts';
import type { RunRecord } from './records.ts';
import type { RunRequest } from './run.ts';
import { geometricMean, median, performanceRatios, profileScore } from './stats.ts';
import type { ResultsStore } from './store/database.ts';
import { EXIT, UserError } from './errors.ts';
import { MAX_SEEDS } from './units.ts';

import { SUITE_WORKLOADS } from './suiteWorkloads.ts';
import { engineLabel } from './backends/engineLabel.ts';

export { SUITE_WORKLOADS };

/**
 * A recipe set as the suite runs it on its base: the base's recipes first, then the set's own (those the base
 * already has, and baseline, dropped), as the canonical label runs record; every recipe is checked here, before
 * anything trains.
 */
export function suiteRecipeSet(base: string, spec: string): string {
  const items = (text: string) => text.split(',').map((s) => s.trim()).filter((s) => s.length > 0 && s !== 'baseline');
  const baseItems = items(base);
  const combined = [...baseItems, ...items(spec).filter((i) => !baseItems.includes(i))];
  return combined.length === 0 ? 'baseline' : composeRecipes(resolveRecipes(combined.join(','))).names.join(',');
}

/** Steps a held-out timed run may take before it counts as a miss: four times the reference's. */
export const HELDOUT_STEP_BUDGET = 4 * REFERENCE_STEPS;

export interface SuiteRequest {
  /** Recipe sets to judge (e.g. "ngpt", "muon,fused-kernels"), each already including the base's recipes. */
  recipeSets: string[];
  /** The reference set every speedup is taken against, run beside them (default baseline). */
  base?: string;
  backend: RunRequest['backend'];
  seeds: number;
  firstSeed?: number;
  /** The held-out draw's seed (default: random); null = no held-out workload. */
  heldoutSeed?: number | null;
  threads?: number;
  outDir?: string;
  /** Only these public workloads (tests, quick looks); the default is all of them. */
  workloads?: string[];
}

export type SuiteRunner = (request: RunRequest) => Promise<RunRecord>;

export interface SuiteWorkload {
  /** The track spec the runs used. */
  track: string;
  scale: string;
  target: number;
  /** Model FLOPs per training token of the base's run: the workload's size. */
  flopsPerToken: number | null;
  heldout?: HeldoutVariant & { referenceRunId: string; referenceSteps: number };
}

export interface SuiteCell {
  workload: string;
  recipes: string;
  seed: number;
  runId: string;
  status: RunRecord['status'];
  timeToTargetMs: number | null;
  stepsToTarget: number | null;
}

export type TransferVerdict = 'transfers' | 'shrinks with scale' | 'grows with scale' | 'mixed' | 'does not help';

export interface SuiteRecipeSummary {
  recipes: string;
  perWorkload: { track: string; scale: string; medianTimeMs: number | null; medianSteps: number | null; speedup: number | null; stepSpeedup: number | null }[];
  /** AlgoPerf's score over the recipe sets of this suite run (the base included). */
  score: number;
  /** Geometric mean of the time speedups over the base (0 when a workload was missed). */
  geomeanSpeedup: number | null;
  verdict: TransferVerdict;
}

export interface SuiteReport {
  suiteId: string;
  /** The reference recipe set (baseline, or e.g. fused-kernels to judge recipes on the fused engine). */
  base: string;
  createdAt: string;
  backend: string;
  hardwareClass: string;
  seeds: number[];
  workloads: SuiteWorkload[];
  cells: SuiteCell[];
  summaries: SuiteRecipeSummary[];
}

/** Median over seeds; a seed that missed counts as Infinity, so a median of misses is a miss (null). */
function medianOrMiss(values: (number | null)[]): number | null {
  if (values.length === 0) return null;
  const m = median(values.map((v) => v ?? Infinity));
  return Number.isFinite(m) ? m : null;
}

/** A speedup counts as faster only beyond 5 % (ci's smallest effect): this machine's runs differ by 15-25 %. */
export const FASTER = 1.05;

/**
 * The verdict on transfer from the per-workload speedups, public workloads in order of size, and the held-out one.
 * transfers: faster on every workload; does not help: faster on no public workload; otherwise the trend from the
 * smallest to the largest public workload says whether the gain shrinks or grows with scale, or is mixed.
 * A miss (null) is no speedup.
 */
export function transferVerdict(speedupsBySize: readonly (number | null)[], heldoutSpeedup?: number | null): TransferVerdict {
  const publicOnes = speedupsBySize.map((s) => s ?? 0);
  const all = [...publicOnes, ...(heldoutSpeedup === undefined ? [] : [heldoutSpeedup ?? 0])];
  if (publicOnes.length === 0 || !publicOnes.some((s) => s > FASTER)) return 'does not help';
  if (all.every((s) => s > FASTER)) return 'transfers';
  const first = publicOnes[0]!;
  const last = publicOnes.at(-1)!;
  if (first > FASTER && last < first) return 'shrinks with scale';
  if (last > FASTER && last > first) return 'grows with scale';
  return 'mixed';
}

/** The suite's table as plain data: medians, speedups over the base, AlgoPerf's score and the verdict per recipe set. */
export function summariseSuite(workloads: readonly SuiteWorkload[], cells: readonly SuiteCell[], recipeSets: readonly string[], baseSet = 'baseline'): SuiteRecipeSummary[] {
  const sets = [baseSet, ...recipeSets.filter((r) => r !== baseSet)];
  const medians = sets.map((recipes) =>
    workloads.map((w) => {
      const mine = cells.filter((c) => c.recipes === recipes && c.workload === w.track);
      return { time: medianOrMiss(mine.map((c) => c.timeToTargetMs)), steps: medianOrMiss(mine.map((c) => c.stepsToTarget)) };
    }),
  );
  const ratios = performanceRatios(medians.map((row) => row.map((m) => m.time)));
  const base = medians[0]!;
  return sets.map((recipes, s) => {
    const perWorkload = workloads.map((w, i) => {
      const m = medians[s]![i]!;
      const speedup = base[i]!.time !== null ? (m.time !== null ? base[i]!.time! / m.time : 0) : null;
      const stepSpeedup = base[i]!.steps !== null ? (m.steps !== null ? base[i]!.steps! / m.steps : 0) : null;
      return { track: w.track, scale: w.scale, medianTimeMs: m.time, medianSteps: m.steps, speedup, stepSpeedup };
    });
    const speedups = perWorkload.map((p) => p.speedup);
    const publicSpeedups = perWorkload.filter((_, i) => !workloads[i]!.heldout).map((p) => p.speedup);
    const heldout = perWorkload.find((_, i) => workloads[i]!.heldout)?.speedup;
    return {
      recipes,
      perWorkload,
      score: profileScore(ratios[s]!),
      geomeanSpeedup: speedups.some((x) => x === null) ? null : geometricMean(speedups as number[]),
      verdict: transferVerdict(publicSpeedups, heldout === undefined ? undefined : heldout),
    };
  });
}

function cellOf(workload: string, record: RunRecord): SuiteCell {
  return {
    workload,
    recipes: record.recipes.join(','),
    seed: record.config.train.seed,
    runId: record.runId,
    status: record.status,
    timeToTargetMs: record.timeToTargetMs,
    stepsToTarget: record.stepsToTarget,
  };
}

/** A workload's size from its base's run: model FLOPs a step ÷ the tokens a step trained (train.ts counts them). */
const flopsPerTokenOf = (r: RunRecord | undefined): number | null => (r?.compute && r.tokens > 0 ? (r.compute.modelFlopsPerStep * r.steps) / r.tokens : null);

/** Runs the suite: every workload, every seed, baseline and each recipe set interleaved; the report at the end. */
export async function runSuite(request: SuiteRequest, runner: SuiteRunner, store: ResultsStore, log: (line: string) => void = () => {}): Promise<SuiteReport> {
  const seeds = request.seeds;
  if (!Number.isInteger(seeds) || seeds < 1 || seeds > MAX_SEEDS) throw new UserError(`--seeds must be an integer from 1 to ${MAX_SEEDS}, got ${seeds}`);
  if (request.recipeSets.length === 0) throw new UserError('suite: give at least one --recipe');
  const firstSeed = request.firstSeed ?? 0;
  const publicTracks = request.workloads ?? SUITE_WORKLOADS.map((w) => w.track);
  for (const track of publicTracks) {
    if (!SUITE_WORKLOADS.some((w) => w.track === track)) throw new UserError(`suite: '${track}' is not one of the suite's workloads (${SUITE_WORKLOADS.map((w) => w.track).join(', ')})`);
  }
  const heldoutSeed = request.heldoutSeed === undefined ? randomBytes(3).readUIntBE(0, 3) : request.heldoutSeed;
  const variant = heldoutSeed === null ? null : drawHeldout(heldoutSeed);
  const baseSet = request.base ?? 'baseline';
  const sets = [baseSet, ...request.recipeSets.filter((r) => r !== baseSet)];
  const seedList = Array.from({ length: seeds }, (_, i) => firstSeed + i);
  const suiteId = `suite-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}`;
  const runOptions = { backend: request.backend, threads: request.threads, outDir: request.outDir };
  const workloads: SuiteWorkload[] = [];
  const cells: SuiteCell[] = [];
  let started = false;
  let backend = '';
  let hardwareClass = '';
  const record = async (workload: string, role: 'timed' | 'reference', run: RunRequest): Promise<RunRecord> => {
    const result = await runner(run);
    if (!started) {
      backend = engineLabel(result.backend); // pooled by engine: native without OpenBLAS is its own
      hardwareClass = hardwareClassOf(result.hardware);
      store.startSuite({ id: suiteId, backend, hardwareClass, recipeSets: sets, heldout: variant });
      started = true;
    }
    store.addSuiteRun(suiteId, result.runId, workload, role);
    if (result.status === 'aborted') throw new UserError(`suite ${suiteId}: run ${result.runId} was aborted; the suite stops (its runs so far are recorded as runs, the unfinished suite is not kept)`, EXIT.aborted);
    return result;
  };
  const timed = async (workload: string, extra: Partial<RunRequest>): Promise<{ baseRun?: RunRecord }> => {
    let baseRun: RunRecord | undefined;
    for (const seed of seedList) {
      for (const recipe of sets) {
        log(`${workload}: ${recipe}, seed ${seed}`);
        const result = await record(workload, 'timed', { ...runOptions, ...extra, recipe, track: workload, seed });
        if (recipe === baseSet) baseRun ??= result;
        cells.push(cellOf(workload, result));
      }
    }
    return { baseRun };
  };

  try {
    return await timeWorkloads();
  } catch (error) {
    // Interrupted or failed: no suite row without a report is left behind (its runs stay, as ordinary runs).
    if (started) store.dropUnfinishedSuite(suiteId);
    throw error;
  }

  async function timeWorkloads(): Promise<SuiteReport> {
    for (const track of publicTracks) {
      const scale = SUITE_WORKLOADS.find((w) => w.track === track)!.scale;
      const { baseRun } = await timed(track, {});
      workloads.push({ track, scale, target: baseRun!.track.target, flopsPerToken: flopsPerTokenOf(baseRun) });
    }
    if (heldoutSeed !== null && variant !== null) {
      const track = `heldout:${heldoutSeed}`;
      log(`${track}: ${variant.label}; baseline reference run of ${REFERENCE_STEPS} steps (seed ${REFERENCE_SEED})`);
      // A target below any loss, so the reference runs its steps; its last validation loss is the variant's target.
      const reference = await record(track, 'reference', { ...runOptions, recipe: 'baseline', track, seed: REFERENCE_SEED, steps: REFERENCE_STEPS, target: 1e-6 });
      if (reference.status === 'diverged' || reference.finalValLoss === null) throw new UserError(`suite ${suiteId}: the held-out reference run ${reference.runId} diverged; draw another variant (--heldout-seed)`);
      const target = Number(reference.finalValLoss.toFixed(4));
      log(`${track}: target ${target} (the reference's validation loss at step ${reference.steps})`);
      const { baseRun } = await timed(track, { target, steps: HELDOUT_STEP_BUDGET });
      workloads.push({
        track,
        scale: 'held-out',
        target,
        flopsPerToken: flopsPerTokenOf(baseRun),
        heldout: { ...variant, referenceRunId: reference.runId, referenceSteps: reference.steps },
      });
    }
    const report: SuiteReport = { suiteId, base: baseSet, createdAt: new Date().toISOString(), backend, hardwareClass, seeds: seedList, workloads, cells, summaries: summariseSuite(workloads, cells, sets, baseSet) };
    store.finishSuite(suiteId, report);
    return report;
  }
}

const seconds = (ms: number | null): string => (ms === null ? 'miss' : `${(ms / 1000).toFixed(1)} s`);
const times = (x: number | null): string => (x === null ? '-' : x === 0 ? 'miss' : `${x.toFixed(2)}x`);

/** The suite's table as Markdown: per workload both times and steps and the speedups; score, geomean and verdict. */
export function formatSuite(report: SuiteReport): string {
  const lines: string[] = [];
  const size = (w: SuiteWorkload) => (w.flopsPerToken === null ? '?' : `${(w.flopsPerToken / 1e6).toFixed(1)} MFLOP/token`);
  const isBase = (s: SuiteRecipeSummary) => s.recipes === report.base;
  lines.push(`## Suite ${report.suiteId}`, '', `${report.backend} on ${report.hardwareClass}; seeds ${report.seeds.join(', ')} (medians); speedups over ${report.base}`, '');
  lines.push('| workload | size | target | recipes | time | steps | speedup (time) | speedup (steps) |', '|---|---|---:|---|---:|---:|---:|---:|');
  for (const [i, w] of report.workloads.entries()) {
    for (const s of report.summaries) {
      const p = s.perWorkload[i]!;
      const name = w.heldout ? `${w.track} (${w.heldout.label})` : `${w.track} (${w.scale})`;
      lines.push(`| ${name} | ${size(w)} | ${w.target} | ${s.recipes} | ${seconds(p.medianTimeMs)} | ${p.medianSteps ?? 'miss'} | ${isBase(s) ? '' : times(p.speedup)} | ${isBase(s) ? '' : times(p.stepSpeedup)} |`);
    }
  }
  lines.push('', '| recipes | suite score | geometric-mean speedup | verdict |', '|---|---:|---:|---|');
  for (const s of report.summaries) {
    lines.push(`| ${s.recipes} | ${s.score.toFixed(3)} | ${isBase(s) ? '1.00x' : times(s.geomeanSpeedup)} | ${isBase(s) ? '(reference)' : s.verdict} |`);
  }
  lines.push('', 'Score: AlgoPerf performance profiles over these recipe sets, ∫₁⁴ ρ(τ) dτ / 3 (1 = fastest on every workload; a miss counts as never).', '');
  return `${lines.join('\n')}\n`;
}

const nullableNumber = z.number().nullable();
/** A stored suite report's shape (the database is read as hostile): what the leaderboard reads of it. */
export const suiteReportSchema = z.object({
  suiteId: z.string().min(1).max(200),
  // Reports written before the base could be chosen were all against baseline.
  base: z.string().min(1).max(500).default('baseline'),
  createdAt: z.string(),
  backend: z.string(),
  hardwareClass: z.string(),
  seeds: z.array(z.number().int().nonnegative()),
  workloads: z.array(z.object({ track: z.string(), scale: z.string(), target: z.number(), flopsPerToken: nullableNumber, heldout: z.object({ label: z.string(), referenceRunId: z.string().min(1).max(200), referenceSteps: z.number() }).passthrough().optional() }).passthrough()),
  cells: z.array(z.object({ workload: z.string(), recipes: z.string(), seed: z.number(), runId: z.string(), status: z.string(), timeToTargetMs: nullableNumber, stepsToTarget: nullableNumber })),
  summaries: z.array(
    z.object({
      recipes: z.string(),
      perWorkload: z.array(z.object({ track: z.string(), scale: z.string(), medianTimeMs: nullableNumber, medianSteps: nullableNumber, speedup: nullableNumber, stepSpeedup: nullableNumber })),
      score: z.number(),
      geomeanSpeedup: nullableNumber,
      verdict: z.enum(['transfers', 'shrinks with scale', 'grows with scale', 'mixed', 'does not help']),
    }),
  ),
});

/** A stored report, validated; null (and the reason) when it does not have the shape. */
export function parseSuiteReport(text: string): { report: SuiteReport } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { error: 'not JSON' };
  }
  const parsed = suiteReportSchema.safeParse(json);
  if (!parsed.success) return { error: `${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}` };
  return { report: parsed.data as SuiteReport };
}

/** Every finished suite report in a database, validated; those of the wrong shape named (and left out). */
export function storedSuiteReports(store: ResultsStore): { reports: SuiteReport[]; errors: string[] } {
  const reports: SuiteReport[] = [];
  const errors: string[] = [];
  for (const stored of store.suiteReports()) {
    const parsed = parseSuiteReport(stored.report);
    if ('error' in parsed) errors.push(`suite ${stored.id}: ${parsed.error}`);
    else reports.push(parsed.report);
  }
  return { reports, errors };
}

/** The largest suite report `import` reads: 12 recipe sets x 4 workloads x 10 seeds is 480 cells, about 0.2 MB. */
export const MAX_SUITE_REPORT_BYTES = 4 * 2 ** 20;
export const MAX_SUITE_CELLS = 5_000;

/**
 * A suite report file merged into a database whose runs came from their bundles (speedrun import). The file only
 * names runs: every fact of the suite comes from those runs as the database holds them. Each run must be there
 * with its bundle, named once, on the workload and with the recipes and seed the report says, and timed by no
 * other suite; the hardware class and engine are the runs' own (one of each), every workload has runs, its
 * target and size are its runs', and the table is computed again. So a report cannot claim times, a class or a
 * workload its runs did not measure, and a copy under a new id cannot count its runs twice.
 */
export function importSuiteReport(report: SuiteReport, store: ResultsStore): 'added' | 'unchanged' {
  const refuse = (why: string): never => {
    throw new UserError(`suite ${report.suiteId}: ${why}`, EXIT.rejected);
  };
  if (store.suiteReports().some((s) => s.id === report.suiteId)) return 'unchanged';
  if (report.cells.length > MAX_SUITE_CELLS) refuse(`${report.cells.length} cells (at most ${MAX_SUITE_CELLS})`);
  const named = [...report.cells.map((c) => c.runId), ...report.workloads.flatMap((w) => (w.heldout ? [w.heldout.referenceRunId] : []))];
  const repeated = named.find((id, i) => named.indexOf(id) !== i);
  if (repeated) refuse(`run ${repeated} is named more than once`);
  const runOf = (runId: string, workload: string) => {
    const run = store.run(runId);
    if (!run?.bundlePath) return refuse(`run ${runId} has no imported bundle`);
    if (run.trackId !== `${workload}@1`) refuse(`run ${runId} is on ${run.trackId}, not on workload ${workload}`);
    return run;
  };
  const workloadNames = report.workloads.map((w) => w.track);
  const cells = report.cells.map((c): SuiteCell => {
    if (!workloadNames.includes(c.workload)) refuse(`run ${c.runId} is on ${c.workload}, which is not one of the report's workloads`);
    const run = runOf(c.runId, c.workload);
    if (run.recipes !== c.recipes || run.seed !== c.seed) refuse(`run ${c.runId} is ${run.recipes} seed ${run.seed}, not ${c.recipes} seed ${c.seed}`);
    return { ...c, status: run.status as SuiteCell['status'], timeToTargetMs: run.timeToTargetMs, stepsToTarget: run.stepsToTarget };
  });
  if (new Set(workloadNames).size !== workloadNames.length) refuse('a workload is listed twice');
  const recipeSets = [...new Set(cells.map((c) => c.recipes))];
  if (!recipeSets.includes(report.base)) refuse(`no run of its base ${report.base}`);
  const workloads = report.workloads.map((w): SuiteWorkload => {
    const baseCells = cells.filter((c) => c.workload === w.track && c.recipes === report.base);
    if (baseCells.length === 0) return refuse(`workload ${w.track} has no run of its base ${report.base}`);
    const baseRun = store.run(baseCells[0]!.runId)!;
    if (w.heldout) runOf(w.heldout.referenceRunId, w.track);
    const flopsPerToken = baseRun.modelFlopsPerStep !== null && baseRun.steps !== null && baseRun.tokens ? (baseRun.modelFlopsPerStep * baseRun.steps) / baseRun.tokens : null;
    return { ...w, target: baseRun.target, flopsPerToken };
  });
  const timedRuns = [...new Set(cells.map((c) => c.runId))].map((id) => store.run(id)!);
  const classes = [...new Set(timedRuns.map((r) => r.hardwareClass))];
  const engines = [...new Set(timedRuns.map((r) => r.backend))];
  if (classes.length !== 1) refuse(`its runs are on ${classes.length} hardware classes (${classes.join(' / ')}), not one`);
  if (engines.length !== 1) refuse(`its runs are on ${engines.length} engines (${engines.join(' / ')}), not one`);
  if (report.hardwareClass !== classes[0]) refuse(`it says hardware class '${report.hardwareClass}', its runs are on '${classes[0]}'`);
  if (report.backend !== engines[0]) refuse(`it says engine '${report.backend}', its runs ran on '${engines[0]}'`);
  const elsewhere = store.suitesTiming(named, report.suiteId);
  if (elsewhere.length > 0) refuse(`its runs are already timed by suite ${elsewhere.join(', ')}: a run counts in one suite`);
  const checked: SuiteReport = {
    ...report,
    hardwareClass: classes[0]!,
    backend: engines[0]!,
    seeds: [...new Set(cells.map((c) => c.seed))].sort((a, b) => a - b),
    workloads,
    cells,
    summaries: summariseSuite(workloads, cells, recipeSets, report.base),
  };
  // A row left by a suite whose process was killed is replaced; the rest is one transaction.
  store.atomically(() => {
    store.dropUnfinishedSuite(report.suiteId);
    store.startSuite({ id: report.suiteId, backend: checked.backend, hardwareClass: checked.hardwareClass, recipeSets: [report.base, ...recipeSets.filter((r) => r !== report.base)], heldout: report.workloads.find((w) => w.heldout)?.heldout ?? null });
    for (const c of cells) store.addSuiteRun(report.suiteId, c.runId, c.workload, 'timed');
    for (const w of workloads) if (w.heldout) store.addSuiteRun(report.suiteId, w.heldout.referenceRunId, w.track, 'reference');
    store.finishSuite(report.suiteId, checked);
  });
  return 'added';
}
