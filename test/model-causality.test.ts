import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../harness/backends/index.ts';
import { MODEL_PRESETS } from '../harness/config.ts';
import { defaultParts, GPT } from '../harness/model.ts';
import { engineFor } from '../harness/ops.ts';

test('changing a future token leaves earlier logits unchanged', async () => {
  const backend = await useBackend('cpu');
  const { nLayer, nHead, nEmbd, blockSize } = MODEL_PRESETS.micro;
  const model = new GPT({ vocabSize: 11, blockSize, nLayer, nHead, nEmbd }, defaultParts, engineFor(backend.tfjsBackend), 3);
  const T = 16;
  const ids = Int32Array.from({ length: T }, (_, i) => (i * 7) % 11);
  const changed = Int32Array.from(ids);
  const position = 9;
  changed[position] = (ids[position]! + 5) % 11;
  const logits = (x: Int32Array) => tf.tidy(() => model.forward(tf.tensor1d(x, 'int32'), 1, T).arraySync());
  const before = logits(ids);
  const after = logits(changed);
  for (let t = 0; t < position; t++) assert.deepEqual(after[t], before[t], `logits at ${t} changed`);
  const diff = Math.max(...after[position]!.map((v, i) => Math.abs(v - before[position]![i]!)));
  assert.ok(diff > 1e-4, 'the changed position itself must see its new token');
  model.dispose();
});
