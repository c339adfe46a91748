/**
 * The bundle of a run that speedrun launched (`run --exec`): the record, the trainer's sources and command, and a
 * sha256 checksum over all of it, like a run bundle. `verifyExecBundle` recomputes the checksum and the code hash
 * and re-derives the headline numbers from the evaluations it carries; what it cannot check is that the trainer's
 * clock told the truth (the wall clock beside it is speedrun's own).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { hashCodeFiles } from '../environment.ts';
import { canonicalJson } from '../store/bundle.ts';
import { isSafeName } from '../names.ts';
import type { ExecRecord } from './execRecord.ts';

export const EXEC_BUNDLE_KIND = 'speedrun-exec-bundle' as const;

export interface ExecBundle {
  kind: typeof EXEC_BUNDLE_KIND;
  version: 1;
  run: ExecRecord;
  sources: Record<string, string>;
  checksum: string;
}

const checksumOf = (body: Omit<ExecBundle, 'checksum'>) => `sha256:${createHash('sha256').update(canonicalJson(body)).digest('hex')}`;

export function createExecBundle(run: ExecRecord, sources: Record<string, string>): ExecBundle {
  const body = { kind: EXEC_BUNDLE_KIND, version: 1, run, sources } as const;
  return { ...body, checksum: checksumOf(body) };
}

export function writeExecBundle(bundle: ExecBundle, file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(bundle)}\n`, { flag: 'wx', mode: 0o444 });
}

const finite = z.number().finite();
const nullableFinite = finite.nullable();
/** The shape, checked once when read: every file is hostile. */
const execBundleSchema = z.object({
  kind: z.literal(EXEC_BUNDLE_KIND),
  version: z.literal(1),
  run: z.object({
    runId: z.string().refine(isSafeName, 'run id: letters, digits and ._+- only'),
    status: z.enum(['success', 'budget_exhausted', 'diverged', 'failed', 'aborted']),
    reason: z.string().max(10_000),
    command: z.string().max(100_000),
    format: z.enum(['modded-nanogpt', 'mllog', 'jsonl']),
    track: z.string().max(200),
    target: finite,
    startedAt: z.string().max(100),
    wallTimeMs: finite,
    exitCode: z.number().int().nullable(),
    trainTimeMs: nullableFinite,
    timeToTargetMs: nullableFinite,
    steps: z.number().int().nullable(),
    finalValue: nullableFinite,
    evals: z.array(z.object({ step: z.number().int().nonnegative(), value: finite, trainTimeMs: finite })).max(100_000),
    codeHash: z.string().regex(/^[0-9a-f]{64}$/),
    software: z.record(z.string().max(50), z.string().max(200)),
    hardwareClass: z.string().max(500),
    stderrTail: z.string().max(100_000),
  }),
  sources: z.record(z.string().max(200), z.string()),
  checksum: z.string(),
});

/** Whether a parsed JSON value claims to be an exec bundle (what `checkExecBundle` then checks). */
export const isExecBundle = (json: unknown): boolean => typeof json === 'object' && json !== null && (json as { kind?: unknown }).kind === EXEC_BUNDLE_KIND;

/** An exec bundle from a parsed JSON value: its shape, then every verification; the problems otherwise. */
export function checkExecBundle(json: unknown): { ok: true; bundle: ExecBundle } | { ok: false; problems: string[] } {
  const parsed = execBundleSchema.safeParse(json);
  if (!parsed.success) return { ok: false, problems: [`malformed exec bundle (${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message})`] };
  const bundle = json as ExecBundle;
  const problems = verifyExecBundle(bundle);
  return problems.length === 0 ? { ok: true, bundle } : { ok: false, problems };
}

export function verifyExecBundle(bundle: ExecBundle): string[] {
  const problems: string[] = [];
  const { checksum, ...body } = bundle;
  if (checksumOf(body) !== checksum) problems.push('checksum does not match the content (the bundle was edited)');
  const run = bundle.run;
  if (hashCodeFiles({ command: run.command, ...bundle.sources }) !== run.codeHash) problems.push('code hash does not match the bundled command and sources');
  for (let i = 1; i < run.evals.length; i++) {
    if (run.evals[i]!.step < run.evals[i - 1]!.step) problems.push('evaluation steps go backwards');
  }
  const final = run.evals.at(-1);
  if ((final?.value ?? null) !== run.finalValue || (final?.trainTimeMs ?? null) !== run.trainTimeMs) problems.push('the final value or train time is not the last evaluation');
  const reached = run.evals.find((e) => e.value <= run.target);
  const claimed = run.status === 'success';
  if (claimed !== (reached !== undefined && run.timeToTargetMs === reached.trainTimeMs)) problems.push(`status '${run.status}' and time to target ${run.timeToTargetMs} do not follow from the evaluations`);
  if (!claimed && run.timeToTargetMs !== null && run.status !== 'aborted') problems.push('a time to target on a run that did not succeed');
  return problems;
}
