/**
 * The record rules, as a pure function from runs to a decision. modded-nanogpt's rules for a new record
 * (same data, mean val loss below the target with p < 0.01, faster than the prior record on the same hardware)
 * plus MLPerf's package checks (enough runs, distinct seeds, at most one non-converged run, and the RCP check that
 * steps-to-target is not suspiciously below reference runs). ../shared/references/ has the sources.
 */
import { hardwareClassOf } from './hardware.ts';
import type { RunRecord } from './records.ts';
import { mean, olympicMean, oneSampleTTest, std, twoSampleTTest } from './stats.ts';
import type { NewRecord } from './store/database.ts';
import { engineLabel } from './backends/engineLabel.ts';

export const RULES = {
  /** Runs a record needs (modded-nanogpt submissions use 4-13; MLPerf 5-10). */
  minRuns: 5,
  /** One-sided one-sample t-test that the mean final val loss is below the target (modded-nanogpt). */
  targetAlpha: 0.01,
  /** One-sided Welch test that the time to target is below the current record's. */
  recordAlpha: 0.05,
  /** One-sided pooled t-test that steps-to-target is below the reference runs' (MLPerf RCP). */
  suspiciousAlpha: 0.05,
  /** Reference runs needed before the RCP check applies. */
  minReferenceRuns: 3,
} as const;

export type RuleName = 'bundles' | 'same-track' | 'same-code' | 'distinct-seeds' | 'independent-runs' | 'same-hardware' | 'enough-runs' | 'converged' | 'target-p' | 'beats-record' | 'not-suspicious';

export interface RuleCheck {
  rule: RuleName;
  status: 'pass' | 'fail' | 'skip';
  detail: string;
}

export interface SubmissionInput {
  runs: RunRecord[];
  /** Problems `verifyBundle` found, per run id (empty when every bundle verified). */
  bundleProblems: Record<string, string[]>;
  description: string;
  contributors: string[];
  /** The current record on this track and hardware class, with its runs' times to target. */
  currentRecord?: { id: number; recipes: string; timesMs: number[] };
  /** Steps-to-target of earlier runs of the same recipes and config on this track (not part of this submission). */
  referenceSteps: number[];
  minRuns?: number;
}

export type SubmissionDecision =
  | { status: 'accepted'; checks: RuleCheck[]; record: NewRecord }
  | { status: 'refused'; checks: RuleCheck[] };

const fmtS = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** The config with the seed taken out: what must be identical across a record's runs (and its reference runs). */
export function configKey(config: RunRecord['config']): string {
  const { seed: _seed, ...train } = config.train;
  return JSON.stringify({ model: config.model, train });
}

