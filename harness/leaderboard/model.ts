/**
 * The leaderboard's data: what every page shows, read from the results database as plain values
 * (the publish stage of resolve -> run -> store -> publish). No HTML here.
 */
import { hardwareDetails, type HardwareFingerprint } from '../hardware.ts';
import type { StoredRecord, StoredRun, ResultsStore } from '../store/database.ts';
import { mean, std } from '../stats.ts';
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
}

export interface RecipeStats {
  recipes: string;
  runs: number;
  reached: number;
  meanTimeMs: number | null;
  stdTimeMs: number | null;
  meanSteps: number | null;
  meanTokens: number | null;
  backends: string;
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

export interface LeaderboardData {
  generatedAt: string;
  tracks: TrackView[];
  records: RecordView[];
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
        backends: [...new Set(group.map((r) => r.backend))].join(', '),
      };
    })
    .sort((a, b) => (a.meanTimeMs ?? Infinity) - (b.meanTimeMs ?? Infinity) || a.recipes.localeCompare(b.recipes));
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
  return { generatedAt: new Date().toISOString(), tracks, records };
}
