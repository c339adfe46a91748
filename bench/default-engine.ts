/**
 * `npm run bench:default`: what a fresh machine gets, where `npm ci` could compile but OpenBLAS is not installed
 * (the engine-tax issue's bar: the default backend's baseline step <= 2x PyTorch's). Interleaved rounds, each
 * configuration in its own process, one at a time: plain wasm, native's kernels-only build (SPEEDRUN_NATIVE_BLAS=0:
 * the C kernels, products on XNNPACK) with `baseline` and `fused-kernels`, native with OpenBLAS's products
 * (SPEEDRUN_NATIVE_GEMM=openblas) and with oneDNN's where they are built,
 * and PyTorch nanoGPT's CPU config (bench/pytorch-nano.py) where PyTorch is installed. Ratios are of medians of
 * the same run; the CPU is printed with them.
 *   npm run bench:default -- [rounds=3] [steps=30] [only: a pattern of the configurations' labels to run]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { ADDON_PATH, chooseCoreType, KERNELS_ADDON_PATH } from '../harness/backends/nativeBlas.ts';
import { median } from '../harness/stats.ts';
import { describeHardware } from '../harness/hardware.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const [roundsArg = '3', stepsArg = '30', onlyArg] = process.argv.slice(2);
chooseCoreType(); // PyTorch links OpenBLAS too, which needs the core type on these VMs

interface Config {
  label: string;
  run(): { medianStepMs: number; detail?: string };
}

const step = (backend: string, recipe: string, env: Record<string, string>) => () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'step.ts'), backend, stepsArg, '1', '1', '', recipe], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, ...env } });
  const line = r.stdout.trim().split('\n').at(-1);
  if (r.status !== 0 || !line) throw new Error(`step.ts ${backend} ${recipe} failed: ${r.stderr.slice(-400)}`);
  const out = JSON.parse(line) as { medianStepMs: number; backend: { version: string } };
  return { medianStepMs: out.medianStepMs, detail: out.backend.version };
};

/** Whether OpenBLAS's build links oneDNN, whose sgemm native then uses by default. */
function hasOnednnProducts(): boolean {
  if (!fs.existsSync(ADDON_PATH)) return false;
  const addon = createRequire(import.meta.url)(ADDON_PATH) as { useOnednnProducts?: (on: boolean) => boolean };
  return addon.useOnednnProducts?.(false) !== undefined && addon.useOnednnProducts(true);
}

const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0);
const configs: Config[] = [
  { label: 'wasm baseline', run: step('wasm', 'baseline', {}) },
  ...(fs.existsSync(KERNELS_ADDON_PATH)
    ? [
        { label: 'native, no BLAS: baseline', run: step('native', 'baseline', { SPEEDRUN_NATIVE_BLAS: '0' }) },
        { label: 'native, no BLAS: fused-kernels', run: step('native', 'fused-kernels', { SPEEDRUN_NATIVE_BLAS: '0' }) },
      ]
    : []),
  ...(fs.existsSync(ADDON_PATH)
    ? [
        { label: 'native, OpenBLAS: baseline', run: step('native', 'baseline', { SPEEDRUN_NATIVE_GEMM: 'openblas' }) },
        { label: 'native, OpenBLAS: fused-kernels', run: step('native', 'fused-kernels', { SPEEDRUN_NATIVE_GEMM: 'openblas' }) },
      ]
    : []),
  ...(hasOnednnProducts()
    ? [
        { label: 'native, oneDNN: baseline', run: step('native', 'baseline', {}) },
        { label: 'native, oneDNN: fused-kernels', run: step('native', 'fused-kernels', {}) },
      ]
    : []),
  ...(python
    ? [
        {
          label: 'PyTorch nanoGPT CPU config',
          run: () => {
            const r = spawnSync(python, [path.join(here, 'pytorch-nano.py'), '60'], { encoding: 'utf8', timeout: 600_000 });
            if (r.status !== 0) throw new Error(`pytorch-nano.py failed: ${r.stderr.slice(-400)}`);
            const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { medianStepMs: number; torch: string; threads: number };
            return { medianStepMs: out.medianStepMs, detail: `torch ${out.torch}, ${out.threads} thread(s)` };
          },
        },
      ]
    : []),
];

if (onlyArg) configs.splice(0, configs.length, ...configs.filter((c) => new RegExp(onlyArg, 'i').test(c.label) || c.label === 'wasm baseline'));
const cpu = (await describeHardware()).hardwareClass; // names the CPU generation, as records do
process.stderr.write(`${new Date().toISOString().slice(0, 10)}, ${cpu}, OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE}; ${roundsArg} interleaved rounds of ${stepsArg} steps\n`);
const ms = new Map<string, number[]>(configs.map((c) => [c.label, []]));
const details = new Map<string, string>();
for (let round = 0; round < Number(roundsArg); round++) {
  for (const config of configs) {
    const { medianStepMs, detail } = config.run();
    ms.get(config.label)!.push(medianStepMs);
    if (detail) details.set(config.label, detail);
    process.stderr.write(`  round ${round + 1}: ${config.label} ${medianStepMs.toFixed(1)} ms/step\n`);
  }
}
const torch = ms.has('PyTorch nanoGPT CPU config') ? median(ms.get('PyTorch nanoGPT CPU config')!) : null;
const wasm = median(ms.get('wasm baseline')!);
const lines = [`${cpu}, ${new Date().toISOString().slice(0, 10)}, OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE}`, '', '| configuration | ms/step (rounds) | median | vs wasm baseline | vs PyTorch | vs PyTorch, same round (median) |', '|---|---|---|---:|---:|---:|'];
for (const [label, values] of ms) {
  const m = median(values);
  // Drift between rounds cancels in the ratio taken within each round.
  const torchRounds = ms.get('PyTorch nanoGPT CPU config');
  const sameRound = torchRounds ? `${median(values.map((v, i) => v / torchRounds[i]!)).toFixed(2)}x` : '-';
  lines.push(`| ${label}${details.has(label) ? ` (${details.get(label)})` : ''} | ${values.map((v) => v.toFixed(1)).join(', ')} | ${m.toFixed(1)} | ${(m / wasm).toFixed(2)}x | ${torch ? `${(m / torch).toFixed(2)}x` : '-'} | ${sameRound} |`);
}
process.stdout.write(`${lines.join('\n')}\n`);
