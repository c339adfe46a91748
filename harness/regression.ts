/**
 * The CI decision rule: is the candidate slower than the baseline? Like asv, a regression needs BOTH a
 * statistical test (one-sided t-test on log times, p < alpha) AND a minimum effect (ratio above 1 + minEffect),
 * so noise alone rarely fails a pull request and a tiny real change does not either. Runs measured interleaved
 * with the same seeds (A B A B ...) are compared as paired log ratios, which cancels machine drift and the
 * seed-to-seed spread of steps-to-target; bundle baselines (measured elsewhere) are compared unpaired (Welch).
 * Pure functions; `simulateDecisionRule` validates the defaults (README "CI regression checks").
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import seedrandom from 'seedrandom';
import { crossingProbabilities, obrienFlemingSpending, pocockSpending, spendingBoundaries } from './sequential.ts';
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

/** Standard normal draws from a seeded uniform source (Box-Muller), for both simulations. */
function seededNormal(seed: number): () => number {
  const random = seedrandom(String(seed));
  return () => {
    const u = 1 - random();
    const v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
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
  const normal = seededNormal(input.seed);
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

/**
 * The sequential rule `speedrun ci` decides with: after every interleaved pair (from `minPairs` on), two one-sided
 * t-tests on the paired log ratios d = log(candidate / baseline):
 *  - regression: d > 0 (no slowdown is the null), at a level spent by O'Brien-Fleming-type alpha spending, so
 *    all the looks together raise a false alarm with probability <= alpha; and the slowdown above minEffect;
 *  - no regression: d < log(1 + detect) (a `detect`-sized slowdown is the null), at a level spent by
 *    Pocock-type beta spending, so a real `detect`-sized slowdown is cleared with probability <= beta, and a
 *    quiet machine stops after a few pairs;
 * and "inconclusive" when `maxPairs` pairs are in and neither has crossed: the noise was too high to back either
 * answer. The boundaries come from harness/sequential.ts (normal theory); each look compares the t-test's
 * p-value with its boundary's nominal level, which the simulation below checks keeps both error rates.
 */
export interface SequentialOptions extends DecisionOptions {
  /** The slowdown the check promises to catch, as a fraction (0.1 = 10 %). */
  detect: number;
  /** Largest chance of clearing a `detect`-sized slowdown as "no regression". */
  beta: number;
  minPairs: number;
  maxPairs: number;
}

export const DEFAULT_SEQUENTIAL: SequentialOptions = { ...DEFAULT_DECISION, detect: 0.1, beta: 0.05, minPairs: 4, maxPairs: 30 };

export interface SequentialDesign {
  options: SequentialOptions;
  /** Pairs at each look: minPairs, minPairs + 1, …, maxPairs. */
  looks: number[];
  /** Nominal one-sided levels at each look: regression when p(no slowdown) is below efficacy[k]. */
  efficacy: number[];
  /** No regression when p(a detect-sized slowdown) is below futility[k]. */
  futility: number[];
  /** The same boundaries as standard-normal quantiles. */
  efficacyZ: number[];
  futilityZ: number[];
}

const designs = new Map<string, SequentialDesign>();

export function sequentialDesign(options: SequentialOptions = DEFAULT_SEQUENTIAL): SequentialDesign {
  const { minPairs, maxPairs, alpha, beta, detect } = options;
  if (!Number.isInteger(minPairs) || minPairs < 3) throw new RangeError(`at least 3 pairs before the first look (got ${minPairs})`);
  if (!Number.isInteger(maxPairs) || maxPairs < minPairs) throw new RangeError(`the most pairs (${maxPairs}) must be an integer of at least the first look's (${minPairs})`);
  if (!(alpha > 0 && alpha < 0.5) || !(beta > 0 && beta < 0.5) || !(detect > 0)) throw new RangeError('alpha and beta in (0, 0.5), detect > 0');
  const key = JSON.stringify(options);
  const cached = designs.get(key);
  if (cached) return cached;
  const looks = Array.from({ length: maxPairs - minPairs + 1 }, (_, i) => minPairs + i);
  const efficacyZ = spendingBoundaries(looks, obrienFlemingSpending(alpha));
  const futilityZ = spendingBoundaries(looks, pocockSpending(beta));
  const upperTail = (z: number) => 1 - normalCdf(z, 0, 1);
  const design = { options, looks, efficacyZ, futilityZ, efficacy: efficacyZ.map(upperTail), futility: futilityZ.map(upperTail) };
  designs.set(key, design);
  return design;
}

export type SequentialVerdict = 'regression' | 'no-regression' | 'inconclusive' | 'continue';

export interface SequentialLook {
  verdict: SequentialVerdict;
  pairs: number;
  /** Geometric-mean ratio candidate / baseline. */
  ratio: number;
  /** One-sided p-value against "no slowdown", and the level this look needed. */
  pValue: number;
  needed: number;
  /** One-sided p-value against "a detect-sized slowdown", and the level this look needed. */
  pValueDetect: number;
  neededDetect: number;
  /** Standard deviation of the paired log ratios (≈ the paired relative noise). */
  pairedNoise: number;
  reason: string;
}

/** The decision after `differences.length` pairs (log ratios), one of the design's looks. */
export function sequentialLook(differences: readonly number[], design: SequentialDesign): SequentialLook {
  const n = differences.length;
  const k = design.looks.indexOf(n);
  if (k < 0) throw new RangeError(`${n} pairs is not one of the design's looks (${design.looks[0]}-${design.looks.at(-1)})`);
  const { detect, minEffect } = design.options;
  const m = mean(differences);
  const ratio = Math.exp(m);
  const pValue = oneSampleTTest(differences, 0, 'greater').pValue;
  const pValueDetect = oneSampleTTest(differences, Math.log(1 + detect), 'less').pValue;
  const needed = design.efficacy[k]!;
  const neededDetect = design.futility[k]!;
  const pct = (r: number) => `${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(1)} %`;
  const base = { pairs: n, ratio, pValue, needed, pValueDetect, neededDetect, pairedNoise: std(differences) };
  if (pValue < needed && ratio > 1 + minEffect) {
    return { ...base, verdict: 'regression', reason: `slower by ${pct(ratio)} after ${n} pairs (p = ${pValue.toPrecision(2)} < ${needed.toPrecision(2)}, this look's share of alpha ${design.options.alpha}; above the ${minEffect * 100} % threshold)` };
  }
  if (pValueDetect < neededDetect) {
    const small = pValue < needed ? `; a real but small change (significant, below the ${minEffect * 100} % threshold)` : '';
    return { ...base, verdict: 'no-regression', reason: `change ${pct(ratio)} after ${n} pairs, and a ${detect * 100} % slowdown is ruled out (p = ${pValueDetect.toPrecision(2)} < ${neededDetect.toPrecision(2)})${small}` };
  }
  if (k === design.looks.length - 1) {
    return { ...base, verdict: 'inconclusive', reason: `inconclusive: noise too high for a ${detect * 100} % effect with ${n} pairs (change ${pct(ratio)}, paired noise ${(base.pairedNoise * 100).toFixed(1)} %); raise --max-runs or quiet the machine` };
  }
  return { ...base, verdict: 'continue', reason: `change ${pct(ratio)} after ${n} pairs: not decided yet` };
}

export interface DesignOperatingCharacteristics {
  /** Chance of "regression" when the candidate is `slowdown` slower, at this paired noise. */
  regression: number;
  noRegression: number;
  inconclusive: number;
  expectedPairs: number;
}

/**
 * What the design does at a given paired noise (standard deviation of the log ratios) and true slowdown, from
 * normal theory (the noise taken as known): how `speedrun ci` states the power it decided with.
 */
export function operatingCharacteristics(design: SequentialDesign, pairedNoise: number, slowdown: number): DesignOperatingCharacteristics {
  const { looks, efficacyZ, futilityZ } = design;
  const shift = Math.log(1 + design.options.detect) / Math.max(pairedNoise, 1e-9);
  const theta = Math.log(1 + slowdown) / Math.max(pairedNoise, 1e-9);
  // "No regression" at look k: (log(1 + detect) − mean)·√n / σ ≥ zF, i.e. Z ≤ shift·√n − zF.
  const lower = looks.map((n, k) => shift * Math.sqrt(n) - futilityZ[k]!);
  const p = crossingProbabilities(looks, lower, efficacyZ, theta);
  const regression = p.upper.reduce((a, b) => a + b, 0);
  const noRegression = p.lower.reduce((a, b) => a + b, 0);
  const inconclusive = Math.max(0, 1 - regression - noRegression);
  const expectedPairs = looks.reduce((a, n, k) => a + n * (p.upper[k]! + p.lower[k]!), 0) + looks.at(-1)! * inconclusive;
  return { regression, noRegression, inconclusive, expectedPairs };
}

export interface SequentialSimulation {
  regression: number;
  noRegression: number;
  inconclusive: number;
  meanPairs: number;
}

/** The sequential rule on simulated log-normal pairs: its false alarms (slowdown 0) and power (slowdown 0.1). */
export function simulateSequential(input: Omit<SimulationInput, 'runs' | 'paired' | 'options'> & { design: SequentialDesign }): SequentialSimulation {
  const normal = seededNormal(input.seed);
  const sigma = Math.sqrt(Math.log(1 + input.noiseCv ** 2));
  const shift = Math.log(1 + input.slowdown);
  const counts = { regression: 0, 'no-regression': 0, inconclusive: 0 };
  let pairs = 0;
  for (let t = 0; t < input.trials; t++) {
    const d: number[] = [];
    for (;;) {
      d.push(shift + sigma * normal() - sigma * normal());
      if (d.length < input.design.looks[0]!) continue;
      const look = sequentialLook(d, input.design);
      if (look.verdict === 'continue') continue;
      counts[look.verdict]++;
      pairs += d.length;
      break;
    }
  }
  return { regression: counts.regression / input.trials, noRegression: counts['no-regression'] / input.trials, inconclusive: counts.inconclusive / input.trials, meanPairs: pairs / input.trials };
}
