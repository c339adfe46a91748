/**
 * `speedrun verify --replay N`: re-runs the first N steps of a bundle's run here (same recipes, track, config,
 * seed, backend and thread count) and compares the training losses with the bundle's log. Training is
 * deterministic for a given backend and thread count, so a log that was fabricated or edited consistently —
 * which offline verification cannot catch — does not reproduce. The replay keeps the run's step budget (the LR
 * schedule depends on it) and stops after N steps; nothing is written to the user's results.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BackendRequest } from './backends/index.ts';
import { codeHash } from './environment.ts';
import { UserError } from './errors.ts';
import { executeRun, resolveRun, type RunRequest } from './run.ts';
import type { RunBundle } from './store/bundle.ts';

/** Relative difference of a training loss that still counts as reproduced (float32 on the same kernels: ~0). */
export const REPLAY_TOLERANCE = 1e-4;

export type ReplayResult =
  | { status: 'reproduced'; steps: number; maxRelativeDifference: number; notes: string[] }
  | { status: 'differs'; steps: number; maxRelativeDifference: number; firstStep: number; logged: number; replayed: number; notes: string[] };

function requestFor(bundle: RunBundle): RunRequest {
  const run = bundle.run;
  const override = (key: string): string | undefined => run.track.overrides.find((o) => o.startsWith(`${key}=`))?.slice(key.length + 1);
  return {
    recipe: run.recipes.join(','),
    track: run.track.name,
    backend: run.backend.name as BackendRequest,
    seed: run.config.train.seed,
    threads: run.backend.threads,
    preset: override('preset'),
    target: override('target') !== undefined ? run.track.target : undefined,
    steps: override('steps') !== undefined ? run.config.train.maxSteps : undefined,
    lr: run.config.train.lr,
    gradAccum: run.config.train.gradAccumSteps > 1 ? run.config.train.gradAccumSteps : undefined,
  };
}

export async function replayBundle(bundle: RunBundle, steps: number): Promise<ReplayResult> {
  const run = bundle.run;
  const logged = bundle.events.filter((e) => e.key === 'train_loss').map((e) => Number(e.value));
  const n = Math.min(steps, logged.length);
  if (n < 1) throw new UserError(`run ${run.runId} logged no training step to replay`);
  const notes: string[] = [];
  if (run.codeHash !== codeHash()) notes.push('this checkout\'s code differs from the bundle\'s (code hash): a difference may come from the code, not the log');
  const plan = await resolveRun(requestFor(bundle));
  if (plan.track.dataHash !== run.track.dataHash) throw new UserError(`run ${run.runId}: the track's data here differs from the run's (data hash)`);
  plan.config.train.evalInterval = Number.MAX_SAFE_INTEGER; // losses only: no evaluation on the way
  const replayed: number[] = [];
  const controller = new AbortController();
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'speedrun-replay-'));
  try {
    await executeRun(plan, { outDir }, {
      signal: controller.signal,
      observer: {
        onStep(point) {
          replayed.push(point.trainLoss);
          if (replayed.length >= n) controller.abort();
        },
      },
    });
  } finally {
    fs.rmSync(outDir, { recursive: true, force: true });
  }
  let maxRelativeDifference = 0;
  for (let i = 0; i < n; i++) {
    const relative = Math.abs(replayed[i]! - logged[i]!) / Math.max(Math.abs(logged[i]!), 1e-12);
    maxRelativeDifference = Math.max(maxRelativeDifference, Number.isNaN(relative) ? Infinity : relative);
    if (!(relative <= REPLAY_TOLERANCE)) {
      return { status: 'differs', steps: n, maxRelativeDifference, firstStep: i + 1, logged: logged[i]!, replayed: replayed[i]!, notes };
    }
  }
  return { status: 'reproduced', steps: n, maxRelativeDifference, notes };
}
