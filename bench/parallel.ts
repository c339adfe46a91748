/**
 * `npm run bench:parallel`: data-parallel training on wasm, nano preset, brown-char. One worker (2 threads, the
 * default, and 1 thread) against 2 workers (1 thread each) with every comms variant, each in its own process,
 * interleaved over three rounds (A B C ... A B C ...) so machine drift spreads evenly; medians reported.
 * Bar (comms issue): 2 workers >= 1.7x the tokens/s of 1 worker on wasm here. Both references are printed: one
 * worker with one thread (the same core per replica: data-parallel scaling) and with two (what `--workers 1`
 * uses by default).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from '../harness/stats.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const STEPS = '30';
const configs: { label: string; workers: number; threads: string; recipe: string }[] = [
  { label: '1 worker, 2 threads (default)', workers: 1, threads: '2', recipe: 'baseline' },
  { label: '1 worker, 1 thread', workers: 1, threads: '1', recipe: 'baseline' },
  { label: '2 workers, allreduce (per tensor)', workers: 2, threads: '1', recipe: 'baseline' },
  { label: '2 workers, comms-bucketed', workers: 2, threads: '1', recipe: 'baseline,comms-bucketed' },
  { label: '2 workers, comms-bf16', workers: 2, threads: '1', recipe: 'baseline,comms-bf16' },
  { label: '2 workers, comms-sharded', workers: 2, threads: '1', recipe: 'baseline,comms-sharded' },
];
interface Result {
  medianStepMs: number;
  tokensPerSec: number;
  peakRssMiB: number;
  parallel: { commMsPerStep: number; commBytesPerStep: number } | null;
}
const results = new Map<string, Result[]>();
const ROUNDS = 3;
for (let round = 0; round < ROUNDS; round++) {
  for (const c of configs) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'step.ts'), 'wasm', STEPS, '1', String(c.workers), c.threads, c.recipe], { encoding: 'utf8', timeout: 600_000 });
    const line = r.stdout.trim().split('\n').at(-1);
    if (r.status !== 0 || !line) throw new Error(`${c.label} failed: ${r.stderr.slice(-400)}`);
    results.set(c.label, [...(results.get(c.label) ?? []), JSON.parse(line) as Result]);
    process.stderr.write(`round ${round + 1}: ${c.label}: ${(JSON.parse(line) as Result).medianStepMs.toFixed(1)} ms/step\n`);
  }
}
const base = median(results.get(configs[0]!.label)!.map((r) => r.tokensPerSec));
const oneThread = median(results.get(configs[1]!.label)!.map((r) => r.tokensPerSec));
const lines = ['| configuration | median ms/step | tokens/s | vs 1 worker (2 threads) | vs 1 worker (1 thread) | comm ms/step | comm bytes/step per worker | peak RSS MiB |', '|---|---:|---:|---:|---:|---:|---:|---:|'];
for (const c of configs) {
  const rs = results.get(c.label)!;
  const tps = median(rs.map((r) => r.tokensPerSec));
  const comm = rs[0]!.parallel;
  lines.push(
    `| ${c.label} | ${median(rs.map((r) => r.medianStepMs)).toFixed(1)} | ${Math.round(tps)} | ${(tps / base).toFixed(2)}x | ${(tps / oneThread).toFixed(2)}x | ${comm ? median(rs.map((r) => r.parallel!.commMsPerStep)).toFixed(1) : '-'} | ${comm ? Math.round(comm.commBytesPerStep).toLocaleString('en-US') : '-'} | ${median(rs.map((r) => r.peakRssMiB)).toFixed(0)} |`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
