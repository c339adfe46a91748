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

test("executed FLOPs: muon's exceed baseline's by exactly its Newton-Schulz products; MFU in (0, 1]; a price gives a cost", async () => {
  const out = tempDir();
  const run = async (recipe: string) => executeRun(await microPlan({ recipe, steps: 2 }), { outDir: out });
  const [baseline, muon] = [await run('baseline'), await run('muon')];
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
  assert.match(baseline.compute.peak!.method, /measured fp32 product 256³ on cpu/);

  const priced = computeFigures({ modelFlopsPerStep: 1e9, executedFlopsPerStep: null, steps: 100, trainTimeMs: 10_000, stepsToTarget: 50, timeToTargetMs: 7_200_000, peak: { flopsPerSec: 1e11, method: 'test' }, pricePerHour: 3 });
  assert.equal(priced.costToTarget, 6); // 2 h at $3/h
  assert.equal(priced.flopsToTarget, 5e10);
  assert.equal(priced.mfu, 0.1); // 1e11 FLOP in 10 s against 1e11 FLOP/s
  assert.equal(computeFigures({ ...priced, steps: 100, trainTimeMs: 10_000, stepsToTarget: null, timeToTargetMs: null, pricePerHour: 3 }).costToTarget, null);
  assert.equal('costToTarget' in computeFigures({ ...priced, steps: 1, trainTimeMs: 1, stepsToTarget: 1, timeToTargetMs: 1, pricePerHour: undefined }), false, 'no price, no cost');
});
