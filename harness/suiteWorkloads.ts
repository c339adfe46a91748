/**
 * The suite's public workloads, smallest first: S, M and L span 8x in model FLOPs per token (docs/suite.md).
 * Each is a calibrated track (harness/tracks.ts); the held-out workload is drawn at suite time (harness/heldout.ts).
 */
export const SUITE_WORKLOADS = [
  { track: 'brown-char', scale: 'S' },
  { track: 'brown-char-wide', scale: 'M' },
  { track: 'brown-char-large', scale: 'L' },
] as const;
