/**
 * The leaderboard's data: what every page shows, read from the results database as plain values
 * (the publish stage of resolve -> run -> store -> publish). No HTML here.
 */
import { hardwareDetails, type HardwareFingerprint } from '../hardware.ts';
import type { StoredRecord, StoredRun, ResultsStore } from '../store/database.ts';
import { mean, performanceRatios, std } from '../stats.ts';
import { storedSuiteReports, type SuiteReport } from '../suite.ts';
import type { EvalPoint } from '../records.ts';

export interface RecordRow {
  number: number; // 1-based, per track, oldest first (modded-nanogpt's "#")
  record: StoredRecord;
  current: boolean; // the one to beat on its hardware class
  page: string;
  date: string;
  backend: string;
  /** What the hardware class is made of (the fingerprint of the record's first run), for hover text. */
  hardwareDetails: string;
  /** Mean over the record's runs; null where any run's is unknown (runs from before FLOPs were counted). */
  flopsToTarget: number | null;
  mfu: number | null;
}

export interface RecipeStats {
  recipes: string;
  runs: number;
  reached: number;
  meanTimeMs: number | null;
  stdTimeMs: number | null;
  meanSteps: number | null;
  meanTokens: number | null;
  /** Mean FLOPs to target and MFU over the reached runs whose figures are known; null where none is. */
  meanFlops: number | null;
  meanMfu: number | null;
  backends: string;
}

/** The hardware-neutral view of a track: FLOPs to target per recipe set over every class, and loss against FLOPs. */
export interface ComputeView {
  byRecipes: { recipes: string; flops: number; runs: number; classes: string }[];
  /** Every finished run with known FLOPs: what it trained (model FLOPs a step × steps) and the loss it ended at. */
  runs: { id: string; recipes: string; flops: number; loss: number; hardwareClass: string }[];
}

export interface TrackView {
  id: string;
  slug: string;
  page: string;
  target: number;
  records: RecordRow[];
  recipes: RecipeStats[];
  runCount: number;
  officialOnly: boolean;
  compute: ComputeView;
}

export interface RunView {
  run: StoredRun;
  evals: EvalPoint[];
  bundleHref: string | null;
}

export interface RecordView {
  row: RecordRow;
  track: TrackView;
  runs: RunView[];
  config: string;
  environment: string;
  hardware: string;
}

/** A finished suite run: its report, and the performance-profile ratios per recipe set (harness/suite.ts). */
export interface SuiteView {
  report: SuiteReport;
  ratios: { recipes: string; ratios: number[] }[];
}

export interface LeaderboardData {
  generatedAt: string;
  tracks: TrackView[];
  records: RecordView[];
  suites: SuiteView[];
  /** Stored suite reports that did not have a report's shape (left out, named on the suite page). */
  suiteErrors: string[];
}

export const slugOf = (trackId: string): string => trackId.replace(/[^a-zA-Z0-9@.-]+/g, '_').replace(/@/g, '-v');

/**
 * Recipe comparison: finished runs grouped by recipe set, learning rate, backend and worker count (official runs
 * when the track has any), so a tuned, faster-engine or data-parallel variant is its own row, not a blur of several.
 */
function recipeStats(runs: StoredRun[]): RecipeStats[] {
  const groups = new Map<string, StoredRun[]>();
  const lrs = new Map<string, Set<number>>();
  for (const r of runs) lrs.set(r.recipes, (lrs.get(r.recipes) ?? new Set()).add(r.config.train.lr));
  const backends = new Set(runs.map((r) => r.backend));
  const workerCounts = new Set(runs.map((r) => r.workers));
  for (const r of runs) {
    // Name the lr, the backend and the workers only where they vary: "baseline · lr 0.002 · native · 2 workers".
    const key = [
      r.recipes,
      lrs.get(r.recipes)!.size > 1 ? `lr ${r.config.train.lr}` : '',
      backends.size > 1 ? r.backend : '',
      workerCounts.size > 1 ? (r.workers === 1 ? '1 worker' : `${r.workers} workers`) : '',
    ]
      .filter((x) => x)
      .join(' · ');
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.entries()]
    .map(([recipes, group]) => {
      const reached = group.filter((r) => r.timeToTargetMs !== null);
      const times = reached.map((r) => r.timeToTargetMs!);
      return {
        recipes,
        runs: group.length,
        reached: reached.length,
        meanTimeMs: times.length ? mean(times) : null,
        stdTimeMs: times.length ? std(times) : null,
        meanSteps: reached.length ? mean(reached.map((r) => r.stepsToTarget!)) : null,
        meanTokens: reached.length ? mean(reached.map((r) => r.tokensToTarget!)) : null,
        meanFlops: meanKnown(reached.map((r) => r.flopsToTarget)),
        meanMfu: meanKnown(group.map((r) => r.mfu)),
        backends: [...new Set(group.map((r) => r.backend))].join(', '),
      };
    })
    .sort((a, b) => (a.meanTimeMs ?? Infinity) - (b.meanTimeMs ?? Infinity) || a.recipes.localeCompare(b.recipes));
}

