/**
 * `speedrun import`, as an API: bundles pass the same trust check as `verify` and `submit`
 * (harness/verifyBundles.ts) and are merged into the database (idempotent); suite reports are rebuilt from the
 * runs they name; record files are judged again under the record rules, the slowest record first, so each meets
 * the records it beat; an edited record file is refused with the rule it fails.
 *
 * Files found by walking a folder: the results layout's own folders of other things (runs/, ci/, site/) are not
 * walked, symbolic links are not followed, and a JSON file that is none of the three kinds is skipped and
 * counted. A file named on the command line must be one of them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT, UserError } from './errors.ts';
import { bundleFromJson, type RunBundle } from './store/bundle.ts';
import type { ComputeFigures } from './records.ts';
import { engineLabel } from './backends/engineLabel.ts';
import { isKnownRecipe } from '../recipes/index.ts';
import type { ResultsStore } from './store/database.ts';
import type { SuiteReport } from './suite.ts';
import { asClaim, type RecordClaim } from './store/recordClaim.ts';
import { erratumOf } from './store/errata.ts';
import { judgeRuns, loadBundles, storeJudgement } from './submitRecord.ts';
import { bundleTrustProblems } from './verifyBundles.ts';
import { mean } from './stats.ts';
import { checkExecBundle, isExecBundle } from './external/execBundle.ts';

/** The largest file import reads (the largest bundle in results/ is under 1 MB). */
export const MAX_IMPORT_FILE_BYTES = 64 * 2 ** 20;
/** Folders of the results layout that hold no bundles, reports or records. */
const NOT_WALKED = new Set(['runs', 'ci', 'site', 'node_modules', '.git']);

export interface ImportReport {
  bundles: { added: number; unchanged: number; replaced: number };
  /** JSON files found by walking a folder that are no bundle, suite report or record file. */
  skipped: number;
  /** Bundles of launched trainers (`run --exec`). */
  execRuns: { added: number; unchanged: number };
  /** Absent when no suite report was given. */
  suites?: { added: number; unchanged: number };
  /** Absent when no record file was given. */
  records?: { accepted: number; unchanged: number; refused: string[] };
}

/** The JSON files named, and those found under the folders named; each marked as named or found. */
export function importPaths(specs: string[]): { file: string; named: boolean }[] {
  const found: { file: string; named: boolean }[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory() && !NOT_WALKED.has(entry.name)) walk(full);
      else if (entry.isFile() && entry.name.endsWith('.json')) found.push({ file: full, named: false });
    }
  };
  for (const spec of specs) {
    const stat = fs.statSync(spec, { throwIfNoEntry: false });
    if (!stat) throw new UserError(`${spec}: no such bundle file or directory`);
    if (stat.isDirectory()) walk(spec);
    else if (stat.isFile()) found.push({ file: spec, named: true });
    else throw new UserError(`${spec}: not a regular file or directory`);
  }
  return found;
}

/** A file's JSON, read once with a size cap; a file that cannot be read or parsed is refused (exit 5). */
function readJson(file: string): { text: string; json: unknown } {
  const size = fs.statSync(file).size;
  if (size > MAX_IMPORT_FILE_BYTES) throw new UserError(`${file}: ${(size / 2 ** 20).toFixed(0)} MB, larger than any bundle, report or record file (at most ${MAX_IMPORT_FILE_BYTES / 2 ** 20} MB)`, EXIT.rejected);
  const text = fs.readFileSync(file, 'utf8');
  try {
    return { text, json: JSON.parse(text) as unknown };
  } catch (error) {
    throw new UserError(`${file}: not JSON (${(error as Error).message})`, EXIT.rejected);
  }
}

/**
 * The compute figures of a bundle written before they were counted: model FLOPs from its config where every
 * recipe is known here, the peak stored for its class and backend where there is one; executed FLOPs unknown.
 */
async function backfillCompute(bundle: RunBundle, store: ResultsStore): Promise<ComputeFigures | undefined> {
  const run = bundle.run;
  if (run.compute && erratumOf(bundle.checksum)?.figures === 'model-flops') {
    const { computeFigures, countBundledModelFlops } = await import('./compute.ts');
    const { modelFlopsPerStep: _wrong, executedFlopsPerStep: _alsoWrong, ...kept } = run.compute;
    return computeFigures({ ...kept, modelFlopsPerStep: await countBundledModelFlops(run.config, run.recipes), executedFlopsPerStep: null, steps: run.steps, trainTimeMs: run.trainTimeMs, stepsToTarget: run.stepsToTarget, timeToTargetMs: run.timeToTargetMs });
  }
  if (run.compute || !run.recipes.every((label) => isKnownRecipe(label))) return undefined;
  const { computeFigures, countBundledModelFlops } = await import('./compute.ts');
  const stored = store.peak(run.hardware.hardwareClass, engineLabel(run.backend));
  return computeFigures({
    modelFlopsPerStep: await countBundledModelFlops(run.config, run.recipes),
    executedFlopsPerStep: null,
    steps: run.steps,
    trainTimeMs: run.trainTimeMs,
    stepsToTarget: run.stepsToTarget,
    timeToTargetMs: run.timeToTargetMs,
    peak: stored ? { flopsPerSec: stored.flopsPerSec, method: stored.method } : null,
  });
}

