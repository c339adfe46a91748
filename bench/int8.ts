/**
 * `npm run bench:int8`: does 8-bit integer arithmetic pay on this CPU? (issue: int8 products with delayed scaling)
 *  1. Product throughput at the nano model's dense shapes and at 1024³: fp32 (TF.js matMul on native, i.e.
 *     OpenBLAS sgemm) against int8 (recipes/int8 `int8Product`: both operands quantized in the call, oneDNN
 *     s8·s8, fp32 out), in one process, A B A B, medians.
 *  2. The training step: `fused-kernels` against `fused-kernels,int8` (int8 where it measured faster) and
 *     `fused-kernels,int8:force=1` (int8 for the head and every MLP down projection), each a real run in its own
 *     process (bench/step.ts), interleaved over rounds, time ratios taken within each round.
 *   npm run bench:int8 -- [steps=15] [rounds=3]
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend } from '../harness/backends/index.ts';
import { hasKernel, INT8_LINEAR } from '../harness/backends/nativeKernels.ts';
import { median } from '../harness/stats.ts';
import { timeProducts } from '../recipes/int8/index.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const [steps = '15', rounds = '3'] = process.argv.slice(2);
await useBackend('native');
if (!hasKernel(INT8_LINEAR)) throw new Error('no int8 kernel: apt-get install libdnnl-dev, then npm run build:native');

const cpu = `${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores`;
process.stdout.write(`native, ${cpu}, ${new Date().toISOString().slice(0, 10)}\n\n| product M×K×N | fp32 GFLOP/s | int8 GFLOP/s (quantization included) | int8 vs fp32 |\n|---|---:|---:|---:|\n`);
// nano: B·T = 12·64 = 768 rows, C = 128; the head's V is brown-char's vocabulary (w stored [V, C]).
const shapes: [string, number, number, number, boolean][] = [
  ['head (h·wteᵀ)', 768, 128, 85, true], ['MLP down', 768, 512, 128, false], ['MLP up', 768, 128, 512, false],
  ['qkv', 768, 128, 384, false], ['attention out', 768, 128, 128, false], ['large', 1024, 1024, 1024, false],
];
for (const [name, m, k, n, transposed] of shapes) {
  const { fp32Ms, int8Ms } = timeProducts({ rows: m, inner: k, cols: n, transposed }, 25);
  const flops = 2 * m * n * k;
  process.stdout.write(`| ${name} ${m}×${k}×${n} | ${(flops / fp32Ms / 1e6).toFixed(1)} | ${(flops / int8Ms / 1e6).toFixed(1)} | ${(fp32Ms / int8Ms).toFixed(2)}x |\n`);
}

const RECIPES = ['fused-kernels', 'fused-kernels,int8', 'fused-kernels,int8:force=1'];
const ms = new Map<string, number[]>();
for (let round = 0; round < Number(rounds); round++) {
  for (const recipe of RECIPES) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'step.ts'), 'native', steps, '1', '1', '', recipe], { encoding: 'utf8', timeout: 600_000 });
    const line = r.stdout.trim().split('\n').at(-1);
    if (r.status !== 0 || !line) throw new Error(`step.ts ${recipe} failed: ${r.stderr.slice(-400)}`);
    const { medianStepMs } = JSON.parse(line) as { medianStepMs: number };
    ms.set(recipe, [...(ms.get(recipe) ?? []), medianStepMs]);
    process.stderr.write(`round ${round + 1}: ${recipe} ${medianStepMs.toFixed(1)} ms/step\n`);
  }
}
process.stdout.write(`\n${rounds} interleaved rounds of ${steps} steps (nano, brown-char)\n\n| recipes | ms/step | step time vs fused-kernels (same round) |\n|---|---:|---:|\n`);
for (const recipe of RECIPES) {
  const ratio = median(ms.get(recipe)!.map((t, i) => t / ms.get(RECIPES[0]!)![i]!));
  process.stdout.write(`| \`${recipe}\` | ${median(ms.get(recipe)!).toFixed(1)} | ${ratio.toFixed(2)}x |\n`);
}
