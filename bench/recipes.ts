/**
 * `npm run bench:recipes`: median ms/step of each recipe (nano preset, brown-char, one backend), each in its own
 * process, interleaved over two rounds so machine drift spreads evenly. Steps-to-target x ms/step separates a
 * recipe's effect on convergence (exact, from the runs) from its cost per step (this benchmark).
 *   npm run bench:recipes -- [backend=wasm] [steps=15]
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from '../harness/stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const [backend = 'wasm', steps = '15'] = process.argv.slice(2);
const recipes = ['baseline', 'muon', 'ngpt', 'rotary', 'qk-norm', 'relu2', 'untied-head', 'softcap', 'zero-init', 'wsd', 'muon,rotary,qk-norm,relu2,zero-init,untied-head,softcap'];
const ms = new Map<string, number[]>();
for (let round = 0; round < 2; round++) {
  for (const recipe of recipes) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'step.ts'), backend, steps, '1', '1', '', recipe], { encoding: 'utf8', timeout: 600_000 });
    const line = r.stdout.trim().split('\n').at(-1);
    if (r.status !== 0 || !line) throw new Error(`${recipe} failed: ${r.stderr.slice(-400)}`);
    ms.set(recipe, [...(ms.get(recipe) ?? []), (JSON.parse(line) as { medianStepMs: number }).medianStepMs]);
    process.stderr.write(`round ${round + 1}: ${recipe} ${ms.get(recipe)!.at(-1)!.toFixed(1)} ms/step\n`);
  }
}
const base = median(ms.get('baseline')!);
process.stdout.write(`| recipes | median ms/step (${backend}) | vs baseline |\n|---|---:|---:|\n`);
for (const recipe of recipes) {
  const m = median(ms.get(recipe)!);
  process.stdout.write(`| \`${recipe}\` | ${m.toFixed(1)} | ${(m / base).toFixed(2)}x |\n`);
}