export async function importResults(specs: string[], store: ResultsStore): Promise<ImportReport> {
  const counts = { added: 0, unchanged: 0, replaced: 0 };
  let skipped = 0;
  const execRuns = { added: 0, unchanged: 0 };
  const claims: { file: string; claim: RecordClaim }[] = [];
  const suiteFiles: { file: string; json: unknown; bytes: number }[] = [];
  for (const { file, named } of importPaths(specs)) {
    const { text, json } = readJson(file);
    // A suite report (results/suites/<id>.json) names its runs; it is merged after every bundle is in.
    if (typeof json === 'object' && json !== null && 'suiteId' in json) {
      suiteFiles.push({ file, json, bytes: text.length });
      continue;
    }
    const claim = asClaim(json, file);
    if (claim) {
      claims.push({ file, claim });
      continue;
    }
    if (isExecBundle(json)) {
      const checked = checkExecBundle(json);
      if (!checked.ok) throw new UserError(`${file} does not verify (${checked.problems[0]}); nothing after it was imported`, EXIT.rejected);
      execRuns[store.finishExecRun(checked.bundle.run, { path: path.resolve(file), checksum: checked.bundle.checksum })]++;
      continue;
    }
    if (!named && (typeof json !== 'object' || json === null || !('kind' in json))) {
      skipped++;
      continue;
    }
    const bundle = bundleFromJson(json, file);
    const problems = await bundleTrustProblems(bundle, store);
    if (problems.length > 0) throw new UserError(`${file} does not verify (${problems[0]}); nothing after it was imported`, EXIT.rejected);
    counts[store.importBundle(bundle, file, await backfillCompute(bundle, store))]++;
  }
  let suites: ImportReport['suites'];
  if (suiteFiles.length > 0) {
    const { importSuiteReport, suiteReportSchema, MAX_SUITE_REPORT_BYTES } = await import('./suite.ts');
    suites = { added: 0, unchanged: 0 };
    for (const { file, json, bytes } of suiteFiles) {
      if (bytes > MAX_SUITE_REPORT_BYTES) throw new UserError(`${file}: a suite report of ${(bytes / 2 ** 20).toFixed(1)} MB (at most ${MAX_SUITE_REPORT_BYTES / 2 ** 20} MB)`, EXIT.rejected);
      const parsed = suiteReportSchema.safeParse(json);
      if (!parsed.success) throw new UserError(`${file}: not a suite report (${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message})`, EXIT.rejected);
      try {
        suites[importSuiteReport(parsed.data as SuiteReport, store)]++;
      } catch (error) {
        throw error instanceof UserError ? new UserError(`${file}: ${error.message}`, error.exitCode) : error;
      }
    }
  }
  if (claims.length === 0) return { bundles: counts, skipped, execRuns, ...(suites ? { suites } : {}) };
  return { bundles: counts, skipped, execRuns, records: await judgeClaims(claims, store), ...(suites ? { suites } : {}) };
}

/**
 * Record files judged again. The order never depends on a date the claimant wrote: on each track and hardware
 * class every record had to beat the one before it, so the slowest record (by its runs' own times to target)
 * came first; judging slowest first rebuilds that history, and a claim cannot jump the queue by editing its date.
 */
async function judgeClaims(claims: { file: string; claim: RecordClaim }[], store: ResultsStore): Promise<NonNullable<ImportReport['records']>> {
  const records = { accepted: 0, unchanged: 0, refused: [] as string[] };
  const meanTime = (claim: RecordClaim) => {
    const times = claim.runIds.map((id) => store.run(id)?.timeToTargetMs).filter((t): t is number => typeof t === 'number');
    return times.length > 0 ? mean(times) : Number.POSITIVE_INFINITY;
  };
  const ordered = claims.map((c) => ({ ...c, time: meanTime(c.claim), key: [...c.claim.runIds].sort().join(',') }));
  ordered.sort((a, b) => b.time - a.time || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const { file, claim, key } of ordered) {
    if (store.records({ trackId: claim.trackId }).some((r) => [...r.runIds].sort().join(',') === key)) {
      records.unchanged++;
      continue;
    }
    const missing = claim.runIds.find((id) => !store.run(id)?.bundlePath);
    if (missing) {
      records.refused.push(`${file}: run ${missing} has no imported bundle`);
      continue;
    }
    const lastFinished = claim.runIds.map((id) => store.run(id)!.finishedAt ?? '').sort().at(-1)!;
    if (claim.submittedAt < lastFinished) {
      records.refused.push(`${file}: submitted at ${claim.submittedAt}, before its last run finished (${lastFinished})`);
      continue;
    }
    const judgement = await judgeRuns(loadBundles(claim.runIds, store), claim, store);
    storeJudgement(judgement, claim, store);
    if (judgement.decision.status === 'accepted') records.accepted++;
    else records.refused.push(`${file}: ${judgement.decision.checks.filter((c) => c.status === 'fail').map((c) => `${c.rule} failed (${c.detail})`).join('; ')}`);
  }
  return records;
}