export function judgeSubmission(input: SubmissionInput): SubmissionDecision {
  const { runs } = input;
  const minRuns = input.minRuns ?? RULES.minRuns;
  const checks: RuleCheck[] = [];
  const check = (rule: RuleName, ok: boolean | 'skip', detail: string) => checks.push({ rule, status: ok === 'skip' ? 'skip' : ok ? 'pass' : 'fail', detail });
  const distinct = <T>(values: T[]) => [...new Set(values)];

  const broken = Object.entries(input.bundleProblems).filter(([, problems]) => problems.length > 0);
  check('bundles', broken.length === 0, broken.length === 0 ? `${runs.length} bundles verified` : broken.map(([id, p]) => `${id}: ${p.join('; ')}`).join(' | '));

  const tracks = distinct(runs.map((r) => `${r.track.id} data ${r.track.dataHash.slice(0, 12)}`));
  const unofficial = runs.filter((r) => !r.track.official);
  check(
    'same-track',
    tracks.length === 1 && unofficial.length === 0,
    tracks.length !== 1 ? `runs are on different tracks or data: ${tracks.join(', ')}` : unofficial.length > 0 ? `unofficial runs (overrides ${unofficial[0]!.track.overrides.join(', ') || 'or uncalibrated track'}): ${unofficial.map((r) => r.runId).join(', ')}` : `all on ${tracks[0]}`,
  );

  const codes = distinct(runs.map((r) => `${r.recipes.join(',')} ${r.codeHash.slice(0, 12)} ${engineLabel(r.backend)} ${r.parallel?.workers ?? 1} worker(s)`));
  const configs = distinct(runs.map((r) => configKey(r.config)));
  check('same-code', codes.length === 1 && configs.length === 1, codes.length !== 1 ? `runs differ in recipes, code or backend: ${codes.join(' / ')}` : configs.length !== 1 ? 'runs differ in their config (beyond the seed)' : `recipes ${runs[0]?.recipes.join(',')}, code ${runs[0]?.codeHash.slice(0, 12)}`);

  const seeds = runs.map((r) => r.config.train.seed);
  check('distinct-seeds', distinct(seeds).length === seeds.length, distinct(seeds).length === seeds.length ? `seeds ${seeds.join(', ')}` : `repeated seeds: ${seeds.join(', ')}`);

  // Different seeds give different loss curves; two identical curves are one run copied (a forged "five seeds"
  // whose zero variance would otherwise make target-p look excellent).
  const curve = (r: RunRecord) => JSON.stringify(r.evals.map((e) => e.valLoss));
  const copies = runs.flatMap((a, i) => runs.slice(i + 1).filter((b) => curve(a) === curve(b)).map((b) => `${a.runId} = ${b.runId}`));
  check('independent-runs', copies.length === 0, copies.length === 0 ? `${runs.length} distinct loss curves` : `identical validation loss curves (copies of one run): ${copies.join(', ')}`);

  const hardware = distinct(runs.map((r) => hardwareClassOf(r.hardware)));
  check('same-hardware', hardware.length === 1, hardware.length === 1 ? hardware[0]! : `runs on different hardware: ${hardware.join(' / ')}`);

  const finished = runs.filter((r) => r.status === 'success' || r.status === 'budget_exhausted' || r.status === 'diverged');
  const unfinished = runs.filter((r) => !finished.includes(r));
  check(
    'enough-runs',
    finished.length >= minRuns && unfinished.length === 0,
    unfinished.length > 0 ? `runs that did not finish (${unfinished.map((r) => `${r.runId}: ${r.status}`).join(', ')})` : `${finished.length} finished runs (at least ${minRuns} needed)`,
  );

  const reached = finished.filter((r) => r.status === 'success' && r.timeToTargetMs !== null);
  const missed = finished.length - reached.length;
  // MLPerf: one non-converging run may be the one olympic scoring drops; more invalidates the set.
  check('converged', missed <= 1 && reached.length >= 2, `${reached.length} of ${finished.length} runs reached the target${missed > 1 ? ' (at most one may miss)' : ''}`);

  const losses = finished.map((r) => r.finalValLoss ?? Number.NaN);
  const target = runs[0]?.track.target ?? Number.NaN;
  let pValue = Number.NaN;
  if (losses.length >= 2 && losses.every(Number.isFinite)) {
    pValue = oneSampleTTest(losses, target, 'less').pValue;
    check('target-p', pValue < RULES.targetAlpha, `mean final val loss ${mean(losses).toFixed(4)} vs target ${target}: one-sided p = ${pValue.toPrecision(3)} (needs < ${RULES.targetAlpha})`);
  } else {
    check('target-p', false, losses.length < 2 ? 'needs at least two finished runs' : 'a run has a non-finite final val loss (diverged)');
  }

  const timesMs = reached.map((r) => r.timeToTargetMs!);
  if (!input.currentRecord) {
    check('beats-record', true, 'no record yet on this track and hardware class: this would be the first');
  } else if (timesMs.length < 2 || input.currentRecord.timesMs.length < 2) {
    check('beats-record', false, 'needs at least two times to target on each side to compare with the record');
  } else {
    const welch = twoSampleTTest(timesMs, input.currentRecord.timesMs, 'less');
    check(
      'beats-record',
      welch.pValue < RULES.recordAlpha,
      `mean ${fmtS(mean(timesMs))} vs record #${input.currentRecord.id} (${input.currentRecord.recipes}) ${fmtS(mean(input.currentRecord.timesMs))}: Welch one-sided p = ${welch.pValue.toPrecision(3)} (needs < ${RULES.recordAlpha})`,
    );
  }

  const steps = reached.map((r) => r.stepsToTarget!);
  if (input.referenceSteps.length < RULES.minReferenceRuns || steps.length < 2) {
    check('not-suspicious', 'skip', `${input.referenceSteps.length} reference runs of these recipes and config on this track (the check needs ${RULES.minReferenceRuns}); run more seeds to enable it`);
  } else {
    const rcp = twoSampleTTest(steps, input.referenceSteps, 'less', true);
    check(
      'not-suspicious',
      !(rcp.pValue < RULES.suspiciousAlpha),
      `steps to target ${mean(steps).toFixed(0)} vs ${input.referenceSteps.length} reference runs ${mean(input.referenceSteps).toFixed(0)}: one-sided p = ${rcp.pValue.toPrecision(3)} (suspiciously fast below ${RULES.suspiciousAlpha})`,
    );
  }

  if (checks.some((c) => c.status === 'fail')) return { status: 'refused', checks };
  const first = runs[0]!;
  return {
    status: 'accepted',
    checks,
    record: {
      trackId: first.track.id,
      hardwareClass: hardwareClassOf(first.hardware),
      recipes: first.recipes.join(','),
      description: input.description,
      contributors: input.contributors,
      codeHash: first.codeHash,
      backend: engineLabel(first.backend),
      runs: runs.length,
      timeToTargetMs: mean(timesMs),
      timeToTargetStdMs: std(timesMs),
      olympicMeanMs: olympicMean(timesMs),
      stepsToTarget: mean(steps),
      tokensToTarget: mean(reached.map((r) => r.tokensToTarget!)),
      pValue,
      runIds: runs.map((r) => r.runId),
    },
  };
}
