/** Each architecture tweak shows its defining property; all of them compose and train. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../harness/backends/index.ts';
import { composeRecipes } from '../harness/recipe.ts';
import { defaultParts, GPT } from '../harness/model.ts';
import { engineFor } from '../harness/ops.ts';
import { executeRun } from '../harness/run.ts';
import { resolveRecipes } from '../recipes/index.ts';
import { applyRotary, rotaryTables } from '../recipes/rotary.ts';
import { isOutputProjection } from '../recipes/zeroInit.ts';
import { AmaxHistory, int8ErrorBound, scaleFor } from '../recipes/int8/scaling.ts';
import { microPlan, tempDir } from './utils.ts';

const cfg = { vocabSize: 17, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16 };

async function build(recipe: string, seed = 1): Promise<GPT> {
  const backend = await useBackend('cpu');
  return new GPT(cfg, composeRecipes(resolveRecipes(recipe)).parts(defaultParts), engineFor(backend.tfjsBackend), seed);
}

test('rotary is a rotation: norms are kept and scores depend only on relative position', async () => {
  await useBackend('cpu');
  const T = 12;
  const hs = 8;
  const [cos, sin] = rotaryTables(T, hs);
  const q = tf.randomNormal([1, 1, 1, hs], 0, 1, 'float32', 1);
  const k = tf.randomNormal([1, 1, 1, hs], 0, 1, 'float32', 2);
  const at = (x: tf.Tensor, pos: number) => applyRotary(tf.tile(x, [1, T, 1, 1]) as tf.Tensor4D, cos, sin).slice([0, pos, 0, 0], [1, 1, 1, hs]);
  const dot = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(a, b)).dataSync()[0]!;
  const norm = (a: tf.Tensor) => Math.sqrt(dot(a, a));
  assert.ok(Math.abs(norm(at(q, 7)) - norm(q)) < 1e-5, 'rotation keeps the norm');
  const score = (m: number, n: number) => dot(at(q, m), at(k, n));
  assert.ok(Math.abs(score(2, 5) - score(6, 9)) < 1e-4, 'same offset, same score');
  assert.ok(Math.abs(score(2, 5) - score(2, 8)) > 1e-3, 'another offset, another score');
  const model = await build('rotary');
  assert.equal(model.params.has('wpe'), false, 'no learned positions');
});

test('qk-norm gives every query and key head vector unit RMS', async () => {
  const model = await build('qk-norm');
  const q = tf.randomNormal([2, 4, 2, 8], 3, 5, 'float32', 3) as tf.Tensor4D;
  const ctx = { cfg } as Parameters<typeof model.parts.queryKey>[3];
  const [qn, kn] = model.parts.queryKey(q, tf.mul(q, 7) as tf.Tensor4D, 0, ctx);
  for (const x of [qn, kn]) {
    const rms = tf.sqrt(tf.mean(tf.square(x), -1)).dataSync();
    for (const v of rms) assert.ok(Math.abs(v - 1) < 1e-3, `rms ${v}`);
  }
});

test('softcap bounds the logits by 30', async () => {
  const model = await build('softcap');
  model.params.get('wte')!.variable.assign(tf.mul(model.params.get('wte')!.variable, 1e4));
  const logits = model.forward(tf.tensor1d([1, 2, 3, 4], 'int32'), 1, 4);
  const maxAbs = tf.max(tf.abs(logits)).dataSync()[0]!;
  assert.ok(maxAbs <= 30 && maxAbs > 25, `max |logit| ${maxAbs}`);
});

test('zero-init starts the residual projections at zero, so every block starts as the identity', async () => {
  const model = await build('zero-init');
  const projections = [...model.params.values()].filter((p) => isOutputProjection(p.name));
  assert.equal(projections.length, 2 * cfg.nLayer);
  for (const p of projections) assert.equal(tf.max(tf.abs(p.variable)).dataSync()[0], 0);
  assert.ok(tf.max(tf.abs(model.params.get('h.0.attn.c_attn.weight')!.variable)).dataSync()[0]! > 0);
});

test('relu2 uses ReLU(x)² in the MLP; untied-head adds its own head; wsd switches the schedule', async () => {
  const model = await build('relu2,untied-head');
  assert.deepEqual(model.params.get('lm_head')!.shape, [cfg.nEmbd, cfg.vocabSize]);
  const W = model.params.get('h.0.mlp.c_fc.weight')!.variable;
  const P = model.params.get('h.0.mlp.c_proj.weight')!.variable;
  const x = tf.randomNormal([3, cfg.nEmbd], 0, 1, 'float32', 4) as tf.Tensor2D;
  const ctx = { param: (n: string) => model.params.get(n)!.variable, ops: { linear: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.matMul(a, b) } } as unknown as Parameters<typeof model.parts.mlp>[2];
  const expected = tf.matMul(tf.square(tf.relu(tf.matMul(x, W))), P);
  assert.ok(tf.max(tf.abs(tf.sub(model.parts.mlp(x, 0, ctx), expected))).dataSync()[0]! < 1e-5);
  const composed = composeRecipes(resolveRecipes('wsd'));
  assert.equal(composed.config({ model: cfg, train: { schedule: 'cosine' } } as never).train.schedule, 'wsd');
});

test('all tweaks compose and train without diverging; refused pairs say why', async () => {
  const plan = await microPlan({ recipe: 'rotary,qk-norm,relu2,softcap,zero-init,untied-head,wsd', steps: 15 });
  const record = await executeRun(plan, { outDir: tempDir() });
  assert.equal(record.status, 'budget_exhausted');
  assert.ok(record.finalValLoss! < record.evals[0]!.valLoss, 'the loss went down');
  assert.deepEqual(record.recipes, ['rotary', 'qk-norm', 'relu2', 'softcap', 'zero-init', 'untied-head', 'wsd']);
  const ngpt = { name: 'ngpt', description: 'stand-in for the nGPT recipe', source: 'test' };
  assert.throws(() => composeRecipes([ngpt, ...resolveRecipes('zero-init')]), /'zero-init' and 'ngpt' cannot be combined: nGPT normalizes every matrix/);
});

test('int8 without its kernel (any backend but native with oneDNN) says so and changes nothing; its delayed scaling keeps a window', async () => {
  const backend = await useBackend('cpu');
  const composed = composeRecipes(resolveRecipes('int8'));
  assert.match(composed.notes(backend).join(' '), /int8: no int8 products on backend cpu .*this run is the same as without the recipe/);
  const parts = composed.parts(defaultParts);
  assert.equal(parts.mlp, defaultParts.mlp);
  assert.equal(parts.logits, defaultParts.logits);
  const history = new AmaxHistory(3);
  assert.equal(history.scale(), null);
  for (const amax of [2, 8, Number.NaN, 4, 1, 0.5]) history.record(amax);
  assert.equal(history.size, 3, 'NaN is skipped, the oldest values leave');
  assert.equal(history.max(), 4);
  assert.equal(history.scale(), 127 / 4);
  assert.equal(scaleFor(0), 1);
  // Half a quantization step per operand, summed over the inner dimension.
  assert.equal(int8ErrorBound(10, 1, 1, 127, 127), 10 * (0.5 / 127 + 0.5 / 127 + 0.25 / 127 ** 2));
  assert.throws(() => resolveRecipes('int8:force=2'), /force/);
});
