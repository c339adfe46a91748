import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { useBackend } from '../harness/backends/index.ts';
import { DEFAULT_TRAIN, type TrainConfig } from '../harness/config.ts';
import { initParams, type ParamSpec } from '../harness/model.ts';
import { adamW } from '../harness/optim.ts';
import { composeRecipes } from '../harness/recipe.ts';
import { muonRecipe, newtonSchulz5 } from '../recipes/muon/index.ts';
import { resolveRecipes } from '../recipes/index.ts';

test('Newton-Schulz output has singular values in [0.6, 1.2] for square, wide and tall matrices', async () => {
  await useBackend('cpu');
  for (const [rows, cols] of [[32, 32], [16, 48], [64, 24]] as const) {
    const g = tf.randomNormal([rows, cols], 0, 1, 'float32', rows * cols) as tf.Tensor2D;
    const x = newtonSchulz5(g);
    assert.deepEqual(x.shape, [rows, cols]);
    const svd = new SingularValueDecomposition(new Matrix(x.arraySync()), { autoTranspose: true });
    const sigma = svd.diagonal.slice(0, Math.min(rows, cols));
    assert.ok(Math.min(...sigma) >= 0.6 && Math.max(...sigma) <= 1.2, `${rows}x${cols}: singular values ${Math.min(...sigma)}..${Math.max(...sigma)}`);
  }
});

/** An embedding, one hidden matrix (Muon's) and one gain vector (AdamW's). */
const specs: ParamSpec[] = [
  { name: 'wte', shape: [10, 8], init: { kind: 'normal', std: 0.02 }, group: 'embedding' },
  { name: 'h.0.attn.c_attn.weight', shape: [8, 24], init: { kind: 'normal', std: 0.02 }, group: 'matrix' },
  { name: 'ln_f.weight', shape: [8], init: { kind: 'constant', value: 1 }, group: 'vector' },
];
const train: TrainConfig = { ...DEFAULT_TRAIN, batchSize: 1, evalInterval: 1, evalTokens: 1, target: 1, maxSteps: 1 };

test('Muon updates only the hidden matrices; everything else gets exactly the AdamW update', async () => {
  await useBackend('cpu');
  const grads = Object.fromEntries(specs.map((s, i) => [s.name, tf.randomNormal(s.shape, 0, 1, 'float32', 50 + i)]));
  const withMuon = initParams(specs, 7);
  const plain = initParams(specs, 7);
  const before = tf.clone(withMuon.get('h.0.attn.c_attn.weight')!.variable);
  const muon = composeRecipes([muonRecipe()]).optimizer(withMuon, train);
  const reference = adamW(plain, train);
  assert.equal(muon.name, 'muon+adamw');
  muon.step(grads, 1);
  reference.step(grads, 1);
  for (const name of ['wte', 'ln_f.weight']) {
    assert.deepEqual(withMuon.get(name)!.variable.dataSync(), plain.get(name)!.variable.dataSync(), `${name} follows AdamW`);
  }
  // First step: momentum buffer = g, Nesterov update = g + 0.85 g; Muon's step is lr·√3·NS(1.85 g).
  const expected = tf.sub(before, tf.mul(newtonSchulz5(tf.mul(grads['h.0.attn.c_attn.weight']!, 1.85) as tf.Tensor2D), 0.02 * Math.sqrt(3)));
  const diff = tf.max(tf.abs(tf.sub(withMuon.get('h.0.attn.c_attn.weight')!.variable, expected))).dataSync()[0]!;
  assert.ok(diff < 1e-6, `matrix got the Muon update (diff ${diff})`);
});

test('--recipe muon:lr=0.04 scales the Muon step and is part of the recorded recipe label', async () => {
  await useBackend('cpu');
  const spec: ParamSpec = { name: 'h.0.mlp.c_fc.weight', shape: [8, 32], init: { kind: 'normal', std: 0.02 }, group: 'matrix' };
  const train: TrainConfig = { ...DEFAULT_TRAIN, batchSize: 1, evalInterval: 1, evalTokens: 1, target: 1, maxSteps: 1 };
  const grads = { [spec.name]: tf.randomNormal(spec.shape, 0, 1, 'float32', 3) };
  const stepOf = (recipe: string): Float32Array => {
    const params = initParams([spec], 1);
    const before = tf.clone(params.get(spec.name)!.variable);
    const composed = composeRecipes(resolveRecipes(recipe));
    composed.optimizer(params, train).step(grads, 1);
    return tf.sub(params.get(spec.name)!.variable, before).dataSync() as Float32Array;
  };
  const defaultStep = stepOf('muon');
  const doubledStep = stepOf('muon:lr=0.04');
  for (let i = 0; i < defaultStep.length; i += 37) assert.ok(Math.abs(doubledStep[i]! - 2 * defaultStep[i]!) < 1e-6, `element ${i}`);
  assert.deepEqual(composeRecipes(resolveRecipes('muon:lr=0.04:momentum=0.9,rotary')).names, ['muon:lr=0.04:momentum=0.9', 'rotary']);
  assert.deepEqual(composeRecipes(resolveRecipes('muon')).names, ['muon']);
});

test('AdamW and Muon free every tensor they made when disposed (runs of --seeds share one process)', async () => {
  await useBackend('cpu');
  const params = initParams(specs, 7);
  const grads = Object.fromEntries(specs.map((s, i) => [s.name, tf.randomNormal(s.shape, 0, 1, 'float32', 50 + i)]));
  const live = tf.memory().numTensors;
  for (const make of [() => adamW(params, train), () => composeRecipes([muonRecipe()]).optimizer(params, train)]) {
    const optimizer = make();
    optimizer.step(grads, 1);
    optimizer.dispose();
    assert.equal(tf.memory().numTensors, live, `${optimizer.name} left tensors behind`);
  }
});
