/**
 * `npm run bench`: performance figures for the README (never timed unit tests).
 *  1. nano training step on every backend that loads here: median ms/step, tokens/s, peak resident memory of
 *     the whole run (each backend in its own process, one after another, never two at once);
 *  2. tinybench table of the core kernels at the nano shapes on wasm.
 *  3. native: fused-kernels against unfused, and both against PyTorch's nanoGPT config timed in the same run.
 * Bars from the foundation issue: wasm step <= 250 ms, peak RSS <= 400 MB. PyTorch nanoGPT does the same
 * config at ~60 ms/step here (../shared/references/machine-figures.md).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeBackends } from '../harness/backends/index.ts';
import { chooseCoreType } from '../harness/backends/nativeBlas.ts';
import { median } from '../harness/stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const STEPS: Record<string, number> = { 'tensorflow-gpu': 30, tensorflow: 30, native: 30, wasm: 30, cpu: 4 };
const PYTORCH_MS = 60.7;

function child(script: string, args: string[]): unknown {
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, script), ...args], { encoding: 'utf8', timeout: 600_000 });
  const line = result.stdout.trim().split('\n').at(-1);
  if (result.status !== 0 || !line) throw new Error(`${script} ${args.join(' ')} failed: ${result.stderr.slice(-500)}`);
  return JSON.parse(line);
}

interface StepResult {
  backend: { name: string; threads: number; version: string };
  gradAccum: number;
  steps: number;
  medianStepMs: number;
  tokensPerSec: number;
  peakRssMiB: number;
  mfu: number | null;
  peak: { flopsPerSec: number; method: string } | null;
}

const percent = (v: number | null) => (v === null ? '-' : `${(100 * v).toFixed(1)} %`);

const lines: string[] = ['## nano training step (brown-char, batch 12 x 64 tokens)', '', '| backend | threads | micro-batches | median ms/step | tokens/s | MFU (peak) | vs PyTorch CPU (60.7 ms) | peak RSS MiB |', '|---|---|---|---|---|---|---|---|'];
// wasm also with --grad-accum 2: same global batch in two micro-batches, the low-memory setting.
// webgpu is left out: without a GPU it runs on software Vulkan, whose timings mean nothing.
const configs = describeBackends()
  .filter((d) => d.available && d.name !== 'webgpu')
  .flatMap((b) => (b.name === 'wasm' ? [[b.name, '1'], [b.name, '2']] : [[b.name, '1']]));
for (const [name, accum] of configs) {
  const r = child('step.ts', [name!, String(STEPS[name!]), accum!]) as StepResult;
  const peak = r.peak ? ` (${(r.peak.flopsPerSec / 1e9).toFixed(0)} GFLOP/s)` : '';
  lines.push(`| ${r.backend.name} ${r.backend.version} | ${r.backend.threads} | ${r.gradAccum} | ${r.medianStepMs.toFixed(1)} | ${Math.round(r.tokensPerSec)} | ${percent(r.mfu)}${peak} | ${(r.medianStepMs / PYTORCH_MS).toFixed(1)}x slower | ${r.peakRssMiB.toFixed(0)} |`);
  process.stderr.write(`${lines.at(-1)}\n`);
}
// What a user sees: the whole `speedrun` process (compiled CLI, data, evaluation, results store), 100 steps.
lines.push('', '## peak resident memory of a whole `speedrun --steps 100` run (the CLI as users run it)', '', '| backend | threads | peak RSS MiB | ms/step (mean, incl. this run\'s noise) |', '|---|---|---|---|');
const cliRuns = configs.filter(([backend, accum]) => accum === '1' && backend !== 'cpu').map(([backend]) => [backend!, 'baseline']); // cpu: its evaluation alone takes minutes
if (cliRuns.some(([backend]) => backend === 'native')) cliRuns.push(['native', 'fused-kernels']);
for (const [name, recipe] of cliRuns) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'speedrun-bench-'));
  const run = spawnSync(process.execPath, [path.join(here, '..', 'bin', 'speedrun.js'), '--backend', name!, '--recipe', recipe!, '--steps', '100', '-q', '--out', out], { encoding: 'utf8', timeout: 900_000 });
  const summary = `${run.stdout}${run.stderr}`; // the summary goes to stderr with -q
  const peak = /peak memory\s+([\d.]+) MiB/.exec(summary)?.[1];
  const msPerStep = /\(([\d.]+) ms\/step\)/.exec(summary)?.[1];
  const threads = /(\d+) threads?\)/.exec(summary)?.[1] ?? '-';
  if (!peak) throw new Error(`speedrun --backend ${name} printed no peak memory: ${run.stderr.slice(-300)}`);
  lines.push(`| ${name}${recipe === 'baseline' ? '' : ` --recipe ${recipe}`} | ${threads} | ${peak} | ${msPerStep ?? '-'} |`);
  process.stderr.write(`${lines.at(-1)}\n`);
  fs.rmSync(out, { recursive: true, force: true });
}
// The native issue's bars, as ratios measured in one run, interleaved (A B C A B C A B C): fused-kernels against
// unfused (>= 1.2x), and both against PyTorch's nanoGPT config (<= 60 ms; bench/pytorch-nano.py) when PyTorch
// is installed, so the comparison does not depend on the hour.
// PyTorch links the same OpenBLAS: give it the kernels native gets, or it falls back to Prescott's (measured:
// 126-166 instead of 65 ms per step).
chooseCoreType();
// Debian's python3-torch lives in the system Python, which a pyenv or venv `python3` on PATH may hide.
const pythons = ['python3', '/usr/bin/python3'];
const pytorch = (): { torch: string; threads: number; medianStepMs: number } | null => {
  for (const python of pythons) {
    const r = spawnSync(python, [path.join(here, 'pytorch-nano.py'), '60'], { encoding: 'utf8', timeout: 600_000 });
    if (r.status === 0) {
      pythons.splice(0, pythons.indexOf(python)); // later rounds go straight to the one that worked
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    }
  }
  return null;
};
if (configs.some(([name]) => name === 'native')) {
  const hasTorch = pytorch() !== null; // also its warm-up (imports, thread pool) before the timed rounds
  lines.push('', `## native against unfused${hasTorch ? ' and PyTorch' : ''} (interleaved rounds, each its own process)`, '', '| configuration | ms/step (three rounds) | median | vs unfused | vs PyTorch (this run) |', '|---|---|---|---|---|');
  const ms: Record<string, number[]> = { baseline: [], 'fused-kernels': [], ...(hasTorch ? { pytorch: [] } : {}) };
  let torchLabel = 'PyTorch';
  for (let round = 0; round < 3; round++) {
    for (const label of Object.keys(ms)) {
      if (label === 'pytorch') {
        const r = pytorch();
        if (!r) throw new Error('bench/pytorch-nano.py failed after it had run once');
        torchLabel = `PyTorch ${r.torch}, nanoGPT's CPU config (${r.threads} thread${r.threads === 1 ? '' : 's'})`;
        ms[label]!.push(r.medianStepMs);
      } else ms[label]!.push((child('step.ts', ['native', '30', '1', '1', '', label]) as StepResult).medianStepMs);
    }
  }
  const unfused = median(ms.baseline!);
  const torchMs = hasTorch ? median(ms.pytorch!) : PYTORCH_MS;
  for (const [label, values] of Object.entries(ms)) {
    const m = median(values);
    const name = label === 'pytorch' ? torchLabel : `native ${label}`;
    lines.push(`| ${name} | ${values.map((v) => v.toFixed(1)).join(', ')} | ${m.toFixed(1)} | ${(unfused / m).toFixed(2)}x | ${m <= torchMs ? `${(torchMs / m).toFixed(2)}x faster` : `${(m / torchMs).toFixed(2)}x slower`} |`);
    process.stderr.write(`${lines.at(-1)}\n`);
  }
  if (!hasTorch) lines.push('', `(PyTorch is not installed: \`apt-get install python3-torch\` to time it in this run; compared with the figure ${PYTORCH_MS} ms instead)`);
}
lines.push('', '## core kernels at nano shapes (wasm, tinybench median)', '', '| kernel | median ms | GFLOP/s |', '|---|---|---|');
const kernels = child('kernels.ts', ['wasm']) as { rows: { kernel: string; medianMs: number; gflops: number | null }[] };
for (const row of kernels.rows) lines.push(`| ${row.kernel} | ${row.medianMs.toFixed(2)} | ${row.gflops === null ? '-' : row.gflops.toFixed(1)} |`);
process.stdout.write(`${lines.join('\n')}\n`);
