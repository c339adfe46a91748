/**
 * `npm run profile`: where a training step's time goes, per TF.js kernel (tf.profile), for one recipe on one
 * backend at the nano preset. For finding the next bottleneck, not for figures (profiling adds overhead).
 *   npm run profile -- [recipe=baseline] [backend=wasm] [steps=10]
 */
import * as tf from '@tensorflow/tfjs-core';
import { nanoStep } from './stepCounts.ts';

const [recipe = 'baseline', backend = 'wasm', stepsArg = '10'] = process.argv.slice(2);
const { step, label } = await nanoStep(recipe, backend);
for (let i = 0; i < 3; i++) await step(i);
const steps = Number(stepsArg);
const start = performance.now();
for (let i = 0; i < steps; i++) await step(i);
console.log(`${label}: ${((performance.now() - start) / steps).toFixed(1)} ms/step, ${tf.memory().numTensors} live tensors`);

// Several profiled steps; each kernel's figure is its median over them (one step alone is noisy here).
const PROFILED_STEPS = 7;
const perStep: { byKernel: Map<string, { ms: number; calls: number }>; byShape: Map<string, { ms: number; calls: number }>; wallMs: number }[] = [];
for (let i = 0; i < PROFILED_STEPS; i++) {
  const wallStart = performance.now();
  const profile = await tf.profile(async () => {
    await step(steps + i);
  });
  const byKernel = new Map<string, { ms: number; calls: number }>();
  const byShape = new Map<string, { ms: number; calls: number }>();
  for (const k of profile.kernels) {
    for (const [table, key] of [[byKernel, k.name], [byShape, `${k.name} ${JSON.stringify(k.inputShapes)}`]] as const) {
      const entry = table.get(key) ?? { ms: 0, calls: 0 };
      entry.ms += Number(k.kernelTimeMs) || 0;
      entry.calls += 1;
      table.set(key, entry);
    }
  }
  perStep.push({ byKernel, byShape, wallMs: performance.now() - wallStart });
}
const medianOf = (pick: (s: (typeof perStep)[number]) => Map<string, { ms: number; calls: number }>) => {
  const table = new Map<string, { ms: number; calls: number }>();
  for (const key of pick(perStep[0]!).keys()) {
    const ms = perStep.map((s) => pick(s).get(key)?.ms ?? 0).sort((a, b) => a - b);
    table.set(key, { ms: ms[Math.floor(ms.length / 2)]!, calls: pick(perStep[0]!).get(key)!.calls });
  }
  return table;
};
const byKernel = medianOf((s) => s.byKernel);
const byShape = medianOf((s) => s.byShape);
const kernelMs = [...byKernel].filter(([name]) => name !== 'unnamed scope').reduce((sum, [, e]) => sum + e.ms, 0);
const wall = perStep.map((s) => s.wallMs).sort((a, b) => a - b)[Math.floor(PROFILED_STEPS / 2)]!;
console.log(`median of ${PROFILED_STEPS} profiled steps: ${wall.toFixed(1)} ms wall, ${kernelMs.toFixed(1)} ms in kernels (sum of medians)`);
const print = (title: string, table: Map<string, { ms: number; calls: number }>, rows: number) => {
  console.log(`\n${title.padEnd(60)} ${'ms'.padStart(8)} ${'calls'.padStart(7)}`);
  for (const [name, { ms, calls }] of [...table].sort((a, b) => b[1].ms - a[1].ms).slice(0, rows)) {
    console.log(name.slice(0, 60).padEnd(60), ms.toFixed(1).padStart(8), String(calls).padStart(7));
  }
};
// "unnamed scope" rows are custom ops (customOp) whose inner kernels are listed too: they overlap.
print('kernel', byKernel, 40);
print('kernel and input shapes', byShape, 30);
process.exit(0);
