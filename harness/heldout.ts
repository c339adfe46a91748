/**
 * The held-out workload's family (AlgoPerf v0.5's held-out variants): at suite time one variant of brown-char is
 * drawn from a seed, so a recipe tuned to the public workloads gains nothing there. Ranges, all uniform:
 *   depth 2-6 layers; width 64, 96, 128, 160 or 192; heads 2 or 4; context 32, 64 or 128; batch 8, 12 or 16;
 *   learning-rate multiplier log-uniform in [0.5, 2].
 * Its target is relative: the validation loss a baseline reaches after REFERENCE_STEPS steps on the variant.
 */
import seedrandom from 'seedrandom';
import { UserError } from './errors.ts';

export interface HeldoutVariant {
  seed: number;
  model: { nLayer: number; nHead: number; nEmbd: number; blockSize: number };
  batchSize: number;
  lrScale: number;
  label: string;
}

/** The reference run's length: its last validation loss is the variant's target. */
export const REFERENCE_STEPS = 250;
/** The reference run's seed, apart from the timed seeds (0, 1, 2, ...). */
export const REFERENCE_SEED = 1000;

export const HELDOUT_RANGES = {
  nLayer: [2, 3, 4, 5, 6],
  nEmbd: [64, 96, 128, 160, 192],
  nHead: [2, 4],
  blockSize: [32, 64, 128],
  batchSize: [8, 12, 16],
  lrScale: [0.5, 2],
} as const;

export const HELDOUT_FAMILY = 'depth 2-6, width 64-192, 2 or 4 heads, context 32-128, batch 8-16, lr x0.5-2';

export function parseHeldoutSpec(spec: string): number {
  const text = spec.slice('heldout:'.length);
  const seed = Number(text);
  if (!/^\d{1,9}$/.test(text) || !Number.isSafeInteger(seed)) throw new UserError(`track ${spec}: expected heldout:<seed>, a non-negative integer`);
  return seed;
}

export function drawHeldout(seed: number): HeldoutVariant {
  const random = seedrandom(`speedrun-heldout-${seed}`);
  const pick = <T>(options: readonly T[]): T => options[Math.floor(random() * options.length)]!;
  const model = { nLayer: pick(HELDOUT_RANGES.nLayer), nEmbd: pick(HELDOUT_RANGES.nEmbd), nHead: pick(HELDOUT_RANGES.nHead), blockSize: pick(HELDOUT_RANGES.blockSize) };
  const batchSize = pick(HELDOUT_RANGES.batchSize);
  const [low, high] = HELDOUT_RANGES.lrScale;
  const lrScale = Number((low * (high / low) ** random()).toFixed(3));
  const label = `${model.nLayer} layers, width ${model.nEmbd}, ${model.nHead} heads, context ${model.blockSize}, batch ${batchSize}, lr x${lrScale}`;
  return { seed, model, batchSize, lrScale, label };
}
