/**
 * `speedrun run --exec "<command>"`, as an API: any trainer, launched by speedrun and timed under the same rules as
 * its own runs. The command runs in its own process group; its output is read line by line, as it comes, by the
 * parser of its log format (the parsers `import --from` uses), so the time to target is the trainer's own train
 * clock at its first evaluation at or below the target, and the wall clock is speedrun's, from launch to exit.
 *
 * Outcomes, as a union on status: success (the target reached), budget_exhausted (the run ended, or --max-time
 * stopped it, without reaching it), diverged (a loss that is not a number), failed (the trainer crashed, printed
 * no readable log, or exited before its first evaluation: the reason says which), aborted (Ctrl-C, SIGTERM or
 * SIGHUP: the trainer's whole group stopped). Every outcome is recorded: a row from launch, a bundle at the end.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../errors.ts';
import { hashCodeFiles } from '../environment.ts';
import { describeHardware, hardwareClassOf } from '../hardware.ts';
import { runChild, stopChildren } from '../interrupt.ts';
import type { ResultsStore } from '../store/database.ts';
import { externalHardwareClass, timeToTargetMs, type ExternalEval, type LogFormat, LOG_FORMATS } from './externalRun.ts';
import { PARSERS } from './importLogs.ts';
import { createExecBundle, writeExecBundle } from './execBundle.ts';
import type { ExecRecord, ExecStatus } from './execRecord.ts';

export interface ExecRequest {
  command: string;
  format: LogFormat;
  target: number;
  /** The trainer's source files: hashed into the run's code hash and carried in its bundle. */
  sources: string[];
  /** Wall-clock budget in seconds: past it the trainer's group is stopped and the run ends as budget_exhausted. */
  maxTimeSec?: number;
  /** The track the run is filed under (default exec/<format>). */
  track?: string;
  outDir: string;
}

export type { ExecRecord, ExecStatus } from './execRecord.ts';

/** The sources as name -> text, checked once: regular files, at most 8 MB together. */
function readSources(files: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  let bytes = 0;
  for (const file of files) {
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (!stat?.isFile()) throw new UserError(`--source ${file}: not a regular file`);
    bytes += stat.size;
    if (bytes > 8 * 2 ** 20) throw new UserError('--source: the sources are over 8 MB together');
    out[path.basename(file)] = fs.readFileSync(file, 'utf8');
  }
  return out;
}

export function checkExecRequest(request: ExecRequest): void {
  if (request.command.trim().length === 0) throw new UserError('--exec needs a command');
  if (!LOG_FORMATS.includes(request.format)) throw new UserError(`--log-format must be one of ${LOG_FORMATS.join(', ')}, got ${JSON.stringify(request.format)}`);
  if (!Number.isFinite(request.target)) throw new UserError('--exec needs --target (the validation loss the trainer must reach)');
  if (request.maxTimeSec !== undefined && !(request.maxTimeSec > 0)) throw new UserError(`--max-time must be a positive number of seconds, got ${request.maxTimeSec}`);
}

export async function execRun(request: ExecRequest, store: ResultsStore, options: { signal?: AbortSignal; onEval?: (e: ExternalEval) => void } = {}): Promise<ExecRecord> {
  checkExecRequest(request);
  const sources = readSources(request.sources);
  const codeHash = hashCodeFiles({ command: request.command, ...sources });
  const startedAt = new Date().toISOString();
  const runId = `${startedAt.replace(/[-:]/g, '').replace(/\..*/, '')}-exec-${request.format}-${createHash('sha256').update(codeHash).update(randomBytes(4)).digest('hex').slice(0, 6)}`;
  const track = request.track ?? `exec/${request.format}`;
  const machine = await describeHardware();
  store.startExecRun({ id: runId, command: request.command, format: request.format, track, target: request.target, startedAt, codeHash });
  const parser = PARSERS[request.format]();
  const evals: ExternalEval[] = [];
  let timedOut = false;
  const started = performance.now();
  const timer = request.maxTimeSec === undefined ? undefined : setTimeout(() => ((timedOut = true), void stopChildren()), request.maxTimeSec * 1000);
  const onAbort = () => void stopChildren();
  options.signal?.addEventListener('abort', onAbort);
  let seen = 0;
  const child = await runChild('/bin/sh', ['-c', request.command], {
    cwd: process.cwd(),
    onStdoutLine: (line) => {
      parser.line(line);
      const progress = parser.progress?.();
      if (progress && progress.evals > seen) {
        seen = progress.evals;
        if (progress.lastEval) {
          evals.push(progress.lastEval);
          options.onEval?.(progress.lastEval);
        }
      }
    },
  });
  clearTimeout(timer);
  options.signal?.removeEventListener('abort', onAbort);
  const wallTimeMs = performance.now() - started;
  const parsed = parser.end();
  const run = parsed.status === 'read' ? parsed.run : undefined;
  const all = run?.evals ?? evals;
  const final = all.at(-1);
  const reached = run ? timeToTargetMs(run, request.target) : null;
  const stderrTail = child.stderr.trim().split('\n').slice(-5).join('\n');
  const [status, reason]: [ExecStatus, string] = options.signal?.aborted
    ? ['aborted', 'interrupted: the trainer\'s process group was stopped']
    : child.error
      ? ['failed', `the command could not start (${child.error.message})`]
      : parsed.status === 'refused' && /is NaN|is Infinity/.test(parsed.reason)
        ? ['diverged', parsed.reason]
        : reached !== null
          ? ['success', `${final!.value} at step ${final!.step}; target ${request.target} first reached at ${(reached / 1000).toFixed(1)} s of train time`]
          : timedOut
            ? ['budget_exhausted', `stopped at --max-time ${request.maxTimeSec} s of wall time without reaching ${request.target}`]
            : child.status !== 0
              ? ['failed', `the trainer exited with ${child.signal ?? `code ${child.status}`}${stderrTail ? `: ${stderrTail.split('\n').at(-1)}` : ''}`]
              : parsed.status === 'refused'
                ? ['failed', `its output is not a readable ${request.format} log: ${parsed.reason}`]
                : ['budget_exhausted', `finished at step ${run!.steps} with ${final!.value}, above the target ${request.target}`];
  const gpus = run?.gpus ?? [];
  const record: ExecRecord = {
    runId,
    status,
    reason,
    command: request.command,
    format: request.format,
    track,
    target: request.target,
    startedAt,
    wallTimeMs,
    exitCode: child.status,
    trainTimeMs: final?.trainTimeMs ?? null,
    timeToTargetMs: reached,
    steps: run?.steps ?? final?.step ?? null,
    finalValue: final?.value ?? null,
    evals: all,
    codeHash,
    software: run?.software ?? {},
    hardwareClass: gpus.length > 0 ? externalHardwareClass({ gpus }) : hardwareClassOf(machine),
    stderrTail,
  };
  const bundlePath = path.join(request.outDir, 'bundles', `${runId}.json`);
  const bundle = createExecBundle(record, sources);
  writeExecBundle(bundle, bundlePath);
  store.finishExecRun(record, { path: path.resolve(bundlePath), checksum: bundle.checksum });
  return record;
}
