/** The benchmark suite: performance-profile scores by hand, the transfer verdict, the held-out draw, and the orchestration. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { geometricMean, performanceRatios, profileAt, profileScore } from '../harness/stats.ts';
import { importSuiteReport, runSuite, summariseSuite, suiteRecipeSet, transferVerdict, SUITE_WORKLOADS, HELDOUT_STEP_BUDGET, type SuiteWorkload, type SuiteCell, type SuiteReport } from '../harness/suite.ts';
import { formatStandings, poolSuites, standingsOfStore } from '../harness/suiteStandings.ts';
import { drawHeldout, HELDOUT_RANGES, REFERENCE_SEED, REFERENCE_STEPS } from '../harness/heldout.ts';
import { combineVerdicts } from '../harness/ci.ts';
import { resolveRun, executeRun, type RunRecord, type RunRequest } from '../harness/run.ts';
import { resolveTrack } from '../harness/tracks.ts';
import { ResultsStore } from '../harness/store/database.ts';
import { microPlan, tempDir } from './utils.ts';

test('performance profiles and the AlgoPerf score agree with a hand-computed example', () => {
  // Three submissions on four workloads (seconds); C misses workload 3.
  const times = [
    [10, 20, 30, 40], // A
    [20, 10, 60, 40], // B
    [15, 80, null, 20], // C
  ];
  const ratios = performanceRatios(times);
  // best per workload: 10, 10, 30, 20
  assert.deepEqual(ratios, [
    [1, 2, 1, 2],
    [2, 1, 2, 2],
    [1.5, 8, Infinity, 1],
  ]);
  assert.equal(profileAt(ratios[0]!, 1), 0.5);
  assert.equal(profileAt(ratios[0]!, 2), 1);
  assert.equal(profileAt(ratios[2]!, 4), 0.5);
  // score = mean over workloads of (4 - r) / 3 for r <= 4, else 0:
  // A: (3 + 2 + 3 + 2) / 3 / 4 = 10/12; B: (2 + 3 + 2 + 2) / 12 = 9/12; C: (2.5 + 0 + 0 + 3) / 12 = 5.5/12.
  assert.ok(Math.abs(profileScore(ratios[0]!) - 10 / 12) < 1e-12);
  assert.ok(Math.abs(profileScore(ratios[1]!) - 9 / 12) < 1e-12);
  assert.ok(Math.abs(profileScore(ratios[2]!) - 5.5 / 12) < 1e-12);
  // The closed form equals a fine numerical integral of the step function.
  for (const r of ratios) {
    const n = 30000;
    let integral = 0;
    for (let i = 0; i < n; i++) integral += profileAt(r, 1 + (3 * (i + 0.5)) / n) * (3 / n);
    assert.ok(Math.abs(integral / 3 - profileScore(r)) < 1e-3);
  }
  assert.equal(profileScore([1, 1]), 1);
  assert.equal(profileScore([Infinity]), 0);
  assert.ok(Math.abs(geometricMean([2, 0.5, 4]) - 4 ** (1 / 3)) < 1e-12);
  assert.equal(geometricMean([2, 0]), 0);
});

test('the transfer verdict reads the speedups in order of size', () => {
  assert.equal(transferVerdict([1.5, 1.3, 1.1], 1.2), 'transfers');
  assert.equal(transferVerdict([1.5, 1.2, 0.9], 1.1), 'shrinks with scale');
  assert.equal(transferVerdict([0.9, 1.2, 1.6], 1.1), 'grows with scale');
  assert.equal(transferVerdict([0.9, 0.95, 1.0], 1.0), 'does not help');
  assert.equal(transferVerdict([1.5, 1.3, 1.1], 0.95), 'shrinks with scale'); // slower on the held-out one
  assert.equal(transferVerdict([1.3, 0.8, 1.3], 1.2), 'mixed');
  assert.equal(transferVerdict([1.5, null, 1.5]), 'mixed'); // a miss is no speedup
  assert.equal(transferVerdict([1.03, 1.04, 1.02], 1.03), 'does not help'); // within noise
});

test('the held-out draw is a function of its seed, inside the stated ranges, and resolves as a track', () => {
  assert.deepEqual(drawHeldout(7), drawHeldout(7));
  const draws = Array.from({ length: 200 }, (_, i) => drawHeldout(i));
  for (const d of draws) {
    assert.ok((HELDOUT_RANGES.nLayer as readonly number[]).includes(d.model.nLayer));
    assert.ok((HELDOUT_RANGES.nEmbd as readonly number[]).includes(d.model.nEmbd));
    assert.equal(d.model.nEmbd % d.model.nHead, 0);
    assert.ok(d.lrScale >= 0.5 && d.lrScale <= 2);
  }
  assert.ok(new Set(draws.map((d) => d.label)).size > 150, 'the draws differ');
  const track = resolveTrack('heldout:7');
  assert.deepEqual(track.model, drawHeldout(7).model);
  assert.equal(track.calibrated, false);
  assert.throws(() => resolveTrack('heldout:x'), /heldout:<seed>/);
});

test('a held-out variant trains its drawn shape with its learning-rate multiplier, and is never official', async () => {
  const variant = drawHeldout(3);
  const plan = await resolveRun({ recipe: 'baseline', track: 'heldout:3', backend: 'cpu', seed: 0, target: 2.5 });
  assert.equal(plan.config.model.nLayer, variant.model.nLayer);
  assert.equal(plan.config.model.blockSize, variant.model.blockSize);
  assert.equal(plan.config.train.batchSize, variant.batchSize);
  assert.ok(Math.abs(plan.config.train.lr - 1e-3 * variant.lrScale) < 1e-12);
  assert.equal(plan.official, false);
  const wide = await resolveRun({ recipe: 'baseline', track: 'brown-char-wide', backend: 'cpu', seed: 0 });
  assert.equal(wide.official, true);
  assert.equal(wide.config.model.nEmbd, 256);
});

const workload = (track: string, scale: string, heldout = false): SuiteWorkload => ({
  track,
  scale,
  target: 2,
  flopsPerToken: 1,
  ...(heldout ? { heldout: { ...drawHeldout(1), referenceRunId: 'r', referenceSteps: 250 } } : {}),
});
const cell = (workloadName: string, recipes: string, seed: number, time: number | null): SuiteCell => ({
  workload: workloadName,
  recipes,
  seed,
  runId: `${workloadName}-${recipes}-${seed}`,
  status: time === null ? 'budget_exhausted' : 'success',
  timeToTargetMs: time,
  stepsToTarget: time === null ? null : time / 10,
});

test('the suite summary: medians over seeds, speedups, score and verdict per recipe set', () => {
  const workloads = [workload('S', 'S'), workload('L', 'L'), workload('H', 'held-out', true)];
  const cells = [
    ...[100, 120, 110].map((t, s) => cell('S', 'baseline', s, t)),
    ...[50, 60, 55].map((t, s) => cell('S', 'x', s, t)),
    ...[1000, 1000, 1000].map((t, s) => cell('L', 'baseline', s, t)),
    ...[900, null, 800].map((t, s) => cell('L', 'x', s, t)), // median of 800, 900, miss = 900
    ...[200, 200, 200].map((t, s) => cell('H', 'baseline', s, t)),
    ...[null, null, 100].map((t, s) => cell('H', 'x', s, t)), // median is a miss
  ];
  const [base, x] = summariseSuite(workloads, cells, ['x']);
  assert.equal(base!.recipes, 'baseline');
  assert.deepEqual(x!.perWorkload.map((p) => p.medianTimeMs), [55, 900, null]);
  assert.deepEqual(x!.perWorkload.map((p) => p.speedup), [2, 1000 / 900, 0]);
  assert.equal(x!.geomeanSpeedup, 0);
  assert.equal(x!.verdict, 'shrinks with scale');
  // Ratios: x is best on S and L; baseline 2 and 1000/900 there; baseline best on H, x misses it.
  assert.ok(Math.abs(x!.score - (1 + 1 + 0) / 3) < 1e-12);
  assert.ok(Math.abs(base!.score - ((4 - 2) / 3 + (4 - 1000 / 900) / 3 + 1) / 3) < 1e-12);
});

test('runSuite interleaves baseline and the recipe sets, sets the held-out target from its reference run, and records the suite', async () => {
  const dir = tempDir();
  const store = ResultsStore.open(path.join(dir, 'speedrun.db'));
  const copy = ResultsStore.open(path.join(dir, 'copy.db')); // where the report is imported, as on a fresh clone
  const template = await executeRun(await microPlan({ steps: 2 }), { outDir: dir });
  const calls: RunRequest[] = [];
  let n = 0;
  const runner = async (request: RunRequest): Promise<RunRecord> => {
    calls.push(request);
    const time = request.recipe === 'baseline' ? 1000 : 800;
    const record = {
      ...template,
      runId: `run-${n++}`,
      recipes: request.recipe.split(','),
      config: { ...template.config, train: { ...template.config.train, seed: request.seed } },
      track: { ...template.track, id: `${request.track}@1`, name: request.track, target: request.target ?? 2.46 },
      ...(request.target === 1e-6
        ? { status: 'budget_exhausted', timeToTargetMs: null, stepsToTarget: null, tokensToTarget: null, finalValLoss: 2.71234, steps: request.steps! }
        : { status: 'success', timeToTargetMs: time, stepsToTarget: time / 10, tokensToTarget: 1 }),
    } as RunRecord;
    store.finishRun(record, { path: `/bundles/${record.runId}.json`, checksum: 'c' });
    copy.finishRun(record, { path: `/bundles/${record.runId}.json`, checksum: 'c' });
    return record;
  };
  const report = await runSuite({ recipeSets: ['zero-init'], backend: 'cpu', seeds: 2, heldoutSeed: 5, workloads: ['brown-char'] }, runner, store);
  assert.deepEqual(
    calls.map((c) => `${c.track}:${c.recipe}:${c.seed}`),
    ['brown-char:baseline:0', 'brown-char:zero-init:0', 'brown-char:baseline:1', 'brown-char:zero-init:1', `heldout:5:baseline:${REFERENCE_SEED}`, 'heldout:5:baseline:0', 'heldout:5:zero-init:0', 'heldout:5:baseline:1', 'heldout:5:zero-init:1'],
  );
  assert.equal(calls[4]!.steps, REFERENCE_STEPS);
  for (const c of calls.slice(5)) {
    assert.equal(c.target, 2.7123);
    assert.equal(c.steps, HELDOUT_STEP_BUDGET);
  }
  assert.equal(report.workloads[1]!.target, 2.7123);
  assert.equal(report.summaries[1]!.verdict, 'transfers');
  assert.equal(report.summaries[1]!.perWorkload[0]!.speedup, 1.25);
  const stored = store.suiteRuns(report.suiteId);
  assert.equal(stored.length, 9);
  assert.equal(stored.filter((r) => r.role === 'reference').length, 1);
  assert.equal(JSON.parse(store.suiteReports().at(-1)!.report).suiteId, report.suiteId);
  await assert.rejects(runSuite({ recipeSets: ['x'], backend: 'cpu', seeds: 1, workloads: ['nope'] }, runner, store), /not one of the suite's workloads/);

  // Imported elsewhere, the table is computed again from the runs: a forged time does not survive; a report
  // naming a run that has no bundle there is refused.
  const forged = { ...report, cells: report.cells.map((c) => ({ ...c, timeToTargetMs: c.recipes === 'baseline' ? 1 : c.timeToTargetMs })) };
  assert.equal(importSuiteReport(forged, copy), 'added');
  assert.equal(importSuiteReport(forged, copy), 'unchanged');
  const imported = JSON.parse(copy.suiteReports().at(-1)!.report) as typeof report;
  assert.equal(imported.summaries[1]!.perWorkload[0]!.speedup, 1.25);
  assert.throws(() => importSuiteReport({ ...report, suiteId: 'suite-other', cells: [{ ...report.cells[0]!, runId: 'nope' }] }, copy), /run nope has no imported bundle/);
  copy.close();

  // The leaderboard's suite page: the score table, both charts, and a stored report of the wrong shape left out.
  store.startSuite({ id: 'suite-forged', backend: 'cpu', hardwareClass: 'x', recipeSets: ['baseline'], heldout: null });
  store.finishSuite('suite-forged', { suiteId: '<script>', summaries: 'nope' });
  const { renderSite } = await import('../harness/leaderboard/render.ts');
  const site = path.join(dir, 'site');
  const { pages } = await renderSite(store, site);
  assert.ok(pages.includes('suites.html'));
  const html = fs.readFileSync(path.join(site, 'suites.html'), 'utf8');
  assert.match(html, new RegExp(report.suiteId));
  assert.match(html, /transfers/);
  assert.equal((html.match(/<svg/g) ?? []).length, 4); // the standings' two charts and the suite run's two
  assert.match(html, /left out: suite suite-forged/);
  assert.match(html, /Standings: cpu/); // the pooled table, one suite run so far
  const { standings, errors } = standingsOfStore(store);
  assert.deepEqual(standings.map((t) => t.suiteIds), [[report.suiteId]]);
  assert.match(errors.join(), /suite suite-forged: /);
  assert.match(html, /<td><code>zero-init<\/code><\/td><td class="num">1<\/td><td class="num">1\.25x<\/td>/);
  assert.doesNotMatch(html, /<script>/);
  assert.match(fs.readFileSync(path.join(site, 'index.html'), 'utf8'), /href="suites.html"/);
  store.close();
});

test('the suite spans at least 8x in model FLOPs per token, and ci --suite combines verdicts', async () => {
  const { modelFlopsPerStep } = await import('../harness/compute.ts');
  const { composeRecipes } = await import('../harness/recipe.ts');
  const { resolveRecipes } = await import('../recipes/index.ts');
  const perToken: number[] = [];
  for (const w of SUITE_WORKLOADS) {
    const plan = await resolveRun({ recipe: 'baseline', track: w.track, backend: 'cpu', seed: 0 });
    const tokens = plan.config.train.batchSize * plan.config.model.blockSize;
    perToken.push((await modelFlopsPerStep(plan.config, composeRecipes(resolveRecipes('baseline')))) / tokens);
  }
  assert.ok(perToken.every((f, i) => i === 0 || f > perToken[i - 1]!), 'smallest first');
  assert.ok(perToken.at(-1)! / perToken[0]! >= 8, `span ${perToken.at(-1)! / perToken[0]!}`);
  assert.equal(combineVerdicts(['no-regression', 'regression', 'inconclusive']), 'regression');
  assert.equal(combineVerdicts(['no-regression', 'inconclusive']), 'inconclusive');
  assert.equal(combineVerdicts(['no-regression', 'no-regression']), 'no-regression');
});

test('standings pool suite runs by speedups over their own base, per class, engine and base, and score them by hand', () => {
  const scales = [workload('brown-char', 'S'), workload('brown-char-large', 'L'), workload('heldout:7', 'held-out', true)];
  const report = (id: string, hardwareClass: string, speedups: Record<string, (number | null)[]>, base = 'baseline'): SuiteReport => ({
    suiteId: id,
    base,
    createdAt: '2026-12-02T00:00:00Z',
    backend: 'native',
    hardwareClass,
    seeds: [Number(id.at(-1))],
    workloads: scales,
    cells: [],
    summaries: [base, ...Object.keys(speedups)].map((recipes) => ({
      recipes,
      perWorkload: scales.map((w, i) => ({ track: w.track, scale: w.scale, medianTimeMs: 1, medianSteps: 1, speedup: recipes === base ? 1 : speedups[recipes]![i]!, stepSpeedup: 1 })),
      score: 0,
      geomeanSpeedup: null,
      verdict: 'mixed' as const,
    })),
  });
  const pooled = poolSuites([
    report('a0', 'zen3', { x: [2, 1.2, 1.5], y: [1.0, 0, 1.1] }),
    report('a1', 'zen3', { x: [3, 1.0, 0.5] }),
    report('a2', 'zen3', { x: [2.5, 1.4, 2] }),
    report('b0', 'xeon', { x: [9, 9, 9] }), // another class: its own table, never pooled with zen3
    report('c0', 'zen3', { x: [9, 9, 9] }, 'fused-kernels'), // another base: its own table
  ]);
  assert.equal(pooled.length, 3);
  const zen3 = pooled.find((p) => p.hardwareClass === 'zen3' && p.base === 'baseline')!;
  assert.deepEqual(zen3.suiteIds, ['a0', 'a1', 'a2']);
  assert.deepEqual(zen3.workloads.map((w) => w.scale), ['S', 'L', 'held-out']);
  const row = (name: string) => zen3.rows.find((r) => r.recipes === name)!;
  // Medians over the suite runs that ran the set: x 2.5, 1.2, 1.5; y ran once (a miss on L).
  assert.deepEqual(row('x').perWorkload.map((p) => p.medianSpeedup), [2.5, 1.2, 1.5]);
  assert.deepEqual(row('y').perWorkload.map((p) => p.medianSpeedup), [1, 0, 1.1]);
  assert.equal(row('x').suites, 3);
  assert.equal(row('y').suites, 1);
  // Times as 1/speedup; x is best everywhere. baseline's ratios 2.5, 1.2, 1.5; y's 2.5, miss, (1/1.1)/(1/1.5).
  assert.equal(row('x').score, 1);
  assert.ok(Math.abs(row('baseline').score - (1.5 + 2.8 + 2.5) / 9) < 1e-12);
  assert.ok(Math.abs(row('y').score - (1.5 + 0 + (4 - 1.5 / 1.1)) / 9) < 1e-12);
  assert.equal(row('x').verdict, 'transfers');
  assert.equal(row('y').verdict, 'does not help');
  assert.equal(row('baseline').verdict, null);
  assert.deepEqual(zen3.rows.map((r) => r.recipes), ['x', 'baseline', 'y']);
  assert.match(formatStandings(pooled), /\| x \| 3 \| 2\.50x \(1\.00x\) \| 1\.20x \(1\.00x\) \| 1\.50x \(1\.00x\) \| 1\.000 \|/);
});

test('a suite base is added to every recipe set once, in front, as the canonical label', () => {
  assert.equal(suiteRecipeSet('baseline', 'ngpt'), 'ngpt');
  assert.equal(suiteRecipeSet('baseline', 'baseline'), 'baseline');
  assert.equal(suiteRecipeSet('fused-kernels', 'fused-kernels'), 'fused-kernels');
  assert.equal(suiteRecipeSet('fused-kernels', 'ngpt'), 'fused-kernels,ngpt');
  assert.equal(suiteRecipeSet('fused-kernels', 'muon:lr=0.04,fused-kernels'), 'fused-kernels,muon:lr=0.04');
  assert.equal(suiteRecipeSet('fused-kernels', 'baseline'), 'fused-kernels');
  assert.throws(() => suiteRecipeSet('fused-kernels', 'ngpt,zero-init'), /cannot be combined/);
  assert.throws(() => suiteRecipeSet('nope', 'ngpt'), /nope/);
});
