/**
 * The leaderboard's plots: Vega-Lite specs rendered to static SVG at build time (vega's headless renderer, no DOM,
 * no canvas), so pages work from disk with no script and no CDN.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { RecordView, SuiteView, TrackView } from './model.ts';
import { profileAt } from '../stats.ts';
import type { SuiteStandings } from '../suiteStandings.ts';

const FONT = { font: 'system-ui, -apple-system, Segoe UI, sans-serif', labelFontSize: 11, titleFontSize: 12 };
const CONFIG = { axis: FONT, legend: FONT, view: { stroke: null }, background: 'white' };

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile({ config: CONFIG, ...spec } as TopLevelSpec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The speedrun's progress curve: time to target of each record against its date. */
export function recordHistorySpec(track: TrackView): TopLevelSpec | null {
  if (track.records.length === 0) return null;
  const values = track.records.map((r) => ({
    date: r.record.createdAt,
    seconds: r.record.timeToTargetMs / 1000,
    label: `#${r.number} ${r.record.recipes}`,
    hardware: r.record.hardwareClass,
  }));
  return {
    width: 560,
    height: 220,
    data: { values },
    encoding: {
      x: { field: 'date', type: 'temporal', title: 'date', axis: { format: '%Y-%m-%d', labelAngle: 0 } },
      y: { field: 'seconds', type: 'quantitative', title: 'time to target (s)', scale: { zero: true } },
      color: { field: 'hardware', type: 'nominal', title: 'hardware', legend: { orient: 'bottom', labelLimit: 400 } },
    },
    layer: [
      { mark: { type: 'line', interpolate: 'step-after', point: { size: 50, filled: true } } },
      { mark: { type: 'text', align: 'left', dx: 6, dy: -8, fontSize: 10 }, encoding: { text: { field: 'label' } } },
    ],
  };
}

/** Recipe comparison: mean time to target with a ±1 std error bar, and steps to target beside it. */
export function recipeComparisonSpec(track: TrackView): TopLevelSpec | null {
  const values = track.recipes
    .filter((r) => r.meanTimeMs !== null)
    .map((r) => ({
      recipes: r.recipes,
      seconds: r.meanTimeMs! / 1000,
      low: (r.meanTimeMs! - (r.stdTimeMs ?? 0)) / 1000,
      high: (r.meanTimeMs! + (r.stdTimeMs ?? 0)) / 1000,
      steps: r.meanSteps,
      runs: r.reached,
    }));
  if (values.length === 0) return null;
  const y = { field: 'recipes', type: 'nominal', sort: null, title: null, axis: { labelLimit: 260 } } as const; // already sorted, fastest first
  const height = Math.max(60, values.length * 22);
  return {
    data: { values },
    hconcat: [
      {
        width: 300,
        height,
        title: { text: 'time to target (s), mean ± std over seeds', fontSize: 12, fontWeight: 'normal' },
        encoding: { y },
        layer: [
          { mark: { type: 'bar', color: '#4c78a8' }, encoding: { x: { field: 'seconds', type: 'quantitative', title: null } } },
          { mark: { type: 'rule', color: '#222' }, encoding: { x: { field: 'low', type: 'quantitative' }, x2: { field: 'high' } } },
        ],
      },
      {
        width: 200,
        height,
        title: { text: 'steps to target (mean)', fontSize: 12, fontWeight: 'normal' },
        mark: { type: 'bar', color: '#72b7b2' },
        encoding: { y: { ...y, axis: null }, x: { field: 'steps', type: 'quantitative', title: null } },
      },
    ],
  };
}

/** A record's validation loss curves, its runs overlaid: against train time and against tokens. */
export function lossCurvesSpec(record: RecordView): TopLevelSpec | null {
  const values = record.runs.flatMap(({ run, evals }) =>
    evals.map((e) => ({ seed: `seed ${run.seed}`, seconds: e.trainTimeMs / 1000, tokens: e.tokens, loss: e.valLoss })),
  );
  if (values.length === 0) return null;
  const target = record.track.target;
  const panel = (field: 'seconds' | 'tokens', title: string) => ({
    width: 330,
    height: 230,
    layer: [
      {
        data: { values },
        mark: { type: 'line' as const, point: { size: 20 } },
        encoding: {
          x: { field, type: 'quantitative' as const, title },
          y: { field: 'loss', type: 'quantitative' as const, title: 'validation loss', scale: { zero: false } },
          color: { field: 'seed', type: 'nominal' as const, title: null, legend: { orient: 'bottom' as const } },
        },
      },
      {
        data: { values: [{ target }] },
        mark: { type: 'rule' as const, strokeDash: [4, 3], color: '#c33' },
        encoding: { y: { field: 'target', type: 'quantitative' as const } },
      },
    ],
  });
  return { hconcat: [panel('seconds', 'train time (s)'), panel('tokens', 'tokens')] } as TopLevelSpec;
}

/** The points of the Pareto front: the runs no other run beats on both FLOPs and loss, by FLOPs. */
export function paretoFront<T extends { flops: number; loss: number }>(points: T[]): T[] {
  const front: T[] = [];
  for (const p of [...points].sort((a, b) => a.flops - b.flops || a.loss - b.loss)) {
    if (front.length === 0 || p.loss < front.at(-1)!.loss) front.push(p);
  }
  return front;
}

/**
 * The hardware-neutral view (Marin's speedrun): FLOPs to target per recipe set over every hardware class, and the
 * final validation loss of every run against the FLOPs it trained, its Pareto front drawn.
 */
