/**
 * Compute accounting (harness/compute.ts): model FLOPs counted from the model as the recipes built it equal the
 * closed form; executed FLOPs show the optimizer's products; MFU and cost follow from them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend } from '../harness/backends/index.ts';
import { DEFAULT_TRAIN, MODEL_PRESETS, type RunConfig } from '../harness/config.ts';
import { computeFigures, modelFlopsPerStep } from '../harness/compute.ts';
import { composeRecipes } from '../harness/recipe.ts';
import { resolveRecipes } from '../recipes/index.ts';
import { executeRun } from '../harness/run.ts';
import { microPlan, tempDir } from './utils.ts';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunRecord } from '../harness/records.ts';
import { createBundle, readBundle, writeBundle } from '../harness/store/bundle.ts';
import { ResultsStore } from '../harness/store/database.ts';
import { verifyFiles } from '../harness/verifyBundles.ts';
import { importResults } from '../harness/importResults.ts';
import { calibrate } from '../harness/calibrate.ts';
import { buildLeaderboard } from '../harness/leaderboard/model.ts';
import { computeSpec, paretoFront } from '../harness/leaderboard/charts.ts';
import { recordTablesMarkdown } from '../harness/leaderboard/render.ts';
import { syntheticRun } from './fixtures/records.ts';

function configOf(preset: 'nano' | 'gpt2-small', vocabSize: number, gradAccumSteps = 1): RunConfig {
  const { batchSize, ...model } = MODEL_PRESETS[preset];
  return {
    model: { vocabSize, ...model },
    train: { ...DEFAULT_TRAIN, batchSize, gradAccumSteps, evalInterval: 50, evalTokens: 1024, target: 1, maxSteps: 1 },
  };
}

/**
 * The closed form, per sequence of T tokens: each layer's projections 2·C·3C + 2·C·C and MLP 2·C·(mlp)·2 per
 * token, attention's q·kᵀ and P·v 2·T·C each per token, the head 2·C·V per token; ×3 for forward + backward.
 */
function closedForm(config: RunConfig, mlpWidth: number, mlpInputWidth = mlpWidth): number {
  const { nLayer: L, nEmbd: C, blockSize: T, vocabSize: V } = config.model;
  const perToken = L * (2 * C * 3 * C + 2 * C * C + 2 * C * mlpInputWidth + 2 * mlpWidth * C + 2 * 2 * T * C) + 2 * C * V;
  return 3 * config.train.batchSize * config.train.gradAccumSteps * T * perToken;
}

test('model FLOPs of the baseline nano and gpt2-small presets equal the closed form exactly; nGPT counts its wider SwiGLU', async () => {
  await useBackend('cpu');
  const baseline = composeRecipes(resolveRecipes('baseline'));
  const nano = configOf('nano', 85);
  assert.equal(await modelFlopsPerStep(nano, baseline), closedForm(nano, 4 * 128));
  const accumulated = configOf('nano', 85, 3);
  assert.equal(await modelFlopsPerStep(accumulated, baseline), closedForm(accumulated, 4 * 128));
  const gpt2 = configOf('gpt2-small', 50257);
  assert.equal(await modelFlopsPerStep(gpt2, baseline), closedForm(gpt2, 4 * 768));
  // nGPT: c_fc is [C, 8C] (u and v), c_proj [4C, C]
  assert.equal(await modelFlopsPerStep(nano, composeRecipes(resolveRecipes('ngpt'))), closedForm(nano, 4 * 128, 8 * 128));
});

/** Two micro runs on cpu (baseline, muon), shared by the tests below. */
const out = tempDir();
let microRuns: Promise<[RunRecord, RunRecord]> | undefined;
const runs = () =>
  (microRuns ??= (async () => {
    const run = async (recipe: string) => executeRun(await microPlan({ recipe, steps: 2 }), { outDir: out });
    return [await run('baseline'), await run('muon')];
  })());

