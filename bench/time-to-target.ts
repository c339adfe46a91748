/**
 * `npm run bench:ttt`: time to a target validation loss on a char-level text file, PyTorch nanoGPT beside
 * speedrun in the same run (the engine-tax issue's bar): bench/pytorch-nano.py trains nanoGPT's CPU config on the
 * file under speedrun's `text:FILE` protocol (same vocabulary, split, evaluation windows, schedule and optimizer),
 * and speedrun trains `--track text:FILE` with each recipe set on native. Rounds are interleaved (A B C D, A B C D)
 * and every figure is train time (steps only, evaluation outside the clock, as both sides count it).
 *   npm run bench:ttt -- [file (default: the Brown corpus as one text)] [target=2.46] [rounds=1]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chooseCoreType } from '../harness/backends/nativeBlas.ts';
import { loadBrownSplit } from '../harness/data/brown.ts';
import { median } from '../harness/stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const [fileArg, targetArg = '2.46', roundsArg = '1'] = process.argv.slice(2);
const RECIPES = ['fused-kernels', 'ngpt,fused-kernels', 'fused-kernels,muon,rotary,qk-norm,relu2,zero-init,untied-head,softcap'];
chooseCoreType(); // PyTorch links the same OpenBLAS, which needs the same core type here

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'speedrun-ttt-'));
let file = fileArg;
if (!file) {
  const split = loadBrownSplit();
  file = path.join(scratch, 'brown.txt');
  fs.writeFileSync(file, split.train + split.val);
}

interface Result {
  reached: boolean;
  steps: number;
  trainSeconds: number;
  medianStepMs: number;
}

function pytorch(): Result & { torch: string; threads: number } {
  const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const r = spawnSync(python, [path.join(here, 'pytorch-nano.py'), '--text', file, '--target', targetArg], { encoding: 'utf8', timeout: 1_800_000 });
  if (r.status !== 0) throw new Error(`bench/pytorch-nano.py failed: ${r.stderr.slice(-400)}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Result & { torch: string; threads: number };
}

function speedrun(recipe: string): Result {
  const out = fs.mkdtempSync(path.join(scratch, 'run-'));
  const r = spawnSync(process.execPath, [path.join(here, '..', 'bin', 'speedrun.js'), '--track', `text:${file}`, '--target', targetArg, '--recipe', recipe, '--backend', 'native', '-q', '--out', out], { encoding: 'utf8', timeout: 1_800_000 });
  const [dir] = fs.readdirSync(path.join(out, 'runs'));
  if (!dir) throw new Error(`speedrun --recipe ${recipe} wrote no run: ${r.stderr.slice(-400)}`);
  const run = JSON.parse(fs.readFileSync(path.join(out, 'runs', dir, 'run.json'), 'utf8')) as { status: string; steps: number; trainTimeMs: number; msPerStep: number; stepsToTarget: number | null };
  return { reached: run.status === 'success', steps: run.stepsToTarget ?? run.steps, trainSeconds: run.trainTimeMs / 1000, medianStepMs: run.msPerStep };
}

const results = new Map<string, Result[]>();
let torchLabel = 'PyTorch';
for (let round = 0; round < Number(roundsArg); round++) {
  const torch = pytorch();
  torchLabel = `PyTorch ${torch.torch} nanoGPT (${torch.threads} thread${torch.threads === 1 ? '' : 's'})`;
  results.set(torchLabel, [...(results.get(torchLabel) ?? []), torch]);
  process.stderr.write(`round ${round + 1}: ${torchLabel} ${torch.trainSeconds.toFixed(1)} s, ${torch.steps} steps\n`);
  for (const recipe of RECIPES) {
    const r = speedrun(recipe);
    results.set(recipe, [...(results.get(recipe) ?? []), r]);
    process.stderr.write(`round ${round + 1}: ${recipe} ${r.trainSeconds.toFixed(1)} s, ${r.steps} steps\n`);
  }
}
const torchSeconds = median(results.get(torchLabel)!.map((r) => r.trainSeconds));
const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
process.stdout.write(`time to ${targetArg} on ${fileArg ? `text:${fileArg}` : 'the Brown corpus as one text (text:brown.txt)'}; ${cpu}, ${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)}; ${roundsArg} interleaved round(s)\n\n`);
process.stdout.write('| run | reached | steps | train time (s) | ms/step | vs PyTorch (time) |\n|---|---|---:|---:|---:|---:|\n');
for (const [label, rs] of results) {
  const seconds = median(rs.map((r) => r.trainSeconds));
  const name = label === torchLabel ? label : `speedrun native \`${label}\``;
  process.stdout.write(`| ${name} | ${rs.map((r) => (r.reached ? 'yes' : 'no')).join(', ')} | ${rs.map((r) => r.steps).join(', ')} | ${seconds.toFixed(1)} | ${median(rs.map((r) => r.medianStepMs)).toFixed(1)} | ${(seconds / torchSeconds).toFixed(2)}x |\n`);
}
fs.rmSync(scratch, { recursive: true, force: true });
