/**
 * `speedrun submit`, as an API: runs (ids or bundle files) are judged under the record rules (submit.ts) and the
 * submission stored; an accepted record is written as a record file beside the database and its bundles copied
 * there, for git. `import` re-judges record files through the same `judgeAndStore`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from './errors.ts';
import { hardwareClassOf } from './hardware.ts';
import { readBundle, verifyBundle, type RunBundle } from './store/bundle.ts';
import type { ResultsStore } from './store/database.ts';
import { CLAIM_KIND, CLAIM_VERSION, claimsDirFor, writeClaim, type RecordClaim } from './store/recordClaim.ts';
import { configKey, judgeSubmission, type SubmissionDecision } from './submit.ts';

export interface LoadedBundle {
  file: string;
  bundle: RunBundle;
}

/** Run ids (looked up in the database) or bundle paths -> bundles, their shape checked. */
export function loadBundles(specs: string[], store: ResultsStore): LoadedBundle[] {
  return specs.map((spec) => {
    let file = spec;
    if (!fs.existsSync(spec)) {
      const run = store.run(spec);
      if (!run) throw new UserError(`'${spec}' is neither a bundle file nor a run id in ${store.file}`);
      if (!run.bundlePath) throw new UserError(`run ${spec} has no bundle (status ${run.status}); only finished runs can be submitted`);
      file = run.bundlePath;
    }
    return { file, bundle: readBundle(file) };
  });
}

/** The current record of a track on a hardware class, with its runs' times to target. */
export function currentRecordWithTimes(store: ResultsStore, trackId: string, hardwareClass: string): { id: number; recipes: string; timesMs: number[] } | undefined {
  const current = store.currentRecord(trackId, hardwareClass);
  return (
    current && {
      id: current.id,
      recipes: current.recipes,
      timesMs: current.runIds.map((id) => store.run(id)?.timeToTargetMs).filter((t): t is number => typeof t === 'number'),
    }
  );
}

/** Judges the runs under the record rules and stores the submission (and the record, if accepted). */
export function judgeAndStore(
  loaded: LoadedBundle[],
  claim: { description: string; contributors: string[]; minRuns?: number; submittedAt?: string },
  store: ResultsStore,
): { decision: SubmissionDecision; recordId: number | undefined } {
  const runs = loaded.map((l) => l.bundle.run);
  const bundleProblems = Object.fromEntries(
    loaded.map(({ bundle }) => {
      const v = verifyBundle(bundle);
      return [bundle.run.runId, v.status === 'valid' ? [] : v.problems];
    }),
  );
  // Verified bundles given as files join the database (the record links to their runs); edited ones never do.
  for (const { file, bundle } of loaded) {
    if (bundleProblems[bundle.run.runId]!.length === 0 && !store.run(bundle.run.runId)?.bundlePath) store.importBundle(bundle, file);
  }
  const first = runs[0]!;
  const currentRecord = currentRecordWithTimes(store, first.track.id, hardwareClassOf(first.hardware));
  const ids = new Set(runs.map((r) => r.runId));
  // Earlier runs of the same recipes and config; when re-judging a claim, only those finished before it.
  const { submittedAt } = claim;
  const referenceSteps = store
    .runs({ trackId: first.track.id, recipes: first.recipes.join(','), status: 'success' })
    .filter((r) => !ids.has(r.id) && r.official && r.stepsToTarget !== null && configKey(r.config) === configKey(first.config))
    .filter((r) => submittedAt === undefined || (r.finishedAt !== null && r.finishedAt < submittedAt))
    .map((r) => r.stepsToTarget!);
  const decision = judgeSubmission({ runs, bundleProblems, description: claim.description, contributors: claim.contributors, currentRecord, referenceSteps, minRuns: claim.minRuns });
  const recordId = store.addSubmission(
    { trackId: first.track.id, recipes: first.recipes.join(','), description: claim.description, contributors: claim.contributors, runIds: [...ids], status: decision.status, checks: decision.checks },
    decision.status === 'accepted' ? decision.record : undefined,
    submittedAt,
  );
  return { decision, recordId };
}

export type SubmitResult =
  | { status: 'accepted'; decision: Extract<SubmissionDecision, { status: 'accepted' }>; recordId: number; trackId: string; hardwareClass: string; recordFile: string; bundlesDir: string }
  | { status: 'refused'; decision: Extract<SubmissionDecision, { status: 'refused' }> };

export function submitRuns(specs: string[], claim: { description: string; contributors: string[]; minRuns?: number }, store: ResultsStore): SubmitResult {
  if (claim.description.trim().length === 0) throw new UserError('--description must say what the record changes');
  const loaded = loadBundles(specs, store);
  if (loaded.length === 0) throw new UserError('submit needs the runs (ids or bundle files) that make the record');
  const { decision, recordId } = judgeAndStore(loaded, claim, store);
  if (decision.status === 'refused') return { status: 'refused', decision };
  const first = loaded[0]!.bundle.run;
  // The record as a file beside the database's bundles, for git: `speedrun import` rebuilds it from there. The
  // copies are named by the run ids, which the bundle's shape check made safe names.
  const bundlesDir = path.join(path.dirname(store.file), 'bundles');
  for (const { file, bundle } of loaded) {
    const copy = path.join(bundlesDir, `${bundle.run.runId}.json`);
    if (path.resolve(file) !== path.resolve(copy) && !fs.existsSync(copy)) {
      fs.mkdirSync(bundlesDir, { recursive: true });
      fs.copyFileSync(file, copy);
      fs.chmodSync(copy, 0o444);
      store.importBundle(bundle, copy);
    }
  }
  const submission = store.records({ trackId: first.track.id }).find((r) => r.id === recordId)!;
  const record: RecordClaim = {
    kind: CLAIM_KIND,
    version: CLAIM_VERSION,
    submittedAt: submission.createdAt,
    trackId: first.track.id,
    recipes: first.recipes.join(','),
    description: claim.description,
    contributors: claim.contributors,
    runIds: loaded.map((l) => l.bundle.run.runId),
    ...(claim.minRuns === undefined ? {} : { minRuns: claim.minRuns }),
  };
  const recordFile = writeClaim(claimsDirFor(store.file), record);
  return { status: 'accepted', decision, recordId: recordId!, trackId: first.track.id, hardwareClass: hardwareClassOf(first.hardware), recordFile, bundlesDir };
}
