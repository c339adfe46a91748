/**
 * The CI decision rule: is the candidate slower than the baseline? Like asv, a regression needs BOTH a
 * statistical test (one-sided t-test on log times, p < alpha) AND a minimum effect (ratio above 1 + minEffect),
 * so noise alone rarely fails a pull request and a tiny real change does not either. Runs measured interleaved
 * with the same seeds (A B A B ...) are compared as paired log ratios, which cancels machine drift and the
 * seed-to-seed spread of steps-to-target; bundle baselines (measured elsewhere) are compared unpaired (Welch).
 * Pure functions; `simulateDecisionRule` validates the defaults (README "CI regression checks").
 */
import seedrandom from 'seedrandom';
import { mean, oneSampleTTest, std, twoSampleTTest } from './stats.ts';

export interface DecisionOptions {
  /** Significance level of the one-sided test. */
  alpha: number;
  /** Smallest slowdown that counts, as a fraction (0.05 = 5 %). */
  minEffect: number;
}

export const DEFAULT_DECISION: DecisionOptions = { alpha: 0.01, minEffect: 0.05 };

export interface Comparison {
  verdict: 'regression' | 'no-regression';
  /** Geometric-mean ratio candidate / baseline (> 1 is slower). */
  ratio: number;
  pValue: number;
  paired: boolean;
  reason: string;
}

/** Compares positive measurements (times or steps); paired when candidate[i] and baseline[i] share a seed. */
export function compareRuns(candidate: readonly number[], baseline: readonly number[], paired: boolean, options: DecisionOptions = DEFAULT_DECISION): Comparison {
  if (candidate.length < 2 || baseline.length < 2) throw new RangeError('a comparison needs at least two runs on each side');
  let logRatio: number;
  let pValue: number;
  if (paired) {
    if (candidate.length !== baseline.length) throw new RangeError('paired runs need as many candidate runs as baseline runs');
    const differences = candidate.map((c, i) => Math.log(c / baseline[i]!));
    logRatio = mean(differences);
    pValue = oneSampleTTest(differences, 0, 'greater').pValue;
  } else {
    const lc = candidate.map(Math.log);
    const lb = baseline.map(Math.log);
    logRatio = mean(lc) - mean(lb);
    pValue = twoSampleTTest(lc, lb, 'greater').pValue;
  }
  const ratio = Math.exp(logRatio);
  const significant = pValue < options.alpha;
  const large = ratio > 1 + options.minEffect;
  const pct = `${((ratio - 1) * 100).toFixed(1)} %`;
  const reason =
    significant && large
      ? `slower by ${pct} (p = ${pValue.toPrecision(3)} < ${options.alpha}, above the ${options.minEffect * 100} % threshold)`
      : significant
        ? `slower by ${pct}, significant (p = ${pValue.toPrecision(3)}) but below the ${options.minEffect * 100} % threshold`
        : `change ${ratio >= 1 ? '+' : ''}${pct} is not significant (p = ${pValue.toPrecision(3)}, needs < ${options.alpha})`;
  return { verdict: significant && large ? 'regression' : 'no-regression', ratio, pValue, paired, reason };
}

export interface SimulationInput {
  /** Run-to-run noise of one measurement, as a coefficient of variation (log-normal). */
  noiseCv: number;
  /** True slowdown of the candidate (0 = A/A, 0.1 = 10 % slower). */
  slowdown: number;
  runs: number;
  trials: number;
  seed: number;
  paired?: boolean;
  options?: DecisionOptions;
}

/** Fraction of simulated trials flagged as regressions: the false-alarm rate for A/A, the power for A/B. */
export function simulateDecisionRule(input: SimulationInput): number {
  const random = seedrandom(String(input.seed));
  const normal = (): number => {
    // Box-Muller on a seeded uniform source.
    const u = 1 - random();
    const v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const sigma = Math.sqrt(Math.log(1 + input.noiseCv ** 2));
  const sample = (scale: number) => Array.from({ length: input.runs }, () => scale * Math.exp(sigma * normal()));
  let flagged = 0;
  for (let t = 0; t < input.trials; t++) {
    const baseline = sample(1);
    const candidate = sample(1 + input.slowdown);
    if (compareRuns(candidate, baseline, input.paired ?? true, input.options).verdict === 'regression') flagged++;
  }
  return flagged / input.trials;
}

/** The noise of paired measurements: coefficient of variation of one run, from observed log ratios. */
export function noiseFromPairs(candidate: readonly number[], baseline: readonly number[]): number {
  const d = candidate.map((c, i) => Math.log(c / baseline[i]!));
  return std(d) / Math.SQRT2;
}
