/**
 * The suite's standings over the database: every finished suite run of one hardware class, engine and base,
 * pooled into one table and one AlgoPerf score per recipe set.
 *
 * Raw times are never pooled across suite runs: two suites' baselines on this kind of machine differ by up to
 * 25 % minutes apart, and each suite may draw its own held-out variant. What pools is the speedup each suite run
 * measured against its own base, interleaved: per recipe set and workload, the median over the suite runs that
 * ran it. The score then takes each set's time as 1 / that speedup (the base's is 1), so the profile compares
 * sets measured in different suite runs on one scale. A set a suite run never ran on a workload, or that missed
 * its target there in most of them, counts as a miss on it, as AlgoPerf counts one.
 */
import { geometricMean, median, performanceRatios, profileScore } from './stats.ts';
import { SUITE_WORKLOADS } from './suiteWorkloads.ts';
import { storedSuiteReports, transferVerdict, type SuiteReport, type TransferVerdict } from './suite.ts';
import type { ResultsStore } from './store/database.ts';

export interface StandingWorkload {
  /** S, M, L (the public workloads, smallest first), or held-out (whatever each suite run drew). */
  scale: string;
  /** Model FLOPs per token: the public workload's, or the median of the held-out draws'. */
  flopsPerToken: number | null;
}

export interface StandingRow {
  recipes: string;
  /** Suite runs that ran this set. */
  suites: number;
  /** Per workload, in the order of `workloads`: the time speedups measured (0 = a miss), their median, and the median step speedup. */
  perWorkload: { speedups: number[]; medianSpeedup: number | null; medianStepSpeedup: number | null }[];
  /** Per workload, this set's time ÷ the best set's (Infinity: a miss): the performance profile's input. */
  ratios: number[];
  score: number;
  geomeanSpeedup: number | null;
  verdict: TransferVerdict | null;
}

export interface SuiteStandings {
  hardwareClass: string;
  backend: string;
  base: string;
  suiteIds: string[];
  seeds: number[];
  workloads: StandingWorkload[];
  rows: StandingRow[];
}

const HELDOUT = 'held-out';

/** Pools finished suite reports by (hardware class, engine, base), each group into one standings table. */
export function poolSuites(reports: readonly SuiteReport[]): SuiteStandings[] {
  const groups = new Map<string, SuiteReport[]>();
  for (const report of reports) {
    const key = JSON.stringify([report.hardwareClass, report.backend, report.base]);
    groups.set(key, [...(groups.get(key) ?? []), report]);
  }
  return [...groups.values()].map(standingsOf);
}

/** The standings of every finished suite run in a database; stored reports of the wrong shape are named and left out. */
export function standingsOfStore(store: ResultsStore): { standings: SuiteStandings[]; errors: string[] } {
  const { reports, errors } = storedSuiteReports(store);
  return { standings: poolSuites(reports), errors };
}

