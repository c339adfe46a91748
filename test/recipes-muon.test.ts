import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { useBackend } from '../harness/backends/index.ts';
import { DEFAULT_TRAIN, type TrainConfig } from '../harness/config.ts';
import { initParams, type ParamSpec } from '../harness/model.ts';
import { adamW } from '../harness/optim.ts';
import { composeRecipes } from '../harness/recipe.ts';
import { muonRecipe, newtonSchulz5 } from '../recipes/muon.ts';

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

test('Muon updates only the hidden matrices; everything else gets exactly the AdamW update', async () => {
  await useBackend('cpu');
  const specs: ParamSpec[] = [
    { name: 'wte', shape: [10, 8], init: { kind: 'normal', std: 0.02 }, group: 'embedding' },
    { name: 'h.0.attn.c_attn.weight', shape: [8, 24], init: { kind: 'normal', std: 0.02 }, group: 'matrix' },
    { name: 'ln_f.weight', shape: [8], init: { kind: 'constant', value: 1 }, group: 'vector' },
  ];
  const train: TrainConfig = { ...DEFAULT_TRAIN, batchSize: 1, evalInterval: 1, evalTokens: 1, target: 1, maxSteps: 1 };
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
