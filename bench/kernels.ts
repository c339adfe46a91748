/** tinybench table of the core kernels at the nano shapes (B 12, T 64, C 128, H 4), forward and backward. */
import { Bench } from 'tinybench';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, type BackendRequest } from '../harness/backends/index.ts';
import { causalMask, crossEntropy, engineFor, layerNorm, makeCausalAttention, makeGeluMlp, makeLinear } from '../harness/ops.ts';

const backend = await useBackend((process.argv[2] ?? 'wasm') as BackendRequest);
const engine = engineFor(backend);
const [B, T, C, H, V] = [12, 64, 128, 4, 85];
const N = B * T;
const linear = makeLinear(engine);
const geluMlp = makeGeluMlp(engine);
const attention = makeCausalAttention(engine, causalMask(T));
const rand = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);
const x = rand([N, C], 1);
const wQkv = rand([C, 3 * C], 2);
const wFc = rand([C, 4 * C], 3);
const hidden = rand([N, 4 * C], 4);
const wProj = rand([4 * C, C], 5);
const [q, k, v] = [6, 7, 8].map((s) => rand([B, T, H, C / H], s) as tf.Tensor4D); // [B, T, H, hs]
const gain = tf.ones([C]);
const logits = rand([N, V], 9);
const targets = tf.tensor1d(Array.from({ length: N }, (_, i) => i % V), 'int32');

const cases: [string, () => tf.Tensor | tf.Tensor[], number][] = [
  ['matmul x·W_qkv 768x128x384', () => linear(x as tf.Tensor2D, wQkv as tf.Tensor2D), 2 * N * C * 3 * C],
  ['matmul x·W_fc 768x128x512', () => linear(x as tf.Tensor2D, wFc as tf.Tensor2D), 2 * N * C * 4 * C],
  ['matmul h·W_proj 768x512x128', () => linear(hidden as tf.Tensor2D, wProj as tf.Tensor2D), 2 * N * 4 * C * C],
  ['linear fwd+bwd 768x128x512', () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(linear(a as tf.Tensor2D, b as tf.Tensor2D)))([x, wFc]), 3 * 2 * N * C * 4 * C],
  ['attention fwd [12,64,4,32]', () => attention(q, k, v, 0.17), 2 * 2 * B * H * T * T * (C / H)],
  ['attention fwd+bwd', () => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(attention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, 0.17)))([q, k, v]), 3 * 2 * 2 * B * H * T * T * (C / H)],
  ['layer norm fwd+bwd [768,128]', () => tf.grads((a: tf.Tensor, g: tf.Tensor) => tf.sum(layerNorm(a as tf.Tensor2D, g as tf.Tensor1D)))([x, gain]), 0],
  ['GELU MLP fwd+bwd 768x128x512x128', () => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(geluMlp(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D)))([x, wFc, wProj]), 3 * 2 * 2 * N * C * 4 * C],
  ['cross-entropy fwd+bwd [768,85]', () => tf.grad((l: tf.Tensor) => crossEntropy(l as tf.Tensor2D, targets))(logits), 0],
];

const bench = new Bench({ time: 300, warmupTime: 100 });
for (const [name, fn] of cases) {
  bench.add(name, () => {
    const out = fn();
    for (const t of Array.isArray(out) ? out : [out]) {
      t.dataSync();
      t.dispose();
    }
  });
}
await bench.run();
const rows = bench.tasks.map((task, i) => {
  const result = task.result as { latency?: { p50?: number; mean?: number } } | undefined;
  const ms = result?.latency?.p50 ?? result?.latency?.mean ?? NaN;
  const flops = cases[i]![2];
  return { kernel: task.name, medianMs: ms, gflops: flops > 0 ? flops / (ms * 1e6) : null };
});
process.stdout.write(`${JSON.stringify({ backend, rows })}\n`);
process.exit(0);
