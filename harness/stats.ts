/**
 * The statistics behind records and regression checks. Pure functions on plain numbers; the t distribution comes
 * from @stdlib (no hand-written CDF). Sources: modded-nanogpt's record rule (one-sided one-sample t-test, p < 0.01),
 * MLPerf's olympic mean and RCP check, Welch's test for "faster than the record" (../shared/references/).
 */
import ttest from '@stdlib/stats-ttest';
import ttest2 from '@stdlib/stats-ttest2';

export interface TestResult {
  /** The t statistic (±Infinity when the samples have no spread). */
  statistic: number;
  df: number;
  pValue: number;
}

export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Sample standard deviation (n - 1); 0 for fewer than two values. */
export function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** MLPerf's score: drop the fastest and the slowest, average the rest (plain mean below three values). */
export function olympicMean(xs: readonly number[]): number {
  if (xs.length < 3) return mean(xs);
  const s = [...xs].sort((a, b) => a - b);
  return mean(s.slice(1, -1));
}

/** When every value is equal the t statistic is ±Infinity (or undefined); decide it without dividing by zero. */
function degenerate(difference: number, df: number, alternative: 'less' | 'greater'): TestResult {
  const below = alternative === 'less' ? difference < 0 : difference > 0;
  if (difference === 0) return { statistic: 0, df, pValue: 1 };
  return { statistic: difference < 0 ? -Infinity : Infinity, df, pValue: below ? 0 : 1 };
}

/**
 * One-sample one-sided t-test that the mean of xs is below (`less`) or above (`greater`) mu —
 * scipy.stats.ttest_1samp(xs, mu, alternative=...). modded-nanogpt: losses below the target with p < 0.01.
 */
export function oneSampleTTest(xs: readonly number[], mu: number, alternative: 'less' | 'greater'): TestResult {
  if (xs.length < 2) throw new RangeError('a t-test needs at least two values');
  if (std(xs) === 0) return degenerate(mean(xs) - mu, xs.length - 1, alternative);
  const r = ttest([...xs], { mu, alternative });
  return { statistic: r.statistic, df: r.df, pValue: r.pValue };
}

/**
 * Two-sample one-sided t-test of mean(xs) vs mean(ys): Welch (unequal variances, Satterthwaite df) by default,
 * pooled with `equalVariances` (MLPerf's RCP check) — scipy.stats.ttest_ind(xs, ys, equal_var=...).
 */
export function twoSampleTTest(
  xs: readonly number[],
  ys: readonly number[],
  alternative: 'less' | 'greater',
  equalVariances = false,
): TestResult {
  if (xs.length < 2 || ys.length < 2) throw new RangeError('a two-sample t-test needs at least two values on each side');
  if (std(xs) === 0 && std(ys) === 0) return degenerate(mean(xs) - mean(ys), xs.length + ys.length - 2, alternative);
  const r = ttest2([...xs], [...ys], { alternative, variance: equalVariances ? 'equal' : 'unequal' });
  return { statistic: r.statistic, df: r.df, pValue: r.pValue };
}

/** Summary of a set of seeds' times to target (ms): what `--seeds N` prints and records carry. */
export interface TimeSummary {
  n: number;
  meanMs: number;
  stdMs: number;
  olympicMeanMs: number;
  medianMs: number;
}

export function summarizeTimes(timesMs: readonly number[]): TimeSummary {
  return { n: timesMs.length, meanMs: mean(timesMs), stdMs: std(timesMs), olympicMeanMs: olympicMean(timesMs), medianMs: median(timesMs) };
}

/**
 * Performance profiles (Dolan and Moré 2002), as AlgoPerf scores training algorithms: per workload w, the ratio
 * r = t / t_best of each submission's time to the best time there (Infinity for a miss); ρ(τ) = the share of
 * workloads with r ≤ τ. `times[s][w]` is submission s's time on workload w (null or Infinity: target missed).
 */
export function performanceRatios(times: readonly (readonly (number | null)[])[]): number[][] {
  const workloads = times[0]?.length ?? 0;
  const best = Array.from({ length: workloads }, (_, w) => Math.min(...times.map((row) => row[w] ?? Infinity)));
  return times.map((row) => row.map((t, w) => (t === null || !Number.isFinite(t) || !Number.isFinite(best[w]!) ? Infinity : t / best[w]!)));
}

/** ρ(τ) for one submission's ratios. */
export function profileAt(ratios: readonly number[], tau: number): number {
  return ratios.length === 0 ? 0 : ratios.filter((r) => r <= tau).length / ratios.length;
}

/**
 * AlgoPerf's score: ∫₁^τmax ρ(τ) dτ / (τmax − 1), τmax = 4. ρ is a step function, so the integral is exact: each
 * workload with ratio r ≤ τmax adds (τmax − r) / (τmax − 1) / W; a miss (or r > τmax) adds nothing. 1 = best everywhere.
 */
export function profileScore(ratios: readonly number[], tauMax = 4): number {
  if (ratios.length === 0) return 0;
  return ratios.reduce((sum, r) => sum + (r <= tauMax ? (tauMax - Math.max(r, 1)) / (tauMax - 1) : 0), 0) / ratios.length;
}

/** The geometric mean (0 if any value is 0; Infinity if any is Infinity). */
export function geometricMean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  if (xs.some((x) => x === 0)) return 0;
  return Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
}
