/**
 * One data-parallel replica, in its own worker thread with its own TF.js engine and backend (one thread each).
 * Every replica builds the same model from the same seed and draws the same global batch from the same sampler,
 * then trains on its own slice of rows; gradients are averaged through shared memory (comms.ts), so the replicas
 * apply identical updates and stay identical. Messages from the pool: warmup, step, eval, stop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, type BackendRequest } from '../backends/index.ts';
import type { RunConfig } from '../config.ts';
import type { BatchSampler, Batch } from '../data/tokens.ts';
import { clipAndStep, clipScale } from '../optim.ts';
import { composeRecipes } from '../recipe.ts';
import { ReplicaCore } from '../replica.ts';
import { resolveTrack } from '../tracks.ts';
import { resolveRecipes } from '../../recipes/index.ts';
import { WorkerComms, type SharedComms } from './comms.ts';
import { collectGarbage } from '../gc.ts';

export interface WorkerSetup {
  rank: number;
  recipe: string;
  track: string;
  backend: BackendRequest;
  config: RunConfig;
  comms: SharedComms;
  /** Fault injection for the tests: "crash@<rank>:<step>" or "nan@<rank>:<step>" (SPEEDRUN_FAULT). */
  fault?: string;
}

export type PoolMessage = { type: 'warmup'; lrFactor: number } | { type: 'step'; lrFactor: number; step: number } | { type: 'eval' } | { type: 'stop' };
export type WorkerReply =
  | { type: 'ready'; parameters: number; optimizer: string; names: string[]; sizes: number[] }
  | { type: 'warm' }
  | { type: 'stepped'; loss: number; gradNorm: number; commMs: number; commBytes: number }
  | { type: 'evaluated'; valLoss: number }
  | { type: 'error'; message: string };

const setup = (workerData as { setup: WorkerSetup }).setup;
const port = parentPort!;
const reply = (message: WorkerReply) => port.postMessage(message);

/**
 * A float32 tensor's values without a copy where the backend keeps them in a heap it can view (wasm, native):
 * the exchange copies them into shared memory once. Elsewhere a copy.
 */
function valuesOf(t: tf.Tensor): Float32Array {
  const backend = tf.backend() as Partial<{ typedArrayFromHeap(t: tf.TensorInfo): Float32Array }>;
  return typeof backend.typedArrayFromHeap === 'function' ? backend.typedArrayFromHeap(t) : (t.dataSync() as Float32Array);
}

/** This worker's rows of the global batch (the batch size divides evenly: checked by the pool). */
function slice(batch: Batch, rank: number, workers: number): Batch {
  const rows = batch.batchSize / workers;
  const span = rows * batch.seqLen;
  return {
    inputs: batch.inputs.subarray(rank * span, (rank + 1) * span),
    targets: batch.targets.subarray(rank * span, (rank + 1) * span),
    batchSize: rows,
    seqLen: batch.seqLen,
  };
}

async function main(): Promise<void> {
  const { config, rank } = setup;
  const backend = await useBackend(setup.backend, { threads: 1 });
  const data = resolveTrack(setup.track).load();
  const recipes = composeRecipes(resolveRecipes(setup.recipe));
  const comms = new WorkerComms(setup.comms, rank);
  const names = setup.comms.names;
  const sharded = setup.comms.variant === 'sharded';
  // The same replica as a single-worker run (replica.ts); ZeRO-1 keeps optimizer state for this worker's own
  // parameters only.
  const core = new ReplicaCore({ config, data, recipes, backend }, (model) =>
    new Map([...model.params].filter(([name]) => !sharded || comms.owner[names.indexOf(name)] === rank)),
  );
  const { model } = core;
  const [faultKind, faultAt] = (setup.fault ?? '').split('@');
  const [faultRank, faultStep] = (faultAt ?? '').split(':').map(Number);

  const step = async (sampler: BatchSampler, lrFactor: number, stepIndex: number, warm = false): Promise<WorkerReply> => {
    const faultHere = !warm && faultRank === rank && faultStep === stepIndex;
    if (faultKind === 'crash' && faultHere) throw new Error(`injected crash at step ${stepIndex}`);
    const { loss: value, grads } = core.gradients(slice(sampler.next(), rank, setup.comms.workers));
    let loss = (await value.data())[0]!;
    if (faultKind === 'nan' && faultHere) loss = Number.NaN;
    const arrays = names.map((n) => valuesOf(grads[n]!)); // views: the gradients stay alive until exchanged
    const shapes = names.map((n) => model.params.get(n)!.shape);
    let gradNorm: number;
    let commMs: number;
    let commBytes: number;
    if (!sharded) {
      const { mean, stats } = comms.allReduceMean(arrays);
      Object.values(grads).forEach((g) => g.dispose());
      const normTensor = tf.tidy(() => {
        const averaged = Object.fromEntries(names.map((n, i) => [n, tf.tensor(mean[i]!, shapes[i])]));
        return clipAndStep(core.optimizer, averaged, lrFactor, config.train.gradClip);
      });
      gradNorm = (await normTensor.data())[0]!;
      normTensor.dispose();
      ({ ms: commMs, bytes: commBytes } = stats);
    } else {
      const scattered = comms.reduceScatterMean(arrays);
      Object.values(grads).forEach((g) => g.dispose());
      gradNorm = scattered.globalNorm;
      const scale = clipScale(gradNorm, config.train.gradClip); // the exchange computed the global norm
      tf.tidy(() => {
        const owned = Object.fromEntries([...scattered.owned].map(([i, g]) => [names[i]!, tf.mul(tf.tensor(g, shapes[i]), scale)]));
        core.optimizer.step(owned, lrFactor);
      });
      const updated = new Map([...scattered.owned.keys()].map((i) => [i, valuesOf(model.params.get(names[i]!)!.variable)] as const));
      const gathered = comms.allGather(updated);
      for (const [i, w] of gathered.weights) model.params.get(names[i]!)!.variable.assign(tf.tensor(w, shapes[i]));
      commMs = scattered.stats.ms + gathered.stats.ms;
      commBytes = scattered.stats.bytes + gathered.stats.bytes;
    }
    value.dispose();
    core.afterStep(stepIndex);
    return { type: 'stepped', loss, gradNorm, commMs, commBytes };
  };

  reply({ type: 'ready', parameters: model.parameterCount(), optimizer: core.optimizer.name, names, sizes: setup.comms.sizes });

  port.on('message', (message: PoolMessage) => {
    const handle = async (): Promise<WorkerReply | undefined> => {
      switch (message.type) {
        case 'warmup':
          // The replica's warm-up (comms included); worker 0 evaluates the batch, the replicas being identical.
          await core.warmup((sampler) => step(sampler, message.lrFactor, 0, true), rank === 0);
          return { type: 'warm' };
        case 'step':
          return step(core.sampler, message.lrFactor, message.step);
        case 'eval': {
          const valLoss = await core.evaluate();
          collectGarbage(); // as the main thread does (harness/gc.ts)
          return { type: 'evaluated', valLoss };
        }
        case 'stop':
          core.dispose();
          port.close();
          return undefined;
      }
    };
    handle().then(
      (r) => r && reply(r),
      (error: unknown) => {
        reply({ type: 'error', message: error instanceof Error ? error.message : String(error) });
        process.exit(1);
      },
    );
  });
}

main().catch((error: unknown) => {
  reply({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
