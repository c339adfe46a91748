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
import { computeFigures } from '../computeFigures.ts';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hashCodeFiles } from '../environment.ts';
import { EXIT, UserError } from '../errors.ts';
import { isKnownRecipe } from '../../recipes/index.ts';
import { parseBundleShape } from './bundleShape.ts';
import type { EventRecord } from '../events.ts';
import type { RunRecord } from '../records.ts';

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

/**
 * Reads a bundle and checks its shape (bundleShape.ts) once: a missing file is bad input (exit 2); a file that is
 * not a well-formed bundle is refused like one that fails verification (exit 5), by `verify` and `import` alike.
 */
export function readBundle(file: string): RunBundle {
  return parseBundle(readBundleText(file), file);
}

/** A bundle file's text; a path that cannot be read is bad input (exit 2). */
export function readBundleText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(`${file}: not a readable run bundle (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : (error as Error).message})`);
  }
}

/** A bundle from its JSON text; `label` names it in errors. Every problem is a UserError with exit code 5. */
export function parseBundle(text: string, label: string): RunBundle {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UserError(`${label}: not a readable run bundle (${(error as Error).message})`, EXIT.rejected);
  }
  return bundleFromJson(parsed, label);
}

/** A bundle from a parsed JSON value, its shape checked once; every problem is a UserError with exit code 5. */
export function bundleFromJson(parsed: unknown, label: string): RunBundle {
  const b = parsed as Partial<RunBundle> | null;
  if (b === null || typeof b !== 'object' || b.kind !== BUNDLE_KIND) throw new UserError(`${label}: not a speedrun run bundle`, EXIT.rejected);
  if (b.version !== BUNDLE_VERSION) throw new UserError(`${label}: bundle version ${String(b.version)} is not supported (this speedrun reads version ${BUNDLE_VERSION})`, EXIT.rejected);
  const shape = parseBundleShape(parsed);
  if (!shape.ok) throw new UserError(`${label}: malformed run bundle (${shape.problem})`, EXIT.rejected);
  // The checked value itself (not zod's copy), so the checksum sees exactly what the file holds.
  return parsed as RunBundle;
}

/** readBundle, then verifyBundle: a bundle that does not verify is refused (exit 5) with its first problem. */
export function readVerifiedBundle(file: string): RunBundle {
  const bundle = readBundle(file);
  const verdict = verifyBundle(bundle);
  if (verdict.status === 'invalid') throw new UserError(`${file} does not verify (${verdict.problems[0]})`, EXIT.rejected);
  return bundle;
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
  // MLPerf's run_stop carries success/aborted in metadata.status; speedrun's own status is the value.
  if (stop && stop.value !== run.status) problems.push(`status: the log says '${String(stop.value)}', the record says '${run.status}'`);
  for (let i = 1; i < bundle.events.length; i++) {
    if (bundle.events[i]!.time_ms < bundle.events[i - 1]!.time_ms) {
      problems.push('event timestamps go backwards');
      break;
    }
  }
  problems.push(...bindingProblems(bundle), ...computeProblems(bundle.run));
  return problems.length === 0 ? { status: 'valid' } : { status: 'invalid', problems };
}

/**
 * The compute figures must follow from the record's own numbers: FLOPs to target = model FLOPs a step × steps to
 * target, MFU = model FLOPs × steps ÷ train time ÷ peak, cost = time to target × price. That the model FLOPs
 * themselves follow from the bundled config is checked by `verify` (harness/verifyBundles.ts), which counts them.
 */
