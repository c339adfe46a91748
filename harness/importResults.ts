/**
 * `speedrun import`, as an API: bundles are verified and merged into the database (idempotent), then record
 * files are judged again under the record rules, oldest first, so each meets the record that stood when it was
 * submitted; an edited record file is refused with the rule it fails.
 */
import * as fs from 'node:fs';
import { EXIT, UserError } from './errors.ts';
import { bundlePaths, readVerifiedBundle, type RunBundle } from './store/bundle.ts';
import type { ComputeFigures } from './records.ts';
import { engineLabel } from './backends/engineLabel.ts';
import { isKnownRecipe } from '../recipes/index.ts';
import type { ResultsStore } from './store/database.ts';
import type { SuiteReport } from './suite.ts';
import { asClaim, type RecordClaim } from './store/recordClaim.ts';
import { judgeAndStore, loadBundles } from './submitRecord.ts';

export interface ImportReport {
  bundles: { added: number; unchanged: number; replaced: number };
  /** Absent when no suite report was given. */
  suites?: { added: number; unchanged: number };
  /** Absent when no record file was given. */
  records?: { accepted: number; unchanged: number; refused: string[] };
}

/**
 * The compute figures of a bundle written before they were counted: model FLOPs from its config where every
 * recipe is known here, the peak stored for its class and backend where there is one; executed FLOPs unknown.
 */
async function backfillCompute(run: RunBundle['run'], store: ResultsStore): Promise<ComputeFigures | undefined> {
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
  const claims: { file: string; claim: RecordClaim }[] = [];
  const suiteFiles: { file: string; json: unknown }[] = [];
  for (const file of bundlePaths(specs)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      parsed = undefined; // readBundle says what is wrong with it
    }
    // A suite report (results/suites/<id>.json) names its runs; it is merged after every bundle is in.
    if (typeof parsed === 'object' && parsed !== null && 'suiteId' in parsed) {
      suiteFiles.push({ file, json: parsed });
      continue;
    }
    const claim = asClaim(parsed, file);
    if (claim) {
      claims.push({ file, claim });
      continue;
    }
    let bundle;
    try {
      bundle = readVerifiedBundle(file);
    } catch (error) {
      if (error instanceof UserError && error.exitCode === EXIT.rejected) throw new UserError(`${error.message}; nothing after it was imported`, EXIT.rejected);
      throw error;
    }
    counts[store.importBundle(bundle, file, await backfillCompute(bundle.run, store))]++;
  }
  let suites: ImportReport['suites'];
  if (suiteFiles.length > 0) {
    const { importSuiteReport, suiteReportSchema } = await import('./suite.ts');
    suites = { added: 0, unchanged: 0 };
    for (const { file, json } of suiteFiles) {
      const parsed = suiteReportSchema.safeParse(json);
      if (!parsed.success) throw new UserError(`${file}: not a suite report (${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message})`, EXIT.rejected);
      try {
        suites[importSuiteReport(parsed.data as SuiteReport, store)]++;
      } catch (error) {
        throw error instanceof UserError ? new UserError(`${file}: ${error.message}`, error.exitCode) : error;
      }
    }
  }
  if (claims.length === 0) return { bundles: counts, ...(suites ? { suites } : {}) };
  const records = { accepted: 0, unchanged: 0, refused: [] as string[] };
  for (const { file, claim } of claims.sort((a, b) => a.claim.submittedAt.localeCompare(b.claim.submittedAt))) {
    const runIds = [...claim.runIds].sort().join(',');
    if (store.records({ trackId: claim.trackId }).some((r) => [...r.runIds].sort().join(',') === runIds)) {
      records.unchanged++;
      continue;
    }
    const missing = claim.runIds.find((id) => !store.run(id)?.bundlePath);
    if (missing) {
      records.refused.push(`${file}: run ${missing} has no imported bundle`);
      continue;
    }
    const { decision } = judgeAndStore(loadBundles(claim.runIds, store), claim, store);
    if (decision.status === 'accepted') records.accepted++;
    else records.refused.push(`${file}: ${decision.checks.filter((c) => c.status === 'fail').map((c) => `${c.rule} failed (${c.detail})`).join('; ')}`);
  }
  return { bundles: counts, records, ...(suites ? { suites } : {}) };
}
