/**
 * An external run: a training run of any trainer, read from its log. speedrun cannot re-run it; it can check that
 * the log is consistent (steps and clock never go backwards, losses are numbers, the run reached its last step)
 * and judge it under a track's rules. Every parser builds one through `ExternalRunBuilder`, which holds those checks.
 */
export type LogFormat = 'modded-nanogpt' | 'mllog' | 'jsonl';
export const LOG_FORMATS: readonly LogFormat[] = ['modded-nanogpt', 'mllog', 'jsonl'];

export interface ExternalEval {
  step: number;
  /** The evaluation metric's value (validation loss, or MLPerf's eval_accuracy). */
  value: number;
  /** The trainer's own train clock at the evaluation (evaluation time excluded where the trainer pauses it). */
  trainTimeMs: number;
}

export interface ExternalRun {
  format: LogFormat;
  /** The metric the evaluations report, and which way is better. */
  metric: { name: string; lowerIsBetter: boolean };
  /** sha256 of the trainer's source embedded in the log; null where the log has none. */
  codeHash: string | null;
  /** Software versions the log states (python, pytorch, cuda, triton...). */
  software: Record<string, string>;
  /** One entry per GPU the log lists, e.g. "NVIDIA H100 80GB HBM3". */
  gpus: string[];
  /** The steps the trainer planned, where it says; the last step it logged. */
  plannedSteps: number | null;
  steps: number;
  evals: ExternalEval[];
  peakMemoryMiB: number | null;
}

/** The most evaluations one run may log (a trainer that evaluates every step of a long run stays under it). */
export const MAX_EVALS = 100_000;

export type ParsedLog = { status: 'read'; run: ExternalRun } | { status: 'refused'; reason: string };

/** How far a log has got: what a live run's progress shows. */
export interface LogProgress {
  step: number;
  evals: number;
  lastEval?: ExternalEval;
}

/** A log's parser: fed line by line (a file, or a live trainer's output), then asked for the run. */
export interface LogParser {
  line(text: string): void;
  end(): ParsedLog;
  progress?(): LogProgress;
}

/** Collects a run's facts as a parser finds them and refuses, with the first reason, a log that is not consistent. */
export class ExternalRunBuilder {
  readonly software: Record<string, string> = {};
  readonly gpus: string[] = [];
  codeHash: string | null = null;
  plannedSteps: number | null = null;
  peakMemoryMiB: number | null = null;
  private lastStep = -1;
  private lastClockMs = 0;
  private restarted = false;
  private readonly evals: ExternalEval[] = [];
  private problem: string | undefined;

  constructor(
    readonly format: LogFormat,
    readonly metric: ExternalRun['metric'],
  ) {}

  /** The first problem found wins; later lines cannot hide it. */
  refuse(reason: string): void {
    this.problem ??= reason;
  }

  /** A step the trainer logged, with its train clock where the line has one. */
  step(step: number, trainTimeMs: number | null, where: string): void {
    if (!Number.isInteger(step) || step < 0) return this.refuse(`${where}: step ${step} is not a step number`);
    if (step < this.lastStep) return this.refuse(`${where}: step ${step} after step ${this.lastStep} (steps go backwards)`);
    this.lastStep = step;
    if (trainTimeMs === null) return;
    if (!Number.isFinite(trainTimeMs) || trainTimeMs < 0) return this.refuse(`${where}: train time ${trainTimeMs} ms is not a time`);
    if (trainTimeMs < this.lastClockMs) {
      // modded-nanogpt's older trainers restart the clock after their first steps (compilation warm-up left out):
      // one restart is the trainer's rule while no evaluation past step 0 has been timed; any other is refused.
      const early = !this.restarted && this.evals.every((e) => e.step === 0);
      if (!early) return this.refuse(`${where}: the train clock goes backwards (${trainTimeMs} ms after ${this.lastClockMs} ms)`);
      this.restarted = true;
    }
    this.lastClockMs = trainTimeMs;
  }

  /** An evaluation at a step (logged through `step` too). */
  evaluation(step: number, value: number, trainTimeMs: number, where: string): void {
    this.step(step, trainTimeMs, where);
    if (!Number.isFinite(value)) return this.refuse(`${where}: ${this.metric.name} is ${value} at step ${step}`);
    if (this.evals.length >= MAX_EVALS) return this.refuse(`more than ${MAX_EVALS} evaluations`);
    this.evals.push({ step, value, trainTimeMs });
  }

  progress(): LogProgress {
    const lastEval = this.evals.at(-1);
    return { step: this.lastStep, evals: this.evals.length, ...(lastEval ? { lastEval } : {}) };
  }

  end(): ParsedLog {
    if (this.problem) return { status: 'refused', reason: this.problem };
    const last = this.evals.at(-1);
    if (!last) return { status: 'refused', reason: `no ${this.metric.name} line: nothing to judge` };
    if (this.plannedSteps !== null && this.lastStep < this.plannedSteps) return { status: 'refused', reason: `stops at step ${this.lastStep} of ${this.plannedSteps} (incomplete run)` };
    if (this.plannedSteps !== null && last.step < this.plannedSteps) return { status: 'refused', reason: `no evaluation at the last step ${this.plannedSteps} (the last is at step ${last.step})` };
    return {
      status: 'read',
      run: {
        format: this.format,
        metric: this.metric,
        codeHash: this.codeHash,
        software: { ...this.software },
        gpus: [...this.gpus],
        plannedSteps: this.plannedSteps,
        steps: Math.max(this.lastStep, last.step),
        evals: [...this.evals],
        peakMemoryMiB: this.peakMemoryMiB,
      },
    };
  }
}

/** The hardware class of an external run: its GPUs by model and count ("NVIDIA H100 80GB HBM3 x8"), or unknown. */
export function externalHardwareClass(run: Pick<ExternalRun, 'gpus'>): string {
  if (run.gpus.length === 0) return 'unknown hardware (the log names no GPU)';
  const models = [...new Set(run.gpus)].sort();
  return models.map((m) => `${m} x${run.gpus.filter((g) => g === m).length}`).join(' + ');
}

/** The final evaluation's value, and the train clock at it: what a fixed-step track judges. */
export const finalEval = (run: ExternalRun): ExternalEval => run.evals.at(-1)!;

/** The train clock at the first evaluation at or past the target (MLPerf's time to train), or null. */
export function timeToTargetMs(run: ExternalRun, target: number): number | null {
  const reached = run.evals.find((e) => (run.metric.lowerIsBetter ? e.value <= target : e.value >= target));
  return reached ? reached.trainTimeMs : null;
}
