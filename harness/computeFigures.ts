/**
 * A run's compute figures from its counts and times: FLOPs to target, MFU and cost (harness/compute.ts counts the
 * FLOPs). Pure: the store's verification recomputes them from a bundle's own numbers with this same function.
 */
import type { ComputeFigures } from './records.ts';

export function computeFigures(input: {
  modelFlopsPerStep: number;
  executedFlopsPerStep: number | null;
  steps: number;
  trainTimeMs: number;
  stepsToTarget: number | null;
  timeToTargetMs: number | null;
  peak: { flopsPerSec: number; method: string } | null;
  pricePerHour?: number;
}): ComputeFigures {
  const { modelFlopsPerStep: perStep, steps, trainTimeMs, peak } = input;
  const mfu = peak && trainTimeMs > 0 && steps > 0 ? (perStep * steps) / (trainTimeMs / 1000) / peak.flopsPerSec : null;
  return {
    modelFlopsPerStep: perStep,
    executedFlopsPerStep: input.executedFlopsPerStep,
    flopsToTarget: input.stepsToTarget === null ? null : perStep * input.stepsToTarget,
    mfu,
    peak,
    ...(input.pricePerHour !== undefined
      ? { pricePerHour: input.pricePerHour, costToTarget: input.timeToTargetMs === null ? null : (input.timeToTargetMs / 3_600_000) * input.pricePerHour }
      : {}),
  };
}
