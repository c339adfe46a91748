/**
 * Leaderboard render speed: a seeded database with 10,000 runs, rendered to a static site.
 * Bar (issue 5): under 2 s on this machine. Reports the median of 3 renders (the first warms the JIT and vega).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { renderSite } from '../harness/leaderboard/render.ts';
import { median } from '../harness/stats.ts';
import { seedLeaderboardDb } from '../test/fixtures/leaderboard-db.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'speedrun-bench-lb-'));
const seedStart = performance.now();
const store = seedLeaderboardDb(path.join(dir, 'bench.db'), { extraRuns: 10_000 - 26 });
const runs = store.runs().length;
process.stdout.write(`seeded ${runs} runs in ${((performance.now() - seedStart) / 1000).toFixed(1)} s\n`);
const times: number[] = [];
for (let i = 0; i < 3; i++) {
  const start = performance.now();
  const { pages } = await renderSite(store, path.join(dir, `site-${i}`));
  times.push(performance.now() - start);
  process.stdout.write(`render ${i + 1}: ${pages.length} pages in ${(times.at(-1)! / 1000).toFixed(2)} s\n`);
}
store.close();
const result = median(times) / 1000;
process.stdout.write(`leaderboard render, ${runs} runs: median ${result.toFixed(2)} s (bar: < 2 s) ${result < 2 ? 'MET' : 'NOT MET'}\n`);
fs.rmSync(dir, { recursive: true, force: true });
