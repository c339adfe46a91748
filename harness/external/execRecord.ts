/** What a launched trainer's run (`run --exec`) records: the exec stage's output, its bundle's content. */
import type { ExternalEval, LogFormat } from './externalRun.ts';

export type ExecStatus = 'success' | 'budget_exhausted' | 'diverged' | 'failed' | 'aborted';

export interface ExecRecord {
  runId: string;
  status: ExecStatus;
  reason: string;
  command: string;
  format: LogFormat;
  track: string;
  target: number;
  startedAt: string;
  wallTimeMs: number;
  exitCode: number | null;
  /** The trainer's clock at its final evaluation, and at the first at or below the target. */
  trainTimeMs: number | null;
  timeToTargetMs: number | null;
  steps: number | null;
  finalValue: number | null;
  evals: ExternalEval[];
  codeHash: string;
  software: Record<string, string>;
  hardwareClass: string;
  /** The last lines of the trainer's stderr, for a failure's reason. */
  stderrTail: string;
}

