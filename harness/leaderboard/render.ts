/**
 * `speedrun leaderboard`: the results database as a static site (Handlebars templates and assets from site/,
 * plots as inline SVG), or the record tables as Markdown. Handlebars' {{ }} escapes every user-supplied string;
 * the only unescaped output ({{{ }}}) is the SVG the chart renderer produced, which escapes its own text.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Handlebars from 'handlebars';
import { PROJECT_ROOT } from '../environment.ts';
import { isSafeName } from '../names.ts';
import type { ResultsStore, StoredRun } from '../store/database.ts';
import { computeSpec, lossCurvesSpec, profileCurvesSpec, recipeComparisonSpec, recordHistorySpec, renderSvg, speedupByScaleSpec, standingsSpeedupSpec } from './charts.ts';
import { formatFlops } from '../units.ts';
import { buildLeaderboard, type LeaderboardData } from './model.ts';
import { externalHistorySpec, externalTracks } from './external.ts';
import { poolSuites } from '../suiteStandings.ts';

const SITE = path.join(PROJECT_ROOT, 'site');

function engine(): typeof Handlebars {
  const hb = Handlebars.create();
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  hb.registerHelper('seconds', (ms: unknown) => (num(ms) === null ? '—' : `${(num(ms)! / 1000).toFixed(1)} s`));
  hb.registerHelper('fixed', (v: unknown, digits: unknown) => (num(v) === null ? '—' : num(v)!.toFixed(typeof digits === 'number' ? digits : 2)));
  hb.registerHelper('thousands', (v: unknown) => (num(v) === null ? '—' : Math.round(num(v)!).toLocaleString('en-US')));
  hb.registerHelper('pvalue', (v: unknown) => (num(v) === null ? '—' : num(v)! < 1e-4 ? '< 0.0001' : num(v)!.toPrecision(2)));
  hb.registerHelper('mflops', (v: unknown) => (num(v) === null ? null : num(v)! / 1e6));
  hb.registerHelper('speedup', (v: unknown) => (num(v) === null ? '—' : num(v) === 0 ? 'miss' : `${num(v)!.toFixed(2)}x`));
  hb.registerHelper('join', (v: unknown) => (Array.isArray(v) ? v.join(', ') : ''));
  hb.registerHelper('flops', (v: unknown) => (num(v) === null ? 'unknown' : formatFlops(num(v))));
  hb.registerHelper('percent', (v: unknown) => (num(v) === null ? 'unknown' : `${(100 * num(v)!).toFixed(1)} %`));
  hb.registerPartial('recordTable', fs.readFileSync(path.join(SITE, 'templates', 'record-table.hbs'), 'utf8'));
  return hb;
}

export interface RenderResult {
  pages: string[];
  data: LeaderboardData;
}

/** Writes index.html, tracks/*.html, records/*.html, assets/ and the record runs' bundles into outDir. */
export async function renderSite(store: ResultsStore, outDir: string): Promise<RenderResult> {
  const hb = engine();
  const template = (name: string) => hb.compile(fs.readFileSync(path.join(SITE, 'templates', `${name}.hbs`), 'utf8'), { strict: false });
  const [layout, index, trackPage, recordPage, suitePage, externalPage] = ['layout', 'index', 'track', 'record', 'suites', 'external'].map(template) as [HandlebarsTemplateDelegate, HandlebarsTemplateDelegate, HandlebarsTemplateDelegate, HandlebarsTemplateDelegate, HandlebarsTemplateDelegate, HandlebarsTemplateDelegate];

  // A database is read as hostile too: only a run id that is a safe name becomes a file name in the site.
  const bundleHref = (run: StoredRun): string | null => (isSafeName(run.id) && run.bundlePath && fs.existsSync(run.bundlePath) ? `bundles/${run.id}.json` : null);
  const data = buildLeaderboard(store, bundleHref);
  for (const dir of ['tracks', 'records', 'bundles', 'assets']) fs.mkdirSync(path.join(outDir, dir), { recursive: true });
  fs.copyFileSync(path.join(SITE, 'assets', 'style.css'), path.join(outDir, 'assets', 'style.css'));

  const pages: string[] = [];
  const write = (file: string, title: string, root: string, body: string) => {
    fs.writeFileSync(path.join(outDir, file), layout({ title, root, body, generatedAt: data.generatedAt }));
    pages.push(file);
  };
  write('index.html', 'Leaderboard', '', index({ tracks: data.tracks, suites: data.suites.length, externalTracks: store.externalRuns().length > 0 ? externalTracks(store).map((t) => ({ title: t.title, runs: t.runs })) : [] }));
  const suites = await Promise.all(
    data.suites.map(async (suite) => {
      const profile = profileCurvesSpec(suite);
      const scale = speedupByScaleSpec(suite);
      const rows = suite.report.workloads.flatMap((w, i) =>
        suite.report.summaries.map((s) => ({ workload: w.heldout ? `${w.track} (${w.heldout.label})` : `${w.track} (${w.scale})`, flopsPerToken: w.flopsPerToken, target: w.target, recipes: s.recipes, ...s.perWorkload[i]! })),
      );
      const summaries = suite.report.summaries.map((s) => ({ ...s, verdict: s.recipes === suite.report.base ? '(reference)' : s.verdict }));
      return { report: suite.report, summaries, rows, profileSvg: profile && (await renderSvg(profile)), scaleSvg: scale && (await renderSvg(scale)) };
    }),
  );
  // Pooled over every suite run of a class, engine and base: speedups are ratios within a run (suiteStandings.ts).
  const standings = await Promise.all(
    poolSuites(data.suites.map((s) => s.report)).map(async (t) => {
      const profile = profileCurvesSpec({ ratios: t.rows.map((r) => ({ recipes: r.recipes, ratios: r.ratios })) });
      const scale = standingsSpeedupSpec(t);
      return {
        ...t,
        rows: t.rows.map((r) => ({ ...r, isBase: r.recipes === t.base, verdict: r.verdict ?? '(reference)' })),
        profileSvg: profile && (await renderSvg(profile)),
        scaleSvg: scale && (await renderSvg(scale)),
      };
    }),
  );
  write('suites.html', 'Suite', '', suitePage({ standings, suites: suites.reverse(), errors: data.suiteErrors }));
  // Other trainers' runs (self-reported) on a page of their own, never in speedrun's tracks.
  const external = await Promise.all(
    externalTracks(store).map(async (track) => {
      const spec = externalHistorySpec(track);
      return { ...track, historySvg: spec && (await renderSvg(spec)) };
    }),
  );
  if (external.length > 0) write('external.html', 'External runs', '', externalPage({ tracks: external }));
  for (const track of data.tracks) {
    const history = recordHistorySpec(track);
    const comparison = recipeComparisonSpec(track);
    const compute = computeSpec(track);
    const [historySvg, comparisonSvg, computeSvg] = await Promise.all([history && renderSvg(history), comparison && renderSvg(comparison), compute && renderSvg(compute)]);
    write(track.page, track.id, '../', trackPage({ track, historySvg, comparisonSvg, computeSvg }));
  }
  for (const view of data.records) {
    const curves = lossCurvesSpec(view);
    const lossSvg = curves && (await renderSvg(curves));
    for (const { run, bundleHref: href } of view.runs) {
      const target = href && path.join(outDir, href);
      if (target && !fs.existsSync(target)) fs.copyFileSync(run.bundlePath!, target);
    }
    write(view.row.page, `Record #${view.row.number} on ${view.track.id}`, '../', recordPage({ view, lossSvg }));
  }
  return { pages, data };
}

