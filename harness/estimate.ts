/**
 * Before a run starts: how long would one step take on this backend? The model's matrix-product FLOPs per
 * step (forward 2·m·n·k per product, backward twice that) over the rate of one large product measured here
 * (harness/peaks.ts, the MFU's peak). It is
 * a lower bound (elementwise work and overhead come on top), enough to refuse a run whose first evaluation
 * would be hours away (gpt2-small on a CPU) before it takes the machine.
 */
import type { RunConfig } from './config.ts';

/** 3 x the forward pass's matrix products: attention projections, attention itself, MLP and the head. */
export function estimatedFlopsPerStep(config: RunConfig): number {
  const { nLayer: L, nEmbd: d, blockSize: T, vocabSize: V } = config.model;
  const tokens = config.train.batchSize * config.train.gradAccumSteps * T;
  const perTokenForward = L * (2 * 4 * d * d + 2 * 8 * d * d + 2 * 2 * T * d) + 2 * d * V;
  return 3 * perTokenForward * tokens;
}

/** Below this many FLOPs before the first evaluation no estimate is made (the nano tracks are far below it). */
export const ESTIMATE_ABOVE_FLOPS = 1e13;
/** A run whose first evaluation is estimated further away than this needs --force. */
export const MAX_FIRST_EVAL_MS = 60 * 60 * 1000;
