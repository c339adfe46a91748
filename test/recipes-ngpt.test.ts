/** nGPT's invariants (issue: recipes): unit-norm matrices after every step, unit-norm hidden states, scale trick. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { composeRecipes, type Recipe } from '../harness/recipe.ts';
import { defaultParts, GPT, type ParamTable } from '../harness/model.ts';
import { engineFor } from '../harness/ops.ts';
import { executeRun } from '../harness/run.ts';
import { resolveRecipes } from '../recipes/index.ts';
import { modelAxis, ngptMatrices, NGPT_VECTORS } from '../recipes/ngpt/index.ts';
import { microPlan, tempDir } from './utils.ts';

function worstNormError(params: ParamTable): number {
  let worst = 0;
  for (const p of ngptMatrices(params)) {
    const norms = tf.tidy(() => tf.norm(p.variable, 'euclidean', modelAxis(p.name)!).dataSync());
    for (const n of norms) worst = Math.max(worst, Math.abs(n - 1));
  }
  return worst;
}

test('nGPT: every matrix has unit-norm vectors along the model axis at init and after every step; hidden states stay on the sphere', async () => {
  const plan = await microPlan({ recipe: 'ngpt', steps: 6 });
  assert.equal(plan.config.train.weightDecay, 0);
  assert.equal(plan.config.train.warmupSteps, 0);
  const normErrors: number[] = [];
  const hiddenNorms: number[] = [];
  const spy: Recipe = {
    name: 'spy',
    description: 'records nGPT invariants',
    source: 'test',
    replaces: ['residual'],
    model: (parts) => ({
      ...parts,
      residual(x, branch, site, ctx) {
        const out = parts.residual(x, branch, site, ctx);
        hiddenNorms.push(...tf.tidy(() => tf.norm(out, 'euclidean', 1).dataSync()));
        return out;
      },
    }),
    onInit: (params) => normErrors.push(worstNormError(params)),
    afterStep: (params) => normErrors.push(worstNormError(params)),
  };
  const record = await executeRun(plan, { outDir: tempDir() }, { recipes: composeRecipes([...resolveRecipes('ngpt'), spy]) });
  assert.notEqual(record.status, 'diverged');
  assert.equal(normErrors.length, 1 + 6 + 1, 'checked at init, after the warm-up step and after each of 6 steps');
  for (const e of normErrors) assert.ok(e < 1e-5, `matrix norm off by ${e}`);
  assert.ok(hiddenNorms.length > 0);
  for (const n of hiddenNorms) assert.ok(Math.abs(n - 1) < 1e-5, `hidden state norm ${n}`);
  assert.ok(record.finalValLoss! < record.evals[0]!.valLoss, 'nGPT learns');
});

test('nGPT: each scaled parameter starts at its effective init; no LayerNorm, untied normalized head', async () => {
  const cfg = { vocabSize: 19, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16 };
  const model = new GPT(cfg, composeRecipes(resolveRecipes('ngpt')).parts(defaultParts), engineFor('cpu'), 5);
  for (const vector of Object.values(NGPT_VECTORS)) {
    for (let l = 0; l < (vector.perLayer ? cfg.nLayer : 1); l++) {
      const stored = model.params.get(vector.name(l))!.variable.dataSync();
      for (const v of stored) assert.ok(Math.abs(v * (vector.init / vector.scale(cfg.nEmbd)) - vector.init) < 1e-6, `${vector.name(l)} starts at ${vector.init}`);
    }
  }
  assert.equal([...model.params.keys()].some((n) => n.includes('ln_')), false, 'no LayerNorm gains');
  assert.equal(model.params.has('wpe'), false, 'rotary, not learned positions');
  assert.deepEqual(model.params.get('lm_head')!.shape, [cfg.nEmbd, cfg.vocabSize]);
  assert.throws(() => composeRecipes(resolveRecipes('ngpt,zero-init')), /cannot be combined: nGPT normalizes every matrix/);
  assert.throws(() => composeRecipes(resolveRecipes('relu2,ngpt')), /cannot be combined: nGPT replaces the MLP/);
});
