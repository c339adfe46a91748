import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from './harness/backends/index.ts';
import { resolveRun } from './harness/run.ts';
import { GPT, defaultParts } from './harness/model.ts';
import { engineFor } from './harness/ops.ts';
import { BatchSampler } from './harness/data/tokens.ts';
import { trainStep } from './harness/train.ts';
const backend = process.env.B ?? 'wasm';
const plan = await resolveRun({ recipe: process.env.R ?? 'baseline', track: 'brown-char', backend: backend as any, seed: 0, threads: Number(process.env.T ?? 2) });
const model = new GPT(plan.config.model, plan.recipes.parts(defaultParts), engineFor(plan.backend.tfjsBackend), 0);
const opt = plan.recipes.optimizer(model.params, plan.config.train);
const s = new BatchSampler(plan.data.train, 12, 64, 0);
for (let i = 0; i < 3; i++) trainStep(model, opt, () => s.next(), plan.config, 1, () => {});
const t0 = performance.now(); const N = Number(process.env.N ?? 10);
for (let i = 0; i < N; i++) trainStep(model, opt, () => s.next(), plan.config, 1, () => plan.recipes.afterStep(model.params, i));
console.log('ms/step', ((performance.now() - t0) / N).toFixed(1), 'tensors', tf.memory().numTensors);
if (process.env.PROF) {
  const prof = await tf.profile(() => { trainStep(model, opt, () => s.next(), plan.config, 1, () => {}); });
  const agg = new Map<string, { ms: number; n: number }>();
  for (const k of prof.kernels) { if (k.name==='Transpose'||k.name==='BatchMatMul') { const key=k.name+' '+JSON.stringify(k.inputShapes); const e2=agg.get(key)??{ms:0,n:0}; e2.ms+=Number(k.kernelTimeMs)||0; e2.n++; agg.set(key,e2);} const e = agg.get(k.name) ?? { ms: 0, n: 0 }; e.ms += Number(k.kernelTimeMs) || 0; e.n++; agg.set(k.name, e); }
  const rows = [...agg].sort((a, b) => b[1].ms - a[1].ms).slice(0, 40);
  let total = 0; for (const [, v] of agg) total += v.ms;
  console.log('total kernel ms', total.toFixed(1), 'kernels', prof.kernels.length);
  for (const [k, v] of rows) console.log(k.padEnd(24), v.ms.toFixed(1), v.n);
}
process.exit(0);