function standingsOf(reports: SuiteReport[]): SuiteStandings {
  const first = reports[0]!;
  const scaleOf = (w: SuiteReport['workloads'][number]) => (w.heldout ? HELDOUT : w.scale);
  const present = new Set(reports.flatMap((r) => r.workloads.map(scaleOf)));
  const scales = [...SUITE_WORKLOADS.map((w) => w.scale).filter((s) => present.has(s)), ...(present.has(HELDOUT) ? [HELDOUT] : [])];
  const workloads = scales.map((scale): StandingWorkload => {
    const sizes = reports.flatMap((r) => r.workloads.filter((w) => scaleOf(w) === scale && w.flopsPerToken !== null).map((w) => w.flopsPerToken!));
    return { scale, flopsPerToken: sizes.length > 0 ? median(sizes) : null };
  });
  const sets = [first.base, ...new Set(reports.flatMap((r) => r.summaries.map((s) => s.recipes)).filter((s) => s !== first.base))];
  const measured = sets.map((recipes) => {
    const mine = reports.filter((r) => r.summaries.some((s) => s.recipes === recipes));
    const perWorkload = scales.map((scale) => {
      const measuredHere = (field: 'speedup' | 'stepSpeedup') =>
        mine.flatMap((r) => {
          const i = r.workloads.findIndex((w) => scaleOf(w) === scale);
          const value = i < 0 ? null : r.summaries.find((s) => s.recipes === recipes)!.perWorkload[i]?.[field];
          return value === null || value === undefined ? [] : [value]; // null: the base itself missed there
        });
      const speedups = measuredHere('speedup');
      const steps = measuredHere('stepSpeedup');
      return { speedups, medianSpeedup: speedups.length > 0 ? median(speedups) : null, medianStepSpeedup: steps.length > 0 ? median(steps) : null };
    });
    return { recipes, suites: mine.length, perWorkload };
  });
  // Time relative to the base: 1 / speedup; a miss or a workload never measured has no time.
  const ratios = performanceRatios(measured.map((m) => m.perWorkload.map((p) => (p.medianSpeedup ? 1 / p.medianSpeedup : null))));
  const publicCount = scales.filter((s) => s !== HELDOUT).length;
  const rows = measured.map((m, s): StandingRow => {
    const speedups = m.perWorkload.map((p) => p.medianSpeedup);
    return {
      ...m,
      ratios: ratios[s]!,
      score: profileScore(ratios[s]!),
      geomeanSpeedup: speedups.some((x) => x === null) ? null : geometricMean(speedups as number[]),
      verdict: m.recipes === first.base ? null : transferVerdict(speedups.slice(0, publicCount), scales.includes(HELDOUT) ? speedups[publicCount]! : undefined),
    };
  });
  return {
    hardwareClass: first.hardwareClass,
    backend: first.backend,
    base: first.base,
    suiteIds: reports.map((r) => r.suiteId),
    seeds: [...new Set(reports.flatMap((r) => r.seeds))].sort((a, b) => a - b),
    workloads,
    rows: rows.sort((a, b) => b.score - a.score || (b.geomeanSpeedup ?? 0) - (a.geomeanSpeedup ?? 0)),
  };
}

const times = (x: number | null): string => (x === null ? '-' : x === 0 ? 'miss' : `${x.toFixed(2)}x`);

/** The standings as Markdown: per recipe set the median speedup per workload, the score, geomean and verdict. */
export function formatStandings(standings: readonly SuiteStandings[]): string {
  if (standings.length === 0) return 'No finished suite run in this database: speedrun suite --recipe <set>.\n';
  const lines: string[] = [];
  for (const t of standings) {
    const size = (w: StandingWorkload) => (w.flopsPerToken === null ? w.scale : `${w.scale} (${(w.flopsPerToken / 1e6).toFixed(1)} MFLOP/token)`);
    lines.push(`## Standings: ${t.backend} on ${t.hardwareClass}, speedups over ${t.base}`, '');
    lines.push(`${t.suiteIds.length} suite run(s), seeds ${t.seeds.join(', ')}; per workload the median over the suite runs of the speedup each measured against its own ${t.base}, in time (in steps).`, '');
    lines.push(`| recipes | runs | ${t.workloads.map(size).join(' | ')} | score | geomean | verdict |`, `|---|---:|${t.workloads.map(() => '---:|').join('')}---:|---:|---|`);
    for (const r of t.rows) {
      const isBase = r.recipes === t.base;
      lines.push(`| ${r.recipes} | ${r.suites} | ${r.perWorkload.map((p) => (isBase ? '1' : `${times(p.medianSpeedup)} (${times(p.medianStepSpeedup)})`)).join(' | ')} | ${r.score.toFixed(3)} | ${isBase ? '1.00x' : times(r.geomeanSpeedup)} | ${r.verdict ?? '(reference)'} |`);
    }
    lines.push('');
  }
  lines.push('Score: AlgoPerf performance profiles over these recipe sets, ∫₁⁴ ρ(τ) dτ / 3 (1 = fastest on every workload; a miss counts as never).', '');
  return `${lines.join('\n')}\n`;
}
