/**
 * Delayed scaling, as FP8 training does it (Micikevicius et al., "FP8 Formats for Deep Learning", arXiv
 * 2209.05433; NVIDIA Transformer Engine's amax history): a tensor's quantization scale comes from the largest
 * magnitudes (amax) it had over the last few steps, measured while the previous products were quantized, so the
 * product of this step needs no extra pass over its operands. A new outlier larger than the history saturates
 * at ±127 for one step and enters the history for the next. Pure, per tensor.
 */

/** The int8 range used: symmetric, −127..127 (−128 left out so that negation is exact). */
export const INT8_MAX = 127;

/** Steps of amax kept (Transformer Engine's default amax_history_len is 1024 for long runs; 16 tracks nano's fast drift). */
export const AMAX_HISTORY = 16;

export class AmaxHistory {
  private readonly values: number[] = [];

  constructor(readonly length: number = AMAX_HISTORY) {
    if (!Number.isInteger(length) || length < 1) throw new RangeError('an amax history holds at least one value');
  }

  /** Records one measured amax (non-finite values are skipped: a diverging step must not poison the scale). */
  record(amax: number): void {
    if (!Number.isFinite(amax) || amax < 0) return;
    this.values.push(amax);
    if (this.values.length > this.length) this.values.shift();
  }

  get size(): number {
    return this.values.length;
  }

  /** The largest amax in the window, or null before the first. */
  max(): number | null {
    return this.values.length === 0 ? null : Math.max(...this.values);
  }

  /** q = round(v·scale) maps the window's amax to ±127; null before the first amax (the caller measures one). */
  scale(): number | null {
    const max = this.max();
    return max === null ? null : scaleFor(max);
  }
}

/** The scale that maps amax to INT8_MAX (1 for an all-zero tensor). */
export const scaleFor = (amax: number): number => (amax > 0 ? INT8_MAX / amax : 1);

/**
 * The largest error of one output element of an int8 product x·w with inner size k, scales sx and sw, and
 * operands within the scales' ranges: each quantized operand is off by at most half a step (0.5 / scale), so
 * |Σ x·w − Σ x̃·w̃| ≤ k·(|x|max·0.5/sw + |w|max·0.5/sx + 0.25/(sx·sw)).
 */
export function int8ErrorBound(k: number, xMax: number, wMax: number, sx: number, sw: number): number {
  return k * ((xMax * 0.5) / sw + (wMax * 0.5) / sx + 0.25 / (sx * sw));
}
