/**
 * The one trust check of a run bundle, and `speedrun verify` as an API. `verify`, `import` and `submit` all ask
 * `bundleTrustProblems`, so a bundle one of them refuses is refused by the others, for the same reason.
 */
import { engineLabel } from './backends/engineLabel.ts';
import { EXIT, UserError } from './errors.ts';
import { hardwareClassOf } from './hardware.ts';
import { bundleFromJson, readBundleText, verifyBundle, type RunBundle } from './store/bundle.ts';
import type { ResultsStore } from './store/database.ts';
import { erratumOf } from './store/errata.ts';
import { checkExecBundle, isExecBundle } from './external/execBundle.ts';

/**
 * A bundle's peak may differ from the one stored for its class and engine by measurement noise (±25 % between
 * calibrations here), never by this factor: beyond it the MFU it implies is not this engine's.
 */
export const PEAK_AGREEMENT_FACTOR = 2;

/** The record's model FLOPs a step against a count of the bundled config's model (they are a function of it). */
async function modelFlopsProblems(bundle: RunBundle): Promise<string[]> {
  const compute = bundle.run.compute;
  if (compute === undefined) return [];
  const { countBundledModelFlops } = await import('./compute.ts');
  const counted = await countBundledModelFlops(bundle.run.config, bundle.run.recipes);
  const problems = counted === compute.modelFlopsPerStep ? [] : [`compute: model FLOPs a step ${compute.modelFlopsPerStep}, but the bundled config's model counts ${counted}`];
  // Every product the model needs is executed, in floating point, unless a recipe runs some of them in integers.
  const executed = compute.executedFlopsPerStep;
  if (executed !== null && executed < counted) problems.push(`compute: executed FLOPs a step ${executed} are below the model's ${counted}: an engine cannot run fewer products than the model has`);
  return problems;
}

/** The bundle's peak against the one this database stores for its hardware class and engine, where there is one. */
function peakProblems(run: RunBundle['run'], store: ResultsStore): string[] {
  const claimed = run.compute?.peak;
  if (!claimed) return [];
  const hardwareClass = hardwareClassOf(run.hardware);
  const engine = engineLabel(run.backend);
  const stored = store.peak(hardwareClass, engine);
  if (!stored) return [];
  const ratio = claimed.flopsPerSec / stored.flopsPerSec;
  if (ratio <= PEAK_AGREEMENT_FACTOR && ratio >= 1 / PEAK_AGREEMENT_FACTOR) return [];
  return [`compute: peak ${claimed.flopsPerSec.toPrecision(4)} FLOP/s is ${ratio.toPrecision(3)}x the ${stored.flopsPerSec.toPrecision(4)} FLOP/s stored for ${hardwareClass} on ${engine} (at most ${PEAK_AGREEMENT_FACTOR}x apart)`];
}

/**
 * Every offline check of a bundle: its checksum, code hash, every number against its event log (verifyBundle),
 * its model FLOPs counted again from the bundled config, and, given a database, its peak against the class's.
 * Empty when the bundle can be trusted as far as offline checks go.
 */
export async function bundleTrustProblems(bundle: RunBundle, store?: ResultsStore): Promise<string[]> {
  const verdict = verifyBundle(bundle);
  if (verdict.status === 'invalid') return verdict.problems;
  // A bundle with an erratum has its compute figures counted again wherever it is read (see errata.ts).
  const flops = erratumOf(bundle.checksum) ? [] : await modelFlopsProblems(bundle);
  return [...flops, ...(store ? peakProblems(bundle.run, store) : [])];
}

/** The verdict on a launched trainer's bundle (`run --exec`): what it can establish is said beside it. */
function execBundleVerdict(file: string, json: unknown): BundleVerdict {
  const checked = checkExecBundle(json);
  if (!checked.ok) return { file, status: 'invalid', notes: [], detail: `${file}: ${checked.problems.join('; ')}` };
  return { file, status: 'valid', notes: [`${file}: a launched trainer's run: checksum, code hash and its evaluations check out; its train clock is the trainer's own (the wall clock beside it is speedrun's)`] };
}

export type BundleVerdict =
  | { file: string; status: 'valid'; notes: string[]; detail?: string }
  | { file: string; status: 'invalid'; notes: string[]; detail: string };

export async function verifyFiles(files: string[], replaySteps: number | undefined, store?: ResultsStore): Promise<BundleVerdict[]> {
  if (replaySteps !== undefined && (!Number.isInteger(replaySteps) || replaySteps < 1)) throw new UserError(`--replay must be a positive number of steps, got ${replaySteps}`);
  const verdicts: BundleVerdict[] = [];
  for (const file of files) {
    // Read and parsed once: a launched trainer's bundle or a run bundle.
    const text = readBundleText(file);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      verdicts.push({ file, status: 'invalid', notes: [], detail: `${file}: not a readable run bundle (${(error as Error).message})` });
      continue;
    }
    if (isExecBundle(json)) {
      verdicts.push(execBundleVerdict(file, json));
      continue;
    }
    let bundle: RunBundle;
    try {
      bundle = bundleFromJson(json, file);
    } catch (error) {
      // A malformed bundle is a verdict; a path that does not exist stays bad input.
      if (!(error instanceof UserError) || error.exitCode !== EXIT.rejected) throw error;
      verdicts.push({ file, status: 'invalid', notes: [], detail: error.message });
      continue;
    }
    const problems = await bundleTrustProblems(bundle, store);
    if (problems.length > 0) {
      verdicts.push({ file, status: 'invalid', notes: [], detail: `${file}: ${problems.join('; ')}` });
      continue;
    }
    const erratum = erratumOf(bundle.checksum);
    const notes = erratum ? [`erratum: ${file}: ${erratum.why}`] : [];
    if (replaySteps === undefined) {
      verdicts.push({ file, status: 'valid', notes });
      continue;
    }
    const { replayBundle, REPLAY_TOLERANCE } = await import('./replay.ts');
    const replay = await replayBundle(bundle, replaySteps);
    verdicts.push(
      replay.status === 'reproduced'
        ? { file, status: 'valid', notes: [...notes, ...replay.notes], detail: `replayed ${replay.steps} steps, train losses reproduce (max relative difference ${replay.maxRelativeDifference.toExponential(1)}, tolerance ${REPLAY_TOLERANCE})` }
        : { file, status: 'invalid', notes: replay.notes, detail: `${file}: replayed ${replay.steps} steps; step ${replay.firstStep} logged train loss ${replay.logged}, replay gives ${replay.replayed}` },
    );
  }
  return verdicts;
}