/** The mean of the known values, or null when none is known. */
function meanKnown(values: (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length > 0 ? mean(known) : null;
}

/** The mean of every value, or null when any is unknown (a record's figure is all its runs' or none). */
const meanOfAll = (values: (number | null)[]): number | null => (values.length > 0 && values.every((v) => v !== null) ? mean(values as number[]) : null);

function computeView(runs: StoredRun[]): ComputeView {
  const reached = runs.filter((r) => r.flopsToTarget !== null);
  const groups = new Map<string, StoredRun[]>();
  for (const r of reached) groups.set(r.recipes, [...(groups.get(r.recipes) ?? []), r]);
  return {
    byRecipes: [...groups.entries()]
      .map(([recipes, group]) => ({ recipes, flops: mean(group.map((r) => r.flopsToTarget!)), runs: group.length, classes: [...new Set(group.map((r) => r.hardwareClass))].join('; ') }))
      .sort((a, b) => a.flops - b.flops),
    runs: runs
      .filter((r) => r.modelFlopsPerStep !== null && r.steps !== null && r.steps > 0 && r.finalValLoss !== null && Number.isFinite(r.finalValLoss))
      .map((r) => ({ id: r.id, recipes: r.recipes, flops: r.modelFlopsPerStep! * r.steps!, loss: r.finalValLoss!, hardwareClass: r.hardwareClass })),
  };
}

export function buildLeaderboard(store: ResultsStore, bundleHref: (run: StoredRun) => string | null = () => null): LeaderboardData {
  const allRuns = store.runs();
  const allRecords = store.records();
  const trackIds = [...new Set([...allRecords.map((r) => r.trackId), ...allRuns.map((r) => r.trackId)])].sort();
  const tracks: TrackView[] = [];
  const records: RecordView[] = [];
  const runsById = new Map(allRuns.map((r) => [r.id, r]));
  for (const id of trackIds) {
    const slug = slugOf(id);
    const trackRuns = allRuns.filter((r) => r.trackId === id && r.status !== 'running');
    const official = trackRuns.filter((r) => r.official);
    const compared = official.length > 0 ? official : trackRuns;
    const trackRecords = allRecords.filter((r) => r.trackId === id);
    const lastOfClass = new Map(trackRecords.map((r) => [r.hardwareClass, r.id]));
    const rows: RecordRow[] = trackRecords.map((record, i) => ({
      number: i + 1,
      record,
      current: lastOfClass.get(record.hardwareClass) === record.id,
      page: `records/${slug}-${i + 1}.html`,
      date: record.createdAt.slice(0, 10),
      backend: record.backend,
      hardwareDetails: hardwareDetails((store.runDetails(record.runIds[0] ?? '')?.hardware ?? {}) as Partial<HardwareFingerprint>),
      flopsToTarget: meanOfAll(record.runIds.map((runId) => runsById.get(runId)?.flopsToTarget ?? null)),
      mfu: meanOfAll(record.runIds.map((runId) => runsById.get(runId)?.mfu ?? null)),
    }));
    const track: TrackView = {
      id,
      slug,
      page: `tracks/${slug}.html`,
      target: trackRuns[0]?.target ?? Number.NaN,
      records: rows,
      recipes: recipeStats(compared.filter((r) => r.status !== 'aborted')),
      runCount: trackRuns.length,
      officialOnly: official.length > 0,
      compute: computeView(compared.filter((r) => r.status !== 'aborted')),
    };
    tracks.push(track);
    for (const row of rows) {
      const runs = row.record.runIds.flatMap((runId) => {
        const run = runsById.get(runId);
        return run ? [{ run, evals: store.evals(runId), bundleHref: bundleHref(run) }] : [];
      });
      const details = store.runDetails(row.record.runIds[0] ?? '');
      records.push({
        row,
        track,
        runs,
        config: JSON.stringify(runs[0]?.run.config ?? {}, null, 2),
        environment: JSON.stringify({ ...(details?.environment as object), backend: details?.backend }, null, 2),
        hardware: JSON.stringify(details?.hardware ?? {}, null, 2),
      });
    }
  }
  const { reports, errors: suiteErrors } = storedSuiteReports(store);
  const suites = reports.map((report): SuiteView => {
    const ratios = performanceRatios(report.summaries.map((s) => s.perWorkload.map((p) => p.medianTimeMs)));
    return { report, ratios: report.summaries.map((s, i) => ({ recipes: s.recipes, ratios: ratios[i]! })) };
  });
  return { generatedAt: new Date().toISOString(), tracks, records, suites, suiteErrors };
}
