/**
 * `speedrun submit`, as an API: runs (ids or bundle files) are judged under the record rules (submit.ts) and the
 * submission stored; an accepted record is written as a record file beside the database and its bundles copied
 * there, for git. `import` re-judges record files through the same `judgeRuns`.
 *
 * Files first, rows last: an accepted record's files are written before its rows, in one transaction, and removed
 * again if the transaction fails, so a record is never in the database without its file (which would make a
 * resubmission be refused against itself).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from './errors.ts';
import { hardwareClassOf } from './hardware.ts';
import { readBundle, type RunBundle } from './store/bundle.ts';
import type { ResultsStore } from './store/database.ts';
import { CLAIM_KIND, CLAIM_VERSION, claimsDirFor, writeClaim, type RecordClaim } from './store/recordClaim.ts';
import { configKey, judgeSubmission, RULES, type SubmissionDecision } from './submit.ts';
import { bundleTrustProblems } from './verifyBundles.ts';

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

/** What a submitter says; the rules' parameters are the project's (RULES), except that `minRuns` may ask for more. */
export interface SubmissionClaim {
  description: string;
  contributors: string[];
  minRuns?: number;
  /** When re-judging a record file: the time it was accepted (which earlier runs count as reference runs). */
  submittedAt?: string;
}

export interface Judgement {
  decision: SubmissionDecision;
  /** Every run the submission names, its track and recipes (of the first run): what the submission row holds. */
  runIds: string[];
  trackId: string;
  recipes: string;
  /** The bundles that passed the trust check: only these may join the database. */
  trusted: LoadedBundle[];
}

export async function judgeRuns(loaded: LoadedBundle[], claim: SubmissionClaim, store: ResultsStore): Promise<Judgement> {
  const runs = loaded.map((l) => l.bundle.run);
  const bundleProblems: Record<string, string[]> = {};
  const trusted: LoadedBundle[] = [];
  for (const entry of loaded) {
    const problems = await bundleTrustProblems(entry.bundle, store);
    bundleProblems[entry.bundle.run.runId] = problems;
    if (problems.length === 0) trusted.push(entry);
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
  const minRuns = Math.max(RULES.minRuns, claim.minRuns ?? RULES.minRuns);
  const decision = judgeSubmission({ runs, bundleProblems, description: claim.description, contributors: claim.contributors, currentRecord, referenceSteps, minRuns });
  return { decision, runIds: [...ids], trackId: first.track.id, recipes: first.recipes.join(','), trusted };
}

/** Stores a judged submission (and its record, if accepted) with the trusted bundles it names, as one transaction. */
export function storeJudgement(judgement: Judgement, claim: SubmissionClaim, store: ResultsStore, bundleFileOf: (entry: LoadedBundle) => string = (e) => e.file): number | undefined {
  const { decision, trusted } = judgement;
  return store.atomically(() => {
    for (const entry of trusted) if (!store.run(entry.bundle.run.runId)?.bundlePath) store.importBundle(entry.bundle, bundleFileOf(entry));
    return store.addSubmission(
      { trackId: judgement.trackId, recipes: judgement.recipes, description: claim.description, contributors: claim.contributors, runIds: judgement.runIds, status: decision.status, checks: decision.checks },
      decision.status === 'accepted' ? decision.record : undefined,
      claim.submittedAt,
    );
  });
}

export type SubmitResult =
  | { status: 'accepted'; decision: Extract<SubmissionDecision, { status: 'accepted' }>; recordId: number; trackId: string; hardwareClass: string; recordFile: string; bundlesDir: string }
  | { status: 'refused'; decision: Extract<SubmissionDecision, { status: 'refused' }> };

export async function submitRuns(specs: string[], claim: { description: string; contributors: string[]; minRuns?: number }, store: ResultsStore): Promise<SubmitResult> {
  if (claim.description.trim().length === 0) throw new UserError('--description must say what the record changes');
  if (claim.minRuns !== undefined && (!Number.isInteger(claim.minRuns) || claim.minRuns < RULES.minRuns)) {
    throw new UserError(`--min-runs may ask for more runs than the rules' ${RULES.minRuns}, never fewer (got ${claim.minRuns})`);
  }
  const loaded = loadBundles(specs, store);
  if (loaded.length === 0) throw new UserError('submit needs the runs (ids or bundle files) that make the record');
  const judgement = await judgeRuns(loaded, claim, store);
  const { decision } = judgement;
  if (decision.status === 'refused') {
    storeJudgement(judgement, claim, store);
    return { status: 'refused', decision };
  }
  const first = loaded[0]!.bundle.run;
  const submittedAt = new Date().toISOString();
  // The record as files beside the database's bundles, for git (`speedrun import` rebuilds it from there); the
  // copies are named by the run ids, which the bundle's shape check made safe names.
  const bundlesDir = path.join(path.dirname(store.file), 'bundles');
  const written: string[] = [];
  const copyOf = new Map<LoadedBundle, string>();
  try {
    for (const entry of loaded) {
      const copy = path.join(bundlesDir, `${entry.bundle.run.runId}.json`);
      copyOf.set(entry, copy);
      if (path.resolve(entry.file) === path.resolve(copy) || fs.existsSync(copy)) continue;
      fs.mkdirSync(bundlesDir, { recursive: true });
      fs.copyFileSync(entry.file, copy, fs.constants.COPYFILE_EXCL);
      written.push(copy);
      fs.chmodSync(copy, 0o444);
    }
    const record: RecordClaim = {
      kind: CLAIM_KIND,
      version: CLAIM_VERSION,
      submittedAt,
      trackId: first.track.id,
      recipes: first.recipes.join(','),
      description: claim.description,
      contributors: claim.contributors,
      runIds: loaded.map((l) => l.bundle.run.runId),
      ...(claim.minRuns === undefined ? {} : { minRuns: claim.minRuns }),
    };
    const recordFile = writeClaim(claimsDirFor(store.file), record);
    written.push(recordFile);
    const recordId = storeJudgement(judgement, { ...claim, submittedAt }, store, (entry) => copyOf.get(entry) ?? entry.file)!;
    return { status: 'accepted', decision, recordId, trackId: first.track.id, hardwareClass: hardwareClassOf(first.hardware), recordFile, bundlesDir };
  } catch (error) {
    for (const file of written.reverse()) fs.rmSync(file, { force: true });
    throw error;
  }
}
