/**
 * A run bundle: one immutable JSON file holding everything needed to check a run offline, like a modded-nanogpt
 * record folder — the run record (config, environment, hardware, times, losses), its full event log, the source
 * of harness/ and recipes/ it ran, and a sha256 checksum over all of it.
 *
 * `verifyBundle` recomputes the checksum and then re-derives every headline number from the event log and the
 * code hash from the sources, so an edit to a loss, a time or the code hash is caught even when the editor also
 * recomputes the checksum. (A forger who rewrites the whole log consistently is not caught offline: that takes a
 * re-run, which is why records are re-timed on the same hardware.)
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hashCodeFiles } from '../environment.ts';
import { UserError } from '../errors.ts';
import type { EventRecord } from '../events.ts';
import type { RunRecord } from '../run.ts';

export const BUNDLE_KIND = 'speedrun-run-bundle';
export const BUNDLE_VERSION = 1;

export interface RunBundle {
  kind: typeof BUNDLE_KIND;
  version: typeof BUNDLE_VERSION;
  run: RunRecord;
  events: EventRecord[];
  code: { hash: string; files: Record<string, string> };
  /** "sha256:<hex>" of the canonical JSON of every other field. */
  checksum: string;
}

/** JSON with object keys sorted at every level, so the checksum does not depend on key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function checksumOf(body: Omit<RunBundle, 'checksum'>): string {
  return `sha256:${createHash('sha256').update(canonicalJson(body)).digest('hex')}`;
}

export function createBundle(run: RunRecord, events: EventRecord[], files: Record<string, string>): RunBundle {
  const body = { kind: BUNDLE_KIND, version: BUNDLE_VERSION, run, events, code: { hash: hashCodeFiles(files), files } } as const;
  return { ...body, checksum: checksumOf(body) };
}

/** Writes the bundle once (never overwrites) and makes it read-only. */
export function writeBundle(bundle: RunBundle, file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(bundle)}\n`, { flag: 'wx', mode: 0o444 });
}

/** Bundle files from files and directories (searched recursively for .json), sorted; a missing path is an error. */
export function bundlePaths(specs: string[]): string[] {
  return specs
    .flatMap((spec) => {
      const stat = fs.statSync(spec, { throwIfNoEntry: false });
      if (!stat) throw new UserError(`${spec}: no such bundle file or directory`);
      if (!stat.isDirectory()) return [spec];
      return fs.readdirSync(spec, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json')).map((f) => path.join(spec, f));
    })
    .sort();
}

export function readBundle(file: string): RunBundle {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new UserError(`${file}: not a readable run bundle (${why})`);
  }
  const b = parsed as Partial<RunBundle> | null;
  if (b === null || typeof b !== 'object' || b.kind !== BUNDLE_KIND) throw new UserError(`${file}: not a speedrun run bundle`);
  if (b.version !== BUNDLE_VERSION) throw new UserError(`${file}: bundle version ${String(b.version)} is not supported (this speedrun reads version ${BUNDLE_VERSION})`);
  if (!b.run || !Array.isArray(b.events) || !b.code || typeof b.checksum !== 'string') throw new UserError(`${file}: run bundle is incomplete`);
  return b as RunBundle;
}

export type Verification = { status: 'valid' } | { status: 'invalid'; problems: string[] };

const close = (a: number, b: number, tolerance = 1e-9): boolean => Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(a), Math.abs(b));
const sameNullable = (a: number | null, b: number | null): boolean => (a === null || b === null ? a === b : close(a, b));

export function verifyBundle(bundle: RunBundle): Verification {
  const problems: string[] = [];
  const { checksum, ...body } = bundle;
  if (checksumOf(body) !== checksum) problems.push('checksum does not match the content (the bundle was edited)');
  const run = bundle.run;
  const sourceHash = hashCodeFiles(bundle.code.files);
  if (sourceHash !== bundle.code.hash || sourceHash !== run.codeHash) problems.push('code hash does not match the bundled sources');

  // Re-derive the headline numbers from the event log.
  const stepEvents = bundle.events.filter((e) => e.key === 'train_loss');
  const evalEvents = bundle.events.filter((e) => e.key === 'eval_loss');
  const stepMs = stepEvents.map((e) => Number(e.metadata.step_ms));
  const trainTimeMs = stepMs.reduce((a, b) => a + b, 0);
  if (stepEvents.length !== run.steps) problems.push(`steps: the log has ${stepEvents.length}, the record says ${run.steps}`);
  if (!close(trainTimeMs, run.trainTimeMs, 1e-6)) problems.push(`train time: the log sums to ${trainTimeMs.toFixed(3)} ms, the record says ${run.trainTimeMs}`);
  const evals = evalEvents.map((e) => ({ step: Number(e.metadata.step), trainTimeMs: Number(e.metadata.train_time_ms), valLoss: Number(e.value) }));
  const evalsMatch =
    evals.length === run.evals.length &&
    evals.every((e, i) => e.step === run.evals[i]!.step && close(e.valLoss, run.evals[i]!.valLoss) && close(e.trainTimeMs, run.evals[i]!.trainTimeMs));
  if (!evalsMatch) problems.push('validation losses or their times differ from the event log');
  const reached = evals.find((e) => e.valLoss <= run.track.target);
  if (!sameNullable(reached?.trainTimeMs ?? null, run.timeToTargetMs)) problems.push('time to target is not the train time of the first evaluation at or below the target');
  if ((reached?.step ?? null) !== run.stepsToTarget) problems.push('steps to target is not the step of the first evaluation at or below the target');
  if (!sameNullable(evals.at(-1)?.valLoss ?? null, run.finalValLoss)) problems.push('final validation loss is not the last evaluation');
  if ((run.status === 'success') !== (reached !== undefined)) problems.push(`status '${run.status}' contradicts the evaluations`);
  const stop = bundle.events.find((e) => e.key === 'run_stop');
  if (stop && stop.value !== run.status) problems.push(`status: the log says '${String(stop.value)}', the record says '${run.status}'`);
  for (let i = 1; i < bundle.events.length; i++) {
    if (bundle.events[i]!.time_ms < bundle.events[i - 1]!.time_ms) {
      problems.push('event timestamps go backwards');
      break;
    }
  }
  return problems.length === 0 ? { status: 'valid' } : { status: 'invalid', problems };
}