function computeProblems(run: RunBundle['run']): string[] {
  const c = run.compute;
  if (!c) return [];
  const expected = computeFigures({ ...c, steps: run.steps, trainTimeMs: run.trainTimeMs, stepsToTarget: run.stepsToTarget, timeToTargetMs: run.timeToTargetMs });
  const close = (a: number | null | undefined, b: number | null | undefined) =>
    a === null || a === undefined || b === null || b === undefined ? (a ?? null) === (b ?? null) : Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  const problems: string[] = [];
  if (!close(c.flopsToTarget, expected.flopsToTarget)) problems.push(`compute: FLOPs to target ${c.flopsToTarget} is not model FLOPs a step × steps to target (${expected.flopsToTarget})`);
  if (!close(c.mfu, expected.mfu)) problems.push(`compute: MFU ${c.mfu} does not follow from the model FLOPs, steps, train time and peak (${expected.mfu})`);
  if (!close(c.costToTarget, expected.costToTarget)) problems.push(`compute: cost to target ${c.costToTarget} is not time to target × price (${expected.costToTarget})`);
  // An engine cannot run the model's products faster than its own peak: MFU above 1 means a forged (or wrong) peak.
  if (c.mfu !== null && c.mfu > 1) problems.push(`compute: MFU ${(100 * c.mfu).toFixed(1)} % is above 100 % of the peak (${c.peak?.flopsPerSec} FLOP/s): the peak cannot be this engine's`);
  if (c.peak && !(c.peak.flopsPerSec > 0)) problems.push(`compute: peak ${c.peak.flopsPerSec} FLOP/s is not positive`);
  if (c.executedFlopsPerStep !== null && !(c.executedFlopsPerStep > 0)) problems.push(`compute: executed FLOPs a step ${c.executedFlopsPerStep} is not positive`);
  return problems;
}

/**
 * The record must say what its own event log says: the track and its data, the recipes (each one this speedrun
 * knows), the backend, the seed, the config and the hardware fingerprint. Copying one run and changing the seed
 * in the record (a forged "five seeds") is caught here; rewriting the log consistently is not (see `--replay`).
 */
function bindingProblems(bundle: RunBundle): string[] {
  const problems: string[] = [];
  const run = bundle.run;
  const only = (key: string) => {
    const found = bundle.events.filter((e) => e.key === key);
    if (found.length !== 1) problems.push(`the log has ${found.length} '${key}' events, not one`);
    return found.length === 1 ? found[0] : undefined;
  };
  const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);
  const benchmark = only('submission_benchmark');
  if (benchmark && (benchmark.value !== run.track.id || benchmark.metadata.data_hash !== run.track.dataHash || benchmark.metadata.official !== run.track.official)) {
    problems.push(`track: the log says ${String(benchmark.value)} (data ${String(benchmark.metadata.data_hash).slice(0, 12)}, official ${String(benchmark.metadata.official)}), the record says ${run.track.id} (data ${run.track.dataHash.slice(0, 12)}, official ${run.track.official})`);
  }
  const recipes = only('recipes');
  if (recipes && !same(recipes.value, run.recipes)) problems.push(`recipes: the log says ${canonicalJson(recipes.value)}, the record says ${canonicalJson(run.recipes)}`);
  const unknown = run.recipes.filter((r) => !isKnownRecipe(r));
  if (unknown.length > 0) problems.push(`unknown recipes ${canonicalJson(unknown)}`);
  const backend = only('backend');
  if (backend && !same(backend.value, run.backend)) problems.push('backend: the log and the record differ');
  const seed = only('seed');
  if (seed && seed.value !== run.config.train.seed) problems.push(`seed: the log says ${String(seed.value)}, the record says ${run.config.train.seed}`);
  const start = only('run_start');
  const started = start?.value as { config?: unknown; workers?: unknown } | null | undefined;
  if (start && !same(started?.config, run.config)) problems.push('config: the log (run_start) and the record differ');
  if (start && started?.workers !== undefined && started.workers !== (run.parallel?.workers ?? 1)) problems.push(`workers: the log says ${String(started.workers)}, the record says ${run.parallel?.workers ?? 1}`);
  // Older logs have no hardware event; where there is one it must be the record's fingerprint.
  const hardware = bundle.events.filter((e) => e.key === 'hardware');
  if (hardware.length > 1 || (hardware.length === 1 && !same(hardware[0]!.value, run.hardware))) problems.push('hardware: the log and the record differ');
  return problems;
}