export function computeSpec(track: TrackView): TopLevelSpec | null {
  const { byRecipes, runs } = track.compute;
  if (byRecipes.length === 0 && runs.length === 0) return null;
  const panels: object[] = [];
  if (byRecipes.length > 0) {
    panels.push({
      width: 280,
      height: Math.max(60, byRecipes.length * 22),
      title: { text: 'FLOPs to target (model FLOPs, mean)', fontSize: 12, fontWeight: 'normal' },
      data: { values: byRecipes },
      mark: { type: 'bar', color: '#54a24b' },
      encoding: {
        y: { field: 'recipes', type: 'nominal', sort: null, title: null, axis: { labelLimit: 240 } },
        x: { field: 'flops', type: 'quantitative', title: null, axis: { format: '.2s' } },
        tooltip: [{ field: 'classes', title: 'hardware classes' }],
      },
    });
  }
  if (runs.length > 0) {
    const front = paretoFront(runs);
    panels.push({
      width: 320,
      height: 230,
      title: { text: 'final validation loss against FLOPs trained', fontSize: 12, fontWeight: 'normal' },
      layer: [
        {
          data: { values: runs },
          mark: { type: 'point', filled: true, size: 40, opacity: 0.75 },
          encoding: {
            x: { field: 'flops', type: 'quantitative', title: 'FLOPs (model FLOPs a step × steps)', scale: { type: 'log' }, axis: { format: '.1s' } },
            y: { field: 'loss', type: 'quantitative', title: 'final validation loss', scale: { zero: false } },
            color: { field: 'recipes', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 2, labelLimit: 300 } },
          },
        },
        {
          data: { values: front },
          mark: { type: 'line', interpolate: 'step-after', color: '#222', strokeDash: [4, 3] },
          encoding: { x: { field: 'flops', type: 'quantitative' }, y: { field: 'loss', type: 'quantitative' } },
        },
      ],
    });
  }
  return { hconcat: panels } as TopLevelSpec;
}

/** AlgoPerf's performance profiles: ρ(τ), the share of workloads within τ of the best, per recipe set, τ from 1 to 4. */
export function profileCurvesSpec(suite: Pick<SuiteView, 'ratios'>): TopLevelSpec | null {
  if (suite.ratios.length === 0) return null;
  const taus = Array.from({ length: 61 }, (_, i) => 1 + i * 0.05);
  const values = suite.ratios.flatMap(({ recipes, ratios }) => taus.map((tau) => ({ recipes, tau, rho: profileAt(ratios, tau) })));
  return {
    width: 420,
    height: 220,
    data: { values },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 'tau', type: 'quantitative', title: 'τ (time ÷ best time)', scale: { domain: [1, 4] } },
      y: { field: 'rho', type: 'quantitative', title: 'ρ(τ): share of workloads', scale: { domain: [0, 1] } },
      color: { field: 'recipes', type: 'nominal', title: 'recipes', scale: { domain: suite.ratios.map((r) => r.recipes) }, legend: { orient: 'bottom', labelLimit: 400 } },
    },
  };
}

interface ScalePoint {
  recipes: string;
  mflops: number;
  speedup: number;
  workload: string;
}

/** Transfer at a glance: each recipe set's time speedup over the suite's base against the workload's model FLOPs per token. */
export function speedupByScaleSpec(suite: SuiteView): TopLevelSpec | null {
  const values = suite.report.summaries
    .filter((s) => s.recipes !== suite.report.base)
    .flatMap((s) =>
      s.perWorkload.flatMap((p, i) => {
        const w = suite.report.workloads[i];
        return w && w.flopsPerToken !== null && p.speedup !== null ? [{ recipes: s.recipes, mflops: w.flopsPerToken / 1e6, speedup: p.speedup, workload: w.heldout ? 'held-out' : w.scale }] : [];
      }),
    );
  return speedupLines(values, suite.report.base, suite.report.summaries.map((s) => s.recipes));
}

/** The same chart for the standings: each set's median speedup over the suite runs, per workload. */
export function standingsSpeedupSpec(standings: SuiteStandings): TopLevelSpec | null {
  const values = standings.rows
    .filter((r) => r.recipes !== standings.base)
    .flatMap((r) =>
      r.perWorkload.flatMap((p, i) => {
        const w = standings.workloads[i]!;
        return w.flopsPerToken !== null && p.medianSpeedup !== null ? [{ recipes: r.recipes, mflops: w.flopsPerToken / 1e6, speedup: p.medianSpeedup, workload: w.scale }] : [];
      }),
    );
  return speedupLines(values, standings.base, standings.rows.map((r) => r.recipes));
}

function speedupLines(values: ScalePoint[], base: string, recipeDomain: string[]): TopLevelSpec | null {
  if (values.length === 0) return null;
  return {
    width: 420,
    height: 220,
    data: { values },
    layer: [
      { mark: { type: 'rule', strokeDash: [4, 4], color: '#888' }, encoding: { y: { datum: 1 } } },
      {
        mark: { type: 'line', point: { size: 50, filled: true } },
        encoding: {
          x: { field: 'mflops', type: 'quantitative', title: 'model MFLOP per token (log)', scale: { type: 'log' } },
          y: { field: 'speedup', type: 'quantitative', title: `speedup over ${base} (time)`, scale: { zero: false } },
          // The same colour for a recipe set as in the profile chart (the base keeps its colour, unused here).
          color: { field: 'recipes', type: 'nominal', title: 'recipes', scale: { domain: recipeDomain }, legend: { orient: 'bottom', labelLimit: 400 } },
          tooltip: [{ field: 'workload' }, { field: 'speedup', format: '.2f' }],
        },
      },
    ],
  };
}
