/**
 * `npm run bench:recipes`: what each recipe costs per step beside the arithmetic it adds (nano preset,
 * brown-char, one backend). Per recipe: the median ms/step of a real run in its own process, interleaved over
 * rounds (A B C … A B C …), and its time ratio to the baseline taken within each round, then the median of
 * those ratios, so drift between rounds (±15-25 % here) cancels; the matrix-product FLOPs a step executes and its kernel
 * calls (bench/stepCounts.ts, one profiled step). On native every recipe is composed with `fused-kernels` and
 * compared with `fused-kernels` alone, the fastest baseline there; elsewhere with `baseline`.
 * A recipe's time ratio above its FLOP ratio is engine overhead ("tax"); the table says how much, and its MFU
 * (model FLOPs at the median step time against the run's peak, harness/compute.ts) says how far from the machine.
 *   npm run bench:recipes -- [backend=native] [steps=15] [rounds=3]
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from '../harness/stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const [backend = 'native', steps = '15', roundsArg = '3'] = process.argv.slice(2);
const RECIPES = ['baseline', 'muon', 'ngpt', 'rotary', 'qk-norm', 'relu2', 'untied-head', 'softcap', 'zero-init', 'wsd', 'mixed-precision', 'muon,rotary,qk-norm,relu2,zero-init,untied-head,softcap'];
const compose = (recipe: string) => (backend !== 'native' ? recipe : recipe === 'baseline' ? 'fused-kernels' : `fused-kernels,${recipe}`);

function node(script: string, args: string[]): Record<string, number> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, script), ...args], { encoding: 'utf8', timeout: 600_000 });
  const line = r.stdout.trim().split('\n').at(-1);
  if (r.status !== 0 || !line) throw new Error(`${script} ${args.join(' ')} failed: ${r.stderr.slice(-400)}`);
  return JSON.parse(line) as Record<string, number>;
}

const counts = new Map(RECIPES.map((recipe) => [recipe, node('stepCounts.ts', [compose(recipe), backend])]));
const ms = new Map<string, number[]>();
const mfus = new Map<string, number[]>();
for (let round = 0; round < Number(roundsArg); round++) {
  for (const recipe of RECIPES) {
    const { medianStepMs, mfu } = node('step.ts', [backend, steps, '1', '1', '', compose(recipe)]);
    ms.set(recipe, [...(ms.get(recipe) ?? []), medianStepMs!]);
    if (typeof mfu === 'number') mfus.set(recipe, [...(mfus.get(recipe) ?? []), mfu]);
    process.stderr.write(`round ${round + 1}: ${compose(recipe)} ${medianStepMs!.toFixed(1)} ms/step\n`);
  }
}
const base = { flops: counts.get('baseline')!.matmulFlops! };
const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
process.stdout.write(`${backend}, ${cpu}, ${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)}; medians of ${roundsArg} interleaved runs of ${steps} steps; baseline \`${compose('baseline')}\`\n\n`);
process.stdout.write('| recipes | ms/step | time vs baseline (same round) | GFLOP/step (products) | FLOPs vs baseline | MFU | kernel calls/step |\n|---|---:|---:|---:|---:|---:|---:|\n');
for (const recipe of RECIPES) {
  const times = ms.get(recipe)!;
  const ratio = median(times.map((t, round) => t / ms.get('baseline')![round]!));
  const { matmulFlops, kernelCalls } = counts.get(recipe)!;
  const mfu = mfus.get(recipe)?.length ? `${(100 * median(mfus.get(recipe)!)).toFixed(1)} %` : '-';
  process.stdout.write(`| \`${compose(recipe)}\` | ${median(times).toFixed(1)} | ${ratio.toFixed(2)}x | ${(matmulFlops! / 1e9).toFixed(2)} | ${(matmulFlops! / base.flops).toFixed(2)}x | ${mfu} | ${kernelCalls} |\n`);
}
