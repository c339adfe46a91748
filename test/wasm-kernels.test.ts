/**
 * The wasm-specific paths: the heap-view Slice/SplitV/Concat kernels that replace tfjs-backend-wasm's, and the
 * per-sequence (block-diagonal) attention that wasm runs instead of batched products.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../harness/backends/index.ts';
import { causalMask, engineFor, makeCausalAttention } from '../harness/ops.ts';

/** Row-major slice of a plain array, the reference the kernels are checked against. */
function sliceOf(values: number[], shape: number[], begin: number[], size: number[]): number[] {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out: number[] = [];
  const walk = (dim: number, offset: number) => {
    for (let i = 0; i < size[dim]!; i++) {
      const at = offset + (begin[dim]! + i) * strides[dim]!;
      if (dim === shape.length - 1) out.push(values[at]!);
      else walk(dim + 1, at);
    }
  };
  walk(0, 0);
  return out;
}

test('wasm: Slice and SplitV read the right elements (contiguous, rank 2, rank 3, int32)', async () => {
  await useBackend('wasm', { threads: 1 });
  const matrixValues = Array.from({ length: 6 * 9 }, (_, i) => i * 0.5 - 3);
  const cubeValues = Array.from({ length: 4 * 3 * 5 }, (_, i) => i);
  const intValues = Array.from({ length: 5 * 4 }, (_, i) => i * 7 - 20);
  const matrix = tf.tensor2d(matrixValues, [6, 9]);
  const cube = tf.tensor3d(cubeValues, [4, 3, 5]);
  const ints = tf.tensor2d(intValues, [5, 4], 'int32');
  const cases: [tf.Tensor, number[], number[], number[], number[]][] = [];
  tf.split(matrix, 3, 1).forEach((t, i) => cases.push([t, matrixValues, [6, 9], [0, 3 * i], [6, 3]])); // rank 2, strided
  tf.split(matrix, [2, 4], 0).forEach((t, i) => cases.push([t, matrixValues, [6, 9], [2 * i, 0], [i === 0 ? 2 : 4, 9]])); // rows
  cases.push([tf.slice(matrix, [1, 2], [3, 4]), matrixValues, [6, 9], [1, 2], [3, 4]]);
  tf.split(cube, 4, 0).forEach((t, i) => cases.push([t, cubeValues, [4, 3, 5], [i, 0, 0], [1, 3, 5]]));
  tf.split(cube, [2, 3], 2).forEach((t, i) => cases.push([t, cubeValues, [4, 3, 5], [0, 0, 2 * i], [4, 3, i === 0 ? 2 : 3]])); // last axis
  tf.split(cube, [1, 2], 1).forEach((t, i) => cases.push([t, cubeValues, [4, 3, 5], [0, i, 0], [4, i === 0 ? 1 : 2, 5]])); // middle axis
  cases.push([tf.slice(cube, [1, 1, 2], [2, 2, 3]), cubeValues, [4, 3, 5], [1, 1, 2], [2, 2, 3]]); // original kernel
  tf.split(ints, 2, 1).forEach((t, i) => cases.push([t, intValues, [5, 4], [0, 2 * i], [5, 2]]));
  for (const [tensor, values, shape, begin, size] of cases) {
    assert.deepEqual(tensor.shape, size);
    assert.deepEqual(Array.from(tensor.dataSync()), sliceOf(values, shape, begin, size), `slice at ${begin} of size ${size}`);
  }
  assert.equal(ints.dtype, 'int32');
});