/** Markdown text (cells and headings): pipes and line breaks would break the row; markup is shown as text. */
const cell = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ').replace(/</g, '&lt;');

/** The record tables as Markdown, modded-nanogpt README style. */
export function recordTablesMarkdown(store: ResultsStore): string {
  const data = buildLeaderboard(store);
  const out: string[] = [];
  for (const track of data.tracks) {
    out.push(`## ${cell(track.id)} (target val loss ${track.target})`, '');
    if (track.records.length === 0) {
      out.push('No records yet.', '');
      continue;
    }
    out.push('| # | Time to target | Description | Date | Recipes | Backend · hardware | Steps to target | Tokens to target | FLOPs to target | MFU | Runs | p | Contributors |', '|---:|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---|');
    for (const r of track.records) {
      const time = `${(r.record.timeToTargetMs / 1000).toFixed(1)} s${r.current ? ' (record)' : ''}`;
      const mfu = r.mfu === null ? 'unknown' : `${(100 * r.mfu).toFixed(1)} %`;
      out.push(`| ${r.number} | ${time} | ${cell(r.record.description)} | ${r.date} | \`${cell(r.record.recipes)}\` | ${cell(`${r.backend} · ${r.record.hardwareClass}`)} | ${r.record.stepsToTarget.toFixed(0)} | ${Math.round(r.record.tokensToTarget).toLocaleString('en-US')} | ${formatFlops(r.flopsToTarget)} | ${mfu} | ${r.record.runs} | ${r.record.pValue.toPrecision(2)} | ${cell(r.record.contributors.join(', '))} |`);
    }
    out.push('');
  }
  return out.length > 0 ? `${out.join('\n')}\n` : 'No runs yet.\n';
}