test("executed FLOPs: muon's exceed baseline's by exactly its Newton-Schulz products; MFU in (0, 1]; a price gives a cost", async () => {
  const [baseline, muon] = await runs();
  const { nLayer: L, nEmbd: C } = baseline.config.model;
  // Newton-Schulz: 5 iterations of X·Xᵀ, A·A and B·X on each hidden matrix (m = the smaller side, n the larger)
  const ns = (rows: number, cols: number) => {
    const [m, n] = [Math.min(rows, cols), Math.max(rows, cols)];
    return 5 * (2 * m * m * n + 2 * m * m * m + 2 * m * m * n);
  };
  const perLayer = ns(C, 3 * C) + ns(C, C) + ns(C, 4 * C) + ns(4 * C, C);
  assert.ok(baseline.compute && muon.compute);
  assert.equal(muon.compute.executedFlopsPerStep! - baseline.compute.executedFlopsPerStep!, L * perLayer);
  assert.equal(muon.compute.modelFlopsPerStep, baseline.compute.modelFlopsPerStep, 'the optimizer adds no model FLOPs');
  assert.ok(baseline.compute.mfu! > 0 && baseline.compute.mfu! <= 1, `MFU ${baseline.compute.mfu}`);
  assert.match(baseline.compute.peak!.method, /measured fp32 product 128³ on cpu/);

  const priced = computeFigures({ modelFlopsPerStep: 1e9, executedFlopsPerStep: null, steps: 100, trainTimeMs: 10_000, stepsToTarget: 50, timeToTargetMs: 7_200_000, peak: { flopsPerSec: 1e11, method: 'test' }, pricePerHour: 3 });
  assert.equal(priced.costToTarget, 6); // 2 h at $3/h
  assert.equal(priced.flopsToTarget, 5e10);
  assert.equal(priced.mfu, 0.1); // 1e11 FLOP in 10 s against 1e11 FLOP/s
  assert.equal(computeFigures({ ...priced, steps: 100, trainTimeMs: 10_000, stepsToTarget: null, timeToTargetMs: null, pricePerHour: 3 }).costToTarget, null);
  assert.equal('costToTarget' in computeFigures({ ...priced, steps: 1, trainTimeMs: 1, stepsToTarget: 1, timeToTargetMs: 1, pricePerHour: undefined }), false, 'no price, no cost');
});

