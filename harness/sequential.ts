/**
 * Group-sequential testing: look at the data after every new pair, stop as soon as the answer is clear, and
 * still hold the false-alarm rate at alpha over all the looks. Lan & DeMets' error-spending approach (Lan and
 * DeMets 1983; Jennison and Turnbull 2000, "Group Sequential Methods with Applications to Clinical Trials",
 * ch. 7 and 19): a spending function says how much of alpha may be used up by information fraction t, and each
 * look's boundary is solved so that the probability of first crossing there is exactly that increment.
 *
 * The crossing probabilities come from the canonical joint distribution of the standardized statistics (normal,
 * independent increments), integrated numerically on a grid look by look (Armitage, McPherson and Rowe 1969).
 * Pure functions on plain numbers.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';

/** Cumulative error allowed to be spent by information fraction t in [0, 1]. */
export type SpendingFunction = (t: number) => number;

/** O'Brien-Fleming-type spending (Lan-DeMets): almost nothing early, nearly the fixed-sample test at the end. */
export const obrienFlemingSpending =
  (alpha: number): SpendingFunction =>
  (t) =>
    t <= 0 ? 0 : t >= 1 ? alpha : 2 * (1 - normalCdf(normalQuantile(1 - alpha / 2, 0, 1) / Math.sqrt(t), 0, 1));

/** Pocock-type spending (Lan-DeMets): spends steadily, so a clear answer stops the sequence early. */
export const pocockSpending =
  (alpha: number): SpendingFunction =>
  (t) =>
    t <= 0 ? 0 : t >= 1 ? alpha : alpha * Math.log(1 + (Math.E - 1) * t);

const phi = (x: number): number => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
const Phi = (x: number): number => normalCdf(x, 0, 1);

/** A grid of the sub-density of the score S_k = Z_k·√I_k over the region where the sequence continued. */
interface Density {
  s: Float64Array;
  weight: Float64Array; // density × quadrature weight (Simpson)
}

function grid(lo: number, hi: number, step: number, density: (s: number) => number): Density {
  const intervals = Math.max(2, 2 * Math.ceil((hi - lo) / step / 2));
  const h = (hi - lo) / intervals;
  const s = new Float64Array(intervals + 1);
  const weight = new Float64Array(intervals + 1);
  for (let i = 0; i <= intervals; i++) {
    s[i] = lo + i * h;
    const simpson = i === 0 || i === intervals ? 1 : i % 2 === 1 ? 4 : 2;
    weight[i] = (simpson * h * density(s[i]!)) / 3;
  }
  return { s, weight };
}

export interface CrossingProbabilities {
  /** Probability of first crossing the upper boundary at each look. */
  upper: number[];
  /** Probability of first crossing the lower boundary at each look. */
  lower: number[];
}

/** Where the sequence stands after some looks: the sub-density of the score over the paths still going. */
interface Continued {
  info: number;
  density: Density | null;
}

const START: Continued = { info: 0, density: null };

/** Probability of first crossing above hiZ / below loZ at the next look, at information I, drift theta. */
function crossAt(from: Continued, I: number, loZ: number, hiZ: number, theta: number): { upper: number; lower: number } {
  const dI = I - from.info;
  const sd = Math.sqrt(dI);
  const hiS = hiZ * Math.sqrt(I);
  const loS = loZ * Math.sqrt(I);
  if (from.density === null) return { upper: 1 - Phi((hiS - theta * I) / sd), lower: Phi((loS - theta * I) / sd) };
  let upper = 0;
  let lower = 0;
  const { s, weight } = from.density;
  for (let i = 0; i < s.length; i++) {
    if (hiS !== Infinity) upper += weight[i]! * (1 - Phi((hiS - s[i]! - theta * dI) / sd));
    if (loS !== -Infinity) lower += weight[i]! * Phi((loS - s[i]! - theta * dI) / sd);
  }
  return { upper, lower };
}

/** The paths that continue past the next look (loZ < Z < hiZ), on a grid of 1/16 of the increment's sd. */
function continueTo(from: Continued, I: number, loZ: number, hiZ: number, theta: number): Continued {
  const dI = I - from.info;
  const sd = Math.sqrt(dI);
  const centre = theta * I;
  const lo = Math.max(loZ * Math.sqrt(I), centre - 8 * Math.sqrt(I));
  const hi = Math.min(hiZ * Math.sqrt(I), centre + 8 * Math.sqrt(I));
  if (!(hi > lo)) return { info: I, density: { s: new Float64Array(0), weight: new Float64Array(0) } };
  const previous = from.density;
  const density =
    previous === null
      ? (x: number) => phi((x - centre) / sd) / sd
      : (x: number) => {
          let total = 0;
          for (let i = 0; i < previous.s.length; i++) total += previous.weight[i]! * phi((x - previous.s[i]! - theta * dI) / sd);
          return total / sd;
        };
  return { info: I, density: grid(lo, hi, sd / 16, density) };
}

function checkInfo(info: readonly number[]): void {
  if (info.length === 0) throw new RangeError('at least one look');
  for (let k = 0; k < info.length; k++) {
    if (!(info[k]! > (k === 0 ? 0 : info[k - 1]!))) throw new RangeError('information levels must be positive and increasing');
  }
}

/**
 * First-crossing probabilities of a sequence of standardized statistics Z_k observed at information levels I_k
 * (increasing), with continuation region lower[k] < Z_k < upper[k] (±Infinity for no boundary), when each unit
 * of information carries drift theta: Z_k ~ N(theta·√I_k, 1), Cov(Z_j, Z_k) = √(I_j / I_k).
 */
export function crossingProbabilities(info: readonly number[], lower: readonly number[], upper: readonly number[], theta = 0): CrossingProbabilities {
  checkInfo(info);
  if (lower.length !== info.length || upper.length !== info.length) throw new RangeError('one pair of boundaries per look');
  const out: CrossingProbabilities = { upper: [], lower: [] };
  let state = START;
  for (let k = 0; k < info.length; k++) {
    const p = crossAt(state, info[k]!, lower[k]!, upper[k]!, theta);
    out.upper.push(p.upper);
    out.lower.push(p.lower);
    if (k < info.length - 1) state = continueTo(state, info[k]!, lower[k]!, upper[k]!, theta);
  }
  return out;
}

/**
 * Upper boundaries (Z scale) that spend `spending` at information fractions info / info[last], with no lower
 * boundary: the probability under theta = 0 of first crossing at look k is spending(t_k) − spending(t_{k−1}).
 */
export function spendingBoundaries(info: readonly number[], spending: SpendingFunction): number[] {
  checkInfo(info);
  const total = info.at(-1)!;
  const bounds: number[] = [];
  let state = START;
  let spent = 0;
  for (let k = 0; k < info.length; k++) {
    const I = info[k]!;
    const target = spending(I / total) - spent;
    let lo = -10;
    let hi = 40;
    if (target > 1e-15) {
      for (let iteration = 0; iteration < 60 && hi - lo > 1e-7; iteration++) {
        const mid = (lo + hi) / 2;
        if (crossAt(state, I, -Infinity, mid, 0).upper > target) lo = mid;
        else hi = mid;
      }
    } else lo = hi;
    const bound = (lo + hi) / 2;
    bounds.push(bound);
    spent += crossAt(state, I, -Infinity, bound, 0).upper;
    if (k < info.length - 1) state = continueTo(state, I, -Infinity, bound, 0);
  }
  return bounds;
}
