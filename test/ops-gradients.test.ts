/**
 * Every hand-written backward pass against TF.js autodiff of the plain composition, and the whole model's
 * gradient against central finite differences along a random direction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../harness/backends/index.ts';
import { defaultParts, GPT } from '../harness/model.ts';
import { causalMask, crossEntropy, engineFor, type Engine, layerNorm, makeCausalAttention, makeEmbedding, makeGeluMlp, makeLinear } from '../harness/ops.ts';

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  assert.equal(x.length, y.length);
  let scale = 1e-6;
  for (const v of y) scale = Math.max(scale, Math.abs(v));
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
  return diff / scale;
}

function checkGrads(name: string, custom: (...xs: tf.Tensor[]) => tf.Tensor, reference: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]) {
  const weight = tf.randomNormal(custom(...inputs).shape, 0, 1, 'float32', 7);
  const mine = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(custom(...xs), weight)))(inputs);
  const ref = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(reference(...xs), weight)))(inputs);
  assert.ok(maxRelDiff(custom(...inputs), reference(...inputs)) < 1e-5, `${name}: forward differs`);
  mine.forEach((g, i) => assert.ok(maxRelDiff(g, ref[i]!) < 1e-4, `${name}: gradient ${i} differs by ${maxRelDiff(g, ref[i]!)}`));
}

test('custom backward passes match autodiff', async () => {
  const backend = await useBackend('cpu');
  // Exercise the explicit-transpose variants and the one-hot embedding gradient the wasm backend uses.
  const variants: Engine[] = [
    engineFor(backend.tfjsBackend),
    { transposeFirst: true, hasSegmentSum: false, attention: 'per-sequence' },
    { transposeFirst: false, hasSegmentSum: true, attention: 'batched' },
  ];
  for (const engine of variants) {
    const x = tf.randomNormal([6, 8], 0, 1, 'float32', 1);
    const w = tf.randomNormal([8, 5], 0, 1, 'float32', 2);
    checkGrads('linear', (a, b) => makeLinear(engine)(a as tf.Tensor2D, b as tf.Tensor2D), (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), [x, w]);
    const wProj = tf.randomNormal([5, 8], 0, 1, 'float32', 12);
    const geluRef = (a: tf.Tensor) => tf.mul(tf.mul(a, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(a, tf.mul(0.044715, tf.pow(a, 3)))))));
    checkGrads('gelu mlp', (a, b, c) => makeGeluMlp(engine)(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D), (a, b, c) => tf.matMul(geluRef(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D)) as tf.Tensor2D, c as tf.Tensor2D), [x, w, wProj]);
    const table = tf.randomNormal([7, 4], 0, 1, 'float32', 3);
    const ids = tf.tensor1d([0, 3, 3, 6, 1, 0], 'int32');
    const embedding = makeEmbedding(engine);
    const gTable = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embedding(t as tf.Tensor2D, ids), tf.range(0, 24).reshape([6, 4]))))(table);
    const gRef = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.matMul(tf.oneHot(ids, 7).toFloat(), t as tf.Tensor2D), tf.range(0, 24).reshape([6, 4]))))(table);
    assert.ok(maxRelDiff(gTable, gRef) < 1e-6, 'embedding gradient');
    // [B, T, H, hs] = [2, 5, 3, 4]
    const q = tf.randomNormal([2, 5, 3, 4], 0, 1, 'float32', 4);
    const k = tf.randomNormal([2, 5, 3, 4], 0, 1, 'float32', 5);
    const v = tf.randomNormal([2, 5, 3, 4], 0, 1, 'float32', 6);
    const mask = causalMask(8); // longer than T: sliced
    const attention = makeCausalAttention(engine, mask);
    const heads = (x: tf.Tensor) => tf.transpose(x, [0, 2, 1, 3]);
    checkGrads(
      `attention (transposeFirst ${engine.transposeFirst}, ${engine.attention})`,
      (a, b, c) => attention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, 0.7),
      (a, b, c) => heads(tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(heads(a), heads(b), false, true), 0.7), tf.slice(mask, [0, 0], [5, 5]))), heads(c))),
      [q, k, v],
    );
  }
  const x = tf.randomNormal([6, 8], 0, 1, 'float32', 8);
  const gain = tf.randomNormal([8], 1, 0.1, 'float32', 9);
  checkGrads('layerNorm', (a, g) => layerNorm(a as tf.Tensor2D, g as tf.Tensor1D), (a, g) => {
    const { mean, variance } = tf.moments(a, -1, true);
    return tf.mul(tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, 1e-5))), g);
  }, [x, gain]);
  const logits = tf.randomNormal([6, 9], 0, 2, 'float32', 10);
  const targets = tf.tensor1d([0, 8, 4, 4, 2, 1], 'int32');
  const gMine = tf.grad((l: tf.Tensor) => crossEntropy(l as tf.Tensor2D, targets))(logits);
  const gRef = tf.grad((l: tf.Tensor) => tf.losses.softmaxCrossEntropy(tf.oneHot(targets, 9), l))(logits);
  assert.ok(maxRelDiff(gMine, gRef) < 1e-5, 'cross-entropy gradient');
  assert.ok(Math.abs(crossEntropy(logits as tf.Tensor2D, targets).dataSync()[0]! - tf.losses.softmaxCrossEntropy(tf.oneHot(targets, 9), logits).dataSync()[0]!) < 1e-5);
});

test('model gradient agrees with finite differences on a micro model', async () => {
  const backend = await useBackend('cpu');
  const model = new GPT({ vocabSize: 13, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16 }, defaultParts, engineFor(backend.tfjsBackend), 11);
  const B = 2;
  const T = 8;
  const inputs = Int32Array.from({ length: B * T }, (_, i) => (i * 5 + 1) % 13);
  const targets = Int32Array.from({ length: B * T }, (_, i) => (i * 3 + 2) % 13);
  const variables = model.variables();
  const { grads } = tf.variableGrads(() => model.loss(inputs, targets, B, T), variables); // keyed by variable name
  const direction = new Map(variables.map((v, i) => [v.name, tf.randomNormal(v.shape, 0, 1, 'float32', 100 + i)]));
  let analytic = 0;
  for (const v of variables) analytic += tf.sum(tf.mul(grads[v.name]!, direction.get(v.name)!)).dataSync()[0]!;
  const eps = 1e-3;
  const original = new Map(variables.map((v) => [v.name, tf.clone(v)]));
  const lossAt = (sign: number) => {
    for (const v of variables) v.assign(tf.add(original.get(v.name)!, tf.mul(direction.get(v.name)!, sign * eps)));
    return model.loss(inputs, targets, B, T).dataSync()[0]!;
  };
  const numeric = (lossAt(1) - lossAt(-1)) / (2 * eps);
  assert.ok(Math.abs(numeric - analytic) / Math.max(1e-3, Math.abs(analytic)) < 2e-2, `finite difference ${numeric} vs gradient ${analytic}`);
  model.dispose();
});
