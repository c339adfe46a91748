/**
 * The one signal path of the long commands that start other processes or leave temporary things behind while
 * they work (ci, calibrate, pack, and the trainers that `run --exec` starts). Inside `interruptible`, Ctrl-C,
 * SIGTERM and SIGHUP end the command the documented way: every child's whole process group is asked to stop
 * (SIGTERM, then SIGKILL after a grace period), every registered cleanup runs (worktrees, staging folders,
 * partial files), and the command exits 130. A second signal skips the grace period.
 *
 * `run` itself answers signals on its own path (harness/cli.ts): it finishes the step in progress and records the
 * run as aborted, which `suite` and `retime` then stop on.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { EXIT } from './errors.ts';

/** How long children get to stop after SIGTERM (a speedrun run finishes its step and writes its bundle). */
export const CHILD_GRACE_MS = 10_000;
/** What a child's output keeps of each stream: its tail (a child that floods its output cannot fill memory). */
export const CHILD_OUTPUT_TAIL_BYTES = 1 << 20;

const cleanups: (() => void)[] = [];
const children = new Set<ChildProcess>();

/** Registers a cleanup to run if the command is interrupted; returns the function that unregisters it. */
export function onInterrupt(cleanup: () => void): () => void {
  cleanups.push(cleanup);
  return () => {
    const i = cleanups.indexOf(cleanup);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** Signals the child's whole process group (it leads its own), whether or not the leader itself is still there. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is gone.
  }
}

/** Whether any process of the child's group is still alive. */
function groupAlive(child: ChildProcess): boolean {
  if (child.pid === undefined) return false;
  try {
    process.kill(-child.pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** How long what a child left behind in its group gets after the child exits, before SIGKILL. */
const LEFTOVER_GRACE_MS = 2_000;

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  /** The last CHILD_OUTPUT_TAIL_BYTES of each stream. */
  stdout: string;
  stderr: string;
  /** The spawn error (a command that does not exist), if any. */
  error?: Error;
}

/**
 * Runs a command in its own process group, asynchronously, so that a signal reaches this process at once and can
 * stop the child's whole group. `onLine` sees stdout line by line as it comes.
 */
export function runChild(command: string, args: string[], options: SpawnOptions & { onStdoutLine?: (line: string) => void } = {}): Promise<ChildResult> {
  const { onStdoutLine, ...spawnOptions } = options;
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...spawnOptions, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const tail = { stdout: '', stderr: '' };
    let pending = '';
    const keep = (stream: 'stdout' | 'stderr', chunk: string) => {
      tail[stream] += chunk;
      if (tail[stream].length > 2 * CHILD_OUTPUT_TAIL_BYTES) tail[stream] = tail[stream].slice(-CHILD_OUTPUT_TAIL_BYTES);
    };
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      keep('stdout', chunk);
      if (!onStdoutLine) return;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      if (pending.length > CHILD_OUTPUT_TAIL_BYTES) pending = pending.slice(-CHILD_OUTPUT_TAIL_BYTES); // one endless line
      for (const line of lines) onStdoutLine(line);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => keep('stderr', chunk));
    let error: Error | undefined;
    child.on('error', (e) => (error = e));
    // What the child left running in its group (a daemon, a stray worker holding the output pipe open) does not
    // outlive it: asked to stop, then killed.
    child.on('exit', () => {
      if (!groupAlive(child)) return;
      signalGroup(child, 'SIGTERM');
      setTimeout(() => signalGroup(child, 'SIGKILL'), LEFTOVER_GRACE_MS).unref();
    });
    child.on('close', (status, signal) => {
      children.delete(child);
      if (onStdoutLine && pending.length > 0) onStdoutLine(pending);
      const trim = (s: string) => (s.length > CHILD_OUTPUT_TAIL_BYTES ? s.slice(-CHILD_OUTPUT_TAIL_BYTES) : s);
      resolve({ status, signal, stdout: trim(tail.stdout), stderr: trim(tail.stderr), ...(error ? { error } : {}) });
    });
  });
}

/** Stops every running child's group: SIGTERM, then SIGKILL for those still there after `graceMs`. */
export async function stopChildren(graceMs = CHILD_GRACE_MS): Promise<void> {
  const running = [...children];
  for (const child of running) signalGroup(child, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && running.some(groupAlive)) await new Promise((r) => setTimeout(r, 50));
  for (const child of running) signalGroup(child, 'SIGKILL');
}

function runCleanups(): void {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      cleanup();
    } catch {
      // One failed cleanup must not keep the others from running.
    }
  }
}

/**
 * Runs a long command with the signal path above. The command's own `finally` blocks still run on a normal end;
 * on a signal the cleanups run here and the process exits 130 (`log` says what happened, once).
 */
export async function interruptible<T>(work: () => Promise<T>, log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<T> {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal skips the children's grace period.
    const graceMs = stopping ? 0 : CHILD_GRACE_MS;
    if (!stopping) log(`${signal === 'SIGINT' ? 'interrupted' : `received ${signal}`}: stopping child processes and removing temporary files (again to quit at once)`);
    stopping = true;
    void stopChildren(graceMs).then(() => {
      runCleanups();
      process.exit(EXIT.aborted);
    });
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const signal of signals) process.on(signal, onSignal);
  try {
    return await work();
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
  }
}

/**
 * The graceful path of a run (`run`, `run --exec`): the first Ctrl-C, SIGTERM or SIGHUP aborts `signal`, and the
 * work ends the run its own way and records it as aborted (`doing` says how); a second signal quits at once.
 */
export async function abortOnSignals<T>(doing: string, log: (line: string) => void, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(EXIT.aborted); // a second signal: leave now
    controller.abort();
    log(`\n${signal === 'SIGINT' ? 'interrupted' : `received ${signal}`}: ${doing} (Ctrl-C again to quit at once)`);
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const signal of signals) process.on(signal, onSignal);
  try {
    return await work(controller.signal);
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
  }
}
