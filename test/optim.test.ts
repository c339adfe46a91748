/** AdamW's multi-tensor update against the per-parameter formula, element for element. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../harness/backends/index.ts';
import { DEFAULT_TRAIN, type TrainConfig } from '../harness/config.ts';
import { initParams, type ParamSpec } from '../harness/model.ts';
import { adamW, decays } from '../harness/optim.ts';

test('AdamW (flattened per decay group) equals the per-parameter update, skips parameters without a gradient', async () => {
  await useBackend('cpu');
  const specs: ParamSpec[] = [
    { name: 'wte', shape: [10, 8], init: { kind: 'normal', std: 0.02 }, group: 'embedding' },
    { name: 'h.0.attn.c_attn.weight', shape: [8, 24], init: { kind: 'normal', std: 0.02 }, group: 'matrix' },
    { name: 'h.0.ln_1.weight', shape: [8], init: { kind: 'constant', value: 1 }, group: 'vector' },
    { name: 'ln_f.weight', shape: [8], init: { kind: 'constant', value: 1 }, group: 'vector' },
    { name: 'unused.weight', shape: [8, 8], init: { kind: 'normal', std: 0.02 }, group: 'matrix' },
  ];
  const train: TrainConfig = { ...DEFAULT_TRAIN, batchSize: 1, evalInterval: 1, evalTokens: 1, target: 1, maxSteps: 3, lr: 3e-3, weightDecay: 0.1 };
  const params = initParams(specs, 5);
  const optimizer = adamW(params, train);
  // The reference: AdamW written out per parameter, in float32 tensors, the same operations in the same order.
  const reference = new Map(specs.map((s) => [s.name, { p: tf.clone(params.get(s.name)!.variable), m: tf.zeros(s.shape), v: tf.zeros(s.shape) }]));
  const untouched = tf.clone(params.get('unused.weight')!.variable);
  for (let t = 1; t <= 3; t++) {
    const grads = Object.fromEntries(specs.filter((s) => s.name !== 'unused.weight').map((s, i) => [s.name, tf.randomNormal(s.shape, 0, 1, 'float32', 10 * t + i)]));
    const lrFactor = 1 / t;
    optimizer.step(grads, lrFactor);
    const lr = train.lr * lrFactor;
    for (const [name, g] of Object.entries(grads)) {
      const r = reference.get(name)!;
      r.m = tf.add(tf.mul(r.m, train.beta1), tf.mul(g, 1 - train.beta1));
      r.v = tf.add(tf.mul(r.v, train.beta2), tf.mul(tf.square(g), 1 - train.beta2));
      const update = tf.div(tf.div(r.m, 1 - train.beta1 ** t), tf.add(tf.sqrt(tf.div(r.v, 1 - train.beta2 ** t)), train.eps));
      r.p = tf.sub(decays(params.get(name)!) ? tf.mul(r.p, 1 - lr * train.weightDecay) : r.p, tf.mul(update, lr));
    }
  }
  for (const s of specs.filter((x) => x.name !== 'unused.weight')) {
    assert.deepEqual(Array.from(params.get(s.name)!.variable.dataSync()), Array.from(reference.get(s.name)!.p.dataSync()), s.name);
  }
  assert.deepEqual(Array.from(params.get('unused.weight')!.variable.dataSync()), Array.from(untouched.dataSync()), 'no gradient: no update');
  assert.equal(optimizer.stateTensors().length, 2 * specs.length);
});
