/**
 * The data-parallel pool, as the training loop sees it (a Replica): N worker threads (worker.ts), one per core,
 * each with its own backend instance on one thread, trained on 1/N of every global batch; gradients averaged
 * through shared memory by the chosen comms variant (comms.ts). The global batch and the data order are the
 * single-worker ones, so the loss curve matches one worker up to floating-point summation order.
 * A worker that throws or exits ends the step with an error naming it; the others are terminated (no hang).
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BackendRequest } from '../backends/index.ts';
import { PROJECT_ROOT } from '../environment.ts';
import { UserError } from '../errors.ts';
import { defaultParts } from '../model.ts';
import type { Replica, ReplicaInput, StepResult } from '../replica.ts';
import { createSharedComms, type CommsVariant } from './comms.ts';
import type { PoolMessage, WorkerReply, WorkerSetup } from './worker.ts';

export interface ParallelOptions {
  workers: number;
  comms: CommsVariant;
  /** What each worker resolves for itself (recipes and tracks are not transferable objects). */
  recipe: string;
  track: string;
  backend: BackendRequest;
}

// The boot script stays in the source tree; it loads the worker compiled or through tsx (bin/runtime.mjs).
const BOOT = pathToFileURL(path.join(PROJECT_ROOT, 'harness', 'parallel', 'boot.mjs'));
const ENTRY = 'harness/parallel/worker.ts';

export class WorkerPool implements Replica {
  private failure: Error | undefined;
  private pending = new Map<number, { resolve(r: WorkerReply): void; reject(e: Error): void }>();

  private constructor(
    private readonly threads: Worker[],
    readonly parameters: number,
    readonly optimizer: string,
    comms: CommsVariant,
  ) {
    this.workers = threads.length;
    this.comms = comms;
  }

  readonly workers: number;
  readonly comms: string;

  static async start(input: ReplicaInput, options: ParallelOptions): Promise<WorkerPool> {
    const { config } = input;
    const { workers: n } = options;
    if (config.train.gradAccumSteps !== 1) throw new UserError('--workers cannot be combined with --grad-accum (each worker already takes a share of the batch)');
    if (config.train.batchSize % n !== 0) throw new UserError(`--workers ${n} does not divide the batch of ${config.train.batchSize} sequences`);
    const specs = input.recipes.parts(defaultParts).params(config.model);
    const shared = createSharedComms(options.comms, n, specs.map((p) => p.name), specs.map((p) => p.shape.reduce((a, b) => a * b, 1)));
    const workers = Array.from({ length: n }, (_, rank) => {
      const setup: WorkerSetup = { rank, recipe: options.recipe, track: options.track, backend: options.backend, config, comms: shared, fault: process.env.SPEEDRUN_FAULT };
      return new Worker(BOOT, { workerData: { entry: ENTRY, setup } });
    });
    const ready = await Promise.all(workers.map((w, rank) => WorkerPool.firstReply(w, rank)));
    const first = ready[0] as Extract<WorkerReply, { type: 'ready' }>;
    const pool = new WorkerPool(workers, first.parameters, first.optimizer, options.comms);
    workers.forEach((w, rank) => pool.listen(w, rank));
    return pool;
  }

  private static firstReply(worker: Worker, rank: number): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      worker.once('message', (m: WorkerReply) => (m.type === 'error' ? reject(new UserError(`worker ${rank} failed to start: ${m.message}`)) : resolve(m)));
      worker.once('error', (e) => reject(new Error(`worker ${rank} failed to start: ${e.message}`)));
    });
  }

  private listen(worker: Worker, rank: number): void {
    const fail = (why: string) => {
      if (this.failure) return;
      this.failure = new Error(`worker ${rank} failed: ${why}`);
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
      for (const w of this.threads) void w.terminate(); // peers would wait at the barrier until its timeout
    };
    worker.on('message', (m: WorkerReply) => {
      if (m.type === 'error') return fail(m.message);
      const p = this.pending.get(rank);
      this.pending.delete(rank);
      p?.resolve(m);
    });
    worker.on('error', (e) => fail(e.message));
    worker.on('exit', (code) => {
      if (code !== 0) fail(`exited with code ${code}`);
    });
  }

  private request(rank: number, message: PoolMessage): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(rank, { resolve, reject });
      this.threads[rank]!.postMessage(message);
    });
  }

  private all(message: PoolMessage): Promise<WorkerReply[]> {
    return Promise.all(this.threads.map((_, rank) => this.request(rank, message)));
  }

  /** Products are not counted in the workers: null. */
  async warmup(lrFactor: number): Promise<number | null> {
    await this.all({ type: 'warmup', lrFactor });
    return null;
  }

  async step(lrFactor: number, step: number): Promise<StepResult> {
    const replies = (await this.all({ type: 'step', lrFactor, step })) as Extract<WorkerReply, { type: 'stepped' }>[];
    const losses = replies.map((r) => r.loss);
    const bad = losses.findIndex((l) => !Number.isFinite(l));
    return {
      // Equal shares of the batch: the mean of the workers' mean losses is the global mean loss.
      loss: losses.reduce((a, b) => a + b, 0) / losses.length,
      gradNorm: replies[0]!.gradNorm,
      commMs: Math.max(...replies.map((r) => r.commMs)),
      commBytes: replies[0]!.commBytes,
      ...(bad >= 0 ? { badWorker: bad } : {}),
    };
  }

  async evaluate(): Promise<number> {
    // The replicas are identical: worker 0 evaluates.
    const reply = (await this.request(0, { type: 'eval' })) as Extract<WorkerReply, { type: 'evaluated' }>;
    return reply.valLoss;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.threads.map((w) => w.terminate()));
  }
}
