/** `speedrun verify`, as an API: each bundle file checked offline, and with `replay` re-run for N steps here. */
import { EXIT, UserError } from './errors.ts';
import { readBundle, verifyBundle, type RunBundle } from './store/bundle.ts';

export type BundleVerdict =
  | { file: string; status: 'valid'; notes: string[]; detail?: string }
  | { file: string; status: 'invalid'; notes: string[]; detail: string };

/** The record's model FLOPs a step against a count of the bundled config's model (they are a function of it). */
async function modelFlopsProblems(bundle: RunBundle): Promise<string[]> {
  const claimed = bundle.run.compute?.modelFlopsPerStep;
  if (claimed === undefined) return [];
  const { countBundledModelFlops } = await import('./compute.ts');
  const counted = await countBundledModelFlops(bundle.run.config, bundle.run.recipes);
  return counted === claimed ? [] : [`compute: model FLOPs a step ${claimed}, but the bundled config's model counts ${counted}`];
}

export async function verifyFiles(files: string[], replaySteps: number | undefined): Promise<BundleVerdict[]> {
  if (replaySteps !== undefined && (!Number.isInteger(replaySteps) || replaySteps < 1)) throw new UserError(`--replay must be a positive number of steps, got ${replaySteps}`);
  const verdicts: BundleVerdict[] = [];
  for (const file of files) {
    let bundle: RunBundle;
    try {
      bundle = readBundle(file);
    } catch (error) {
      // A malformed bundle is a verdict; a path that does not exist stays bad input.
      if (!(error instanceof UserError) || error.exitCode !== EXIT.rejected) throw error;
      verdicts.push({ file, status: 'invalid', notes: [], detail: error.message });
      continue;
    }
    const verdict = verifyBundle(bundle);
    const problems = verdict.status === 'invalid' ? verdict.problems : await modelFlopsProblems(bundle);
    if (problems.length > 0) {
      verdicts.push({ file, status: 'invalid', notes: [], detail: `${file}: ${problems.join('; ')}` });
      continue;
    }
    if (replaySteps === undefined) {
      verdicts.push({ file, status: 'valid', notes: [] });
      continue;
    }
    const { replayBundle, REPLAY_TOLERANCE } = await import('./replay.ts');
    const replay = await replayBundle(bundle, replaySteps);
    verdicts.push(
      replay.status === 'reproduced'
        ? { file, status: 'valid', notes: replay.notes, detail: `replayed ${replay.steps} steps, train losses reproduce (max relative difference ${replay.maxRelativeDifference.toExponential(1)}, tolerance ${REPLAY_TOLERANCE})` }
        : { file, status: 'invalid', notes: replay.notes, detail: `${file}: replayed ${replay.steps} steps; step ${replay.firstStep} logged train loss ${replay.logged}, replay gives ${replay.replayed}` },
    );
  }
  return verdicts;
}
