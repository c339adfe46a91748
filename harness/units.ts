/** How FLOP counts and rates are printed (summaries, `speedrun runs`, the leaderboard). */

/** "1.23 TFLOP" style, for summaries and tables. */
export function formatFlops(flops: number | null | undefined, unit = 'FLOP'): string {
  if (flops === null || flops === undefined || !Number.isFinite(flops)) return 'unknown';
  const scales: [number, string][] = [[1e18, 'E'], [1e15, 'P'], [1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  const [scale, prefix] = scales.find(([s]) => Math.abs(flops) >= s) ?? [1, ''];
  return `${(flops / scale).toPrecision(3)} ${prefix}${unit}`;
}

/** The most seeds one command runs: far above any record (5-13 runs) or suite, far below a typo's 1e9. */
export const MAX_SEEDS = 1000;