test('verify refuses compute figures that do not follow from the record, or from its config', async () => {
  const [baseline] = await runs();
  const { run, events, code } = readBundle(baseline.bundle);
  const dir = tempDir();
  const sealed = (name: string, compute: RunRecord['compute']) => {
    const file = path.join(dir, `${name}.json`);
    writeBundle(createBundle({ ...run, compute } as RunRecord, events, code.files), file);
    return file;
  };
  const c = run.compute!;
  const files = [
    sealed('honest', c),
    sealed('mfu', { ...c, mfu: c.mfu! * 2 }),
    // Model FLOPs halved and every figure made to follow from them: only a count of the config's model tells.
    sealed('model', { ...c, modelFlopsPerStep: c.modelFlopsPerStep / 2, mfu: c.mfu! / 2 }),
  ];
  const verdicts = await verifyFiles(files, undefined);
  assert.deepEqual(verdicts.map((v) => v.status), ['valid', 'invalid', 'invalid']);
  assert.match(verdicts[1]!.detail!, /MFU .* does not follow/);
  assert.match(verdicts[2]!.detail!, /model FLOPs a step .* the bundled config's model counts/);
});

test('a version-4 database gains the compute columns; bundles from before import with FLOPs from their config; calibrate stores the peak later runs use', async () => {
  const file = path.join(tempDir(), 'v4.db');
  const old = ResultsStore.open(file, { maxVersion: 4 });
  old.finishRun(syntheticRun({ id: 'v4-run', seed: 0 }));
  old.close();
  const store = ResultsStore.open(file);
  const before = store.run('v4-run')!;
  assert.equal(before.modelFlopsPerStep, null, 'unknown, not invented');
  assert.equal(before.mfu, null);

  const [baseline] = await runs();
  const { run, events, code } = readBundle(baseline.bundle);
  const { compute, ...withoutCompute } = run;
  const legacy = path.join(tempDir(), 'legacy.json');
  writeBundle(createBundle(withoutCompute as RunRecord, events, code.files), legacy);
  await importResults([legacy], store);
  const imported = store.run(run.runId)!;
  assert.equal(imported.modelFlopsPerStep, compute!.modelFlopsPerStep, 'counted again from the bundled config');
  assert.equal(imported.flopsToTarget, compute!.flopsToTarget);
  assert.equal(imported.executedFlopsPerStep, null);
  assert.equal(imported.mfu, null, 'no peak stored for its class yet');

  const calibration = await calibrate({ backend: 'cpu' }, store);
  assert.match(calibration.peak.method, /measured fp32 product 128³ on cpu/);
  assert.deepEqual(store.peak(calibration.hardwareClass, 'cpu')?.flopsPerSec, calibration.peak.flopsPerSec);
  const next = await executeRun(await microPlan({ steps: 1 }), { outDir: tempDir() }, { store });
  assert.deepEqual(next.compute!.peak, calibration.peak, 'a run uses the stored peak of its class and backend');
  assert.equal(store.run(next.runId)!.mfu, next.compute!.mfu);
  store.close();
});

test('the leaderboard shows FLOPs to target and MFU, and a compute view with the Pareto front', async () => {
  assert.deepEqual(
    paretoFront([{ flops: 3, loss: 2 }, { flops: 1, loss: 3 }, { flops: 2, loss: 2.5 }, { flops: 4, loss: 2.2 }, { flops: 5, loss: 1.9 }]).map((p) => p.flops),
    [1, 2, 3, 5],
  );
  await runs();
  const store = ResultsStore.open(path.join(tempDir(), 'board.db'));
  await importResults([path.join(out, 'bundles')], store);
  const board = buildLeaderboard(store);
  // (each micro run trains on its own fixture file: a track each)
  const computed = board.tracks.flatMap((t) => t.compute.runs);
  assert.equal(computed.length, 2);
  assert.ok(computed.every((r) => r.flops > 0));
  assert.ok(board.tracks.every((t) => computeSpec(t) !== null));
  assert.ok(board.tracks.every((t) => t.recipes.every((r) => r.meanMfu !== null && r.meanMfu > 0)));
  // A record of the two runs: its row in the Markdown tables carries tokens, FLOPs to target (unknown: these runs
  // stopped before the target) and the runs' mean MFU.
  const [baseline, muon] = await runs();
  store.addSubmission(
    { trackId: baseline.track.id, recipes: 'baseline', description: 'compute', contributors: [], runIds: [baseline.runId, muon.runId], status: 'accepted', checks: [] },
    { trackId: baseline.track.id, hardwareClass: baseline.hardware.hardwareClass, recipes: 'baseline', description: 'compute', contributors: [], codeHash: baseline.codeHash, backend: 'cpu', runs: 2, timeToTargetMs: 1, timeToTargetStdMs: 0, olympicMeanMs: 1, stepsToTarget: 1, tokensToTarget: 1, pValue: 0, runIds: [baseline.runId, muon.runId] },
  );
  const md = recordTablesMarkdown(store);
  assert.match(md, /\| Tokens to target \| FLOPs to target \| MFU \|/);
  const mfu = (100 * (baseline.compute!.mfu! + muon.compute!.mfu!)) / 2;
  assert.match(md, new RegExp(`\\| unknown \\| ${mfu.toFixed(1)} % \\|`));
  store.close();
});

test('a price table is validated once: truncated, oversized or wrong-typed files are one-line errors; a class in it prices the run', async () => {
  const dir = tempDir();
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  await assert.rejects(microPlan({ prices: write('truncated.json', '{"AMD EPYC": 1.') }), /price table .*truncated.json: not JSON/);
  await assert.rejects(microPlan({ prices: write('negative.json', '{"AMD EPYC": -1}') }), /price table .*expected \{ "<hardware class>": dollars per hour \}/);
  await assert.rejects(microPlan({ prices: write('big.json', `{"a": "${'x'.repeat(1 << 20)}"}`) }), /over 1 MiB/);
  await assert.rejects(microPlan({ prices: path.join(dir, 'missing.json') }), /missing\.json/);
  await assert.rejects(microPlan({ pricePerHour: -3 }), /--price-per-hour must be a non-negative number of dollars/);
  const [baseline] = await runs();
  const table = write('prices.json', `{"__proto__": 7, ${JSON.stringify(baseline.hardware.hardwareClass)}: 1.25}`);
  const priced = await executeRun(await microPlan({ steps: 1, prices: table }), { outDir: tempDir() });
  assert.equal(priced.compute!.pricePerHour, 1.25);
  assert.equal(priced.compute!.costToTarget, null, 'not reached: no cost');
});
