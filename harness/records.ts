/**
 * The records the stages hand forward, as plain data: what an evaluation measured, what training produced (a
 * union on status, as tinybench's task results: a run that reached its target has a time to target, one that did
 * not has none), and the run record every later stage (store, verify, submit, publish) reads.
 *
 * A leaf: it imports types only, from modules that import nothing of the stages (config, backends' info,
 * environment, hardware), so no stage's types come from a later stage and nothing imports back.
 */
import type { BackendInfo } from './backends/index.ts';
import type { RunConfig } from './config.ts';
import type { Environment } from './environment.ts';
import type { HardwareFingerprint } from './hardware.ts';

export type RunStatus = 'success' | 'budget_exhausted' | 'diverged' | 'aborted';

export interface EvalPoint {
  step: number;
  tokens: number;
  trainTimeMs: number;
  valLoss: number;
}

export interface StepPoint {
  step: number;
  trainLoss: number;
  stepMs: number;
  trainTimeMs: number;
  lrFactor: number;
}

/** A run's compute figures (harness/compute.ts computes them). */
export interface ComputeFigures {
  /** 3 × the forward pass's matrix products per optimizer step (its whole global batch). */
  modelFlopsPerStep: number;
  /** The products a training step executed on this engine (forward, backward, optimizer); null where not counted. */
  executedFlopsPerStep: number | null;
  /** modelFlopsPerStep × steps to target; null when the target was not reached. */
  flopsToTarget: number | null;
  /** Model FLOP/s of train time ÷ the peak; null without train time or a peak. */
  mfu: number | null;
  /** The peak the MFU is relative to, and how it was obtained. */
  peak: { flopsPerSec: number; method: string } | null;
  /** Dollars per hour of this hardware class, and for the time to target (null if not reached); absent without a price. */
  pricePerHour?: number;
  costToTarget?: number | null;
}

interface OutcomeCommon {
  reason: string;
  steps: number;
  tokens: number;
  trainTimeMs: number;
  finalValLoss: number | null;
  bestValLoss: number | null;
  initMs: number;
  warmupMs: number;
  evalMs: number;
  evals: EvalPoint[];
  parameters: number;
  optimizer: string;
  /**
   * Products executed by one training step, counted during the warm-up step (null: not counted, e.g. workers;
   * absent in records made before they were counted).
   */
  executedFlopsPerStep?: number | null;
  /** Data-parallel runs: workers, comms variant, and the median per-step exchange cost. */
  parallel?: { workers: number; comms: string; commMsPerStep: number; commBytesPerStep: number };
}

/** Train clock at the first evaluation at or below the target, and its step and tokens. */
export interface Reached {
  status: 'success';
  timeToTargetMs: number;
  stepsToTarget: number;
  tokensToTarget: number;
}

export interface NotReached {
  status: Exclude<RunStatus, 'success'>;
  timeToTargetMs: null;
  stepsToTarget: null;
  tokensToTarget: null;
}

/** What the training stage produced. */
export type TrainOutcome = OutcomeCommon & (Reached | NotReached);

/** What the run was, beside what training produced. */
export interface RunFacts {
  schema: 2;
  runId: string;
  createdAt: string;
  track: { id: string; name: string; version: number; dataHash: string; target: number; official: boolean; overrides: string[] };
  recipes: string[];
  notes: string[];
  config: RunConfig;
  backend: BackendInfo;
  environment: Environment;
  hardware: HardwareFingerprint;
  codeHash: string;
  wallTimeMs: number;
  tokensPerSec: number;
  msPerStep: number;
  peakRssMiB: number;
  eventLog: string;
  /** The immutable run bundle (results/bundles/<runId>.json). */
  bundle: string;
  /** FLOPs, MFU and cost (absent in records made before they were counted). */
  compute?: ComputeFigures;
}

/** Everything a finished (or interrupted) run leaves behind: the content of run.json. */
export type RunRecord = RunFacts & TrainOutcome;
