/** Shared test helpers: a small learnable text fixture, a micro run plan, and a CLI runner. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveRun, type RunPlan, type RunRequest } from '../harness/run.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function tempDir(prefix = 'speedrun-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** ~60 KB of simple, learnable English-like text (deterministic). */
export function fixtureText(): string {
  const subjects = ['the cat', 'a dog', 'the old man', 'my sister', 'the teacher', 'a bird'];
  const verbs = ['sees', 'likes', 'finds', 'helps', 'calls', 'follows'];
  const objects = ['the ball', 'a red house', 'the river', 'her friend', 'the small garden', 'a book'];
  const lines: string[] = [];
  let state = 12345;
  const next = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 16) % n;
  };
  for (let i = 0; i < 2000; i++) lines.push(`${subjects[next(6)]} ${verbs[next(6)]} ${objects[next(6)]}.`);
  return lines.join('\n');
}

export function fixtureTextFile(): string {
  const file = path.join(tempDir(), 'fixture.txt');
  fs.writeFileSync(file, fixtureText());
  return file;
}

/** A micro-preset run on the fixture text, cpu backend, evaluating 1,024 tokens every 10 steps. */
export async function microPlan(overrides: Partial<RunRequest> = {}): Promise<RunPlan> {
  const plan = await resolveRun({
    recipe: 'baseline',
    track: `text:${fixtureTextFile()}`,
    backend: 'cpu',
    seed: 0,
    preset: 'micro',
    steps: 20,
    ...overrides,
  });
  plan.config.train.evalTokens = 1024;
  plan.config.train.evalInterval = 10;
  return plan;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], timeoutMs = 120_000, env: Record<string, string> = {}): CliResult {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'speedrun.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, CI: '1', ...env },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * The CLI in this process (`main` is an API): for commands that fail before any backend starts, as fast as a
 * function call. stdout and stderr are captured while it runs.
 */
export async function runMain(args: string[]): Promise<CliResult> {
  const { main } = await import('../harness/cli.ts');
  const captured = { stdout: '', stderr: '' };
  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
  const capture = (stream: 'stdout' | 'stderr') =>
    ((chunk: string | Uint8Array) => {
      captured[stream] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture('stdout');
  process.stderr.write = capture('stderr');
  try {
    const status = await main(args);
    return { status, ...captured };
  } catch (error) {
    return { status: 1, stdout: captured.stdout, stderr: `${captured.stderr}${error instanceof Error ? error.stack : String(error)}` };
  } finally {
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
  }
}