test('wasm: Concat joins along every axis (rank 2, rank 3, int32, uneven widths) as splitting undoes it', async () => {
  await useBackend('wasm', { threads: 1 });
  const cube = tf.tensor3d(Array.from({ length: 4 * 3 * 5 }, (_, i) => i * 0.25 - 7), [4, 3, 5]);
  const ints = tf.tensor2d(Array.from({ length: 5 * 6 }, (_, i) => i * 7 - 20), [5, 6], 'int32');
  const cases: [tf.Tensor, number, number[]][] = [
    [cube, 0, [1, 3]],
    [cube, 1, [2, 1]],
    [cube, 2, [1, 3, 1]],
    [cube, -1, [2, 3]],
    [ints, 1, [1, 2, 3]],
    [ints, 0, [4, 1]],
  ];
  for (const [whole, axis, sizes] of cases) {
    const joined = tf.concat(tf.split(whole, sizes, axis), axis);
    assert.deepEqual(joined.shape, whole.shape);
    assert.equal(joined.dtype, whole.dtype);
    assert.deepEqual(Array.from(joined.dataSync()), Array.from(whole.dataSync()), `concat along ${axis} of ${sizes}`);
  }
  // Against the values written out: [[1, 2], [3, 4]] ++ [[5], [6]] along axis 1.
  assert.deepEqual(Array.from(tf.concat([tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6], [2, 1])], 1).dataSync()), [1, 2, 5, 3, 4, 6]);
});

test('wasm: GatherV2 picks the right rows (axis 0, axis 1, int32), rejects a bad index; Identity shares data', async () => {
  await useBackend('wasm', { threads: 1 });
  const values = Array.from({ length: 5 * 3 }, (_, i) => i * 1.5 - 4);
  const table = tf.tensor2d(values, [5, 3]);
  const rows = tf.gather(table, tf.tensor1d([4, 0, 4, 2], 'int32'));
  assert.deepEqual(rows.shape, [4, 3]);
  assert.deepEqual(Array.from(rows.dataSync()), [4, 0, 4, 2].flatMap((r) => values.slice(3 * r, 3 * r + 3)));
  const columns = tf.gather(table, tf.tensor2d([[2, 0]], [1, 2], 'int32'), 1); // [5, 1, 2]
  assert.deepEqual(columns.shape, [5, 1, 2]);
  assert.deepEqual(Array.from(columns.dataSync()), [0, 1, 2, 3, 4].flatMap((r) => [values[3 * r + 2]!, values[3 * r]!]));
  const ints = tf.gather(tf.tensor1d([7, 8, 9], 'int32'), tf.tensor1d([2, 2, 1], 'int32'));
  assert.equal(ints.dtype, 'int32');
  assert.deepEqual(Array.from(ints.dataSync()), [9, 9, 8]);
  const before = tf.memory().numBytes;
  assert.throws(() => tf.gather(table, tf.tensor1d([5], 'int32')), /index value 5 is not in \[0, 4\]/);
  assert.ok(tf.memory().numBytes <= before + 4, 'the failed gather freed its output');
  const copy = tf.clone(table);
  table.dispose();
  assert.deepEqual(Array.from(copy.dataSync()), values, 'a clone outlives its source');
});

test('wasm: per-sequence attention matches the batched products, forward and backward; dispose frees its masks', async () => {
  const backend = await useBackend('wasm', { threads: 1 });
  const engine = engineFor(backend);
  assert.equal(engine.attention, 'per-sequence');
  const [B, T, H, hs] = [3, 6, 2, 4];
  const q = tf.randomNormal([B, T, H, hs], 0, 1, 'float32', 21) as tf.Tensor4D;
  const k = tf.randomNormal([B, T, H, hs], 0, 1, 'float32', 22) as tf.Tensor4D;
  const v = tf.randomNormal([B, T, H, hs], 0, 1, 'float32', 23) as tf.Tensor4D;
  const weight = tf.randomNormal([B, T, H, hs], 0, 1, 'float32', 24);
  const mask = causalMask(8); // longer than T: sliced
  const perSequence = makeCausalAttention(engine, mask);
  const batched = makeCausalAttention({ ...engine, attention: 'batched' }, mask);
  const gradsOf = (attend: typeof batched) =>
    tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(attend(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, 0.5), weight)))([q, k, v]);
  const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;
  assert.ok(maxDiff(perSequence(q, k, v, 0.5), batched(q, k, v, 0.5)) < 1e-5, 'forward');
  const mine = gradsOf(perSequence);
  const reference = gradsOf(batched);
  mine.forEach((g, i) => assert.ok(maxDiff(g, reference[i]!) < 1e-5, `gradient ${i} differs by ${maxDiff(g, reference[i]!)}`));
  const before = tf.memory().numTensors;
  perSequence.dispose();
  assert.equal(tf.memory().numTensors, before - 2, 'dispose frees the two block masks');
});
