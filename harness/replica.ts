/**
 * What one replica of the model does, wherever it runs: set up (model, recipes' init, optimizer, sampler,
 * validation batches), warm up (one step whose effect is undone), step, evaluate. The single-worker replica
 * (LocalReplica, below) and each data-parallel worker (parallel/worker.ts) are built on the same ReplicaCore, so
 * the two paths cannot drift: they differ only in how a step's gradients are reduced before the update.
 *
 * Clock rules are the training loop's (train.ts); nothing here reads a clock.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendInfo } from './backends/index.ts';
import type { RunConfig } from './config.ts';
import { BatchSampler, evalBatches, type Batch, type TokenData } from './data/tokens.ts';
import { defaultParts, GPT, type ParamTable } from './model.ts';
import { engineFor } from './ops.ts';
import { countProductFlops } from './compute.ts';
import { clipAndStep, type Optimizer } from './optim.ts';
import type { ComposedRecipes } from './recipe.ts';

/** What one optimizer step reports, whoever ran it. */
export interface StepResult {
  loss: number;
  gradNorm: number;
  /** Data-parallel only: time in the gradient exchange and bytes written to shared memory, per worker. */
  commMs?: number;
  commBytes?: number;
  /** Data-parallel only: the worker whose loss was not finite, when one was not. */
  badWorker?: number;
}

/**
 * The model and its optimizer, as the training loop drives them: here in this thread (LocalReplica) or as a
 * pool of data-parallel workers (harness/parallel/pool.ts). The loop, the clock and the rules are the same.
 */
export interface Replica {
  readonly parameters: number;
  readonly optimizer: string;
  /** Data-parallel workers (1: this thread) and, with more than one, how their gradients move. */
  readonly workers: number;
  readonly comms?: string;
  /**
   * One step whose effect on the weights is undone; compiles and prepares every kernel. Returns the matrix-product
   * FLOPs that step executed where they were counted (this thread's replica), else null.
   */
  warmup(lrFactor: number): Promise<number | null>;
  step(lrFactor: number, step: number): Promise<StepResult>;
  evaluate(): Promise<number>;
  dispose(): Promise<void>;
}

/** What a replica is built from. */
export interface ReplicaInput {
  config: RunConfig;
  data: TokenData;
  recipes: ComposedRecipes;
  backend: BackendInfo;
}

/** Builds the replica the training loop drives (train.ts receives one of these). */
export type ReplicaFactory = (input: ReplicaInput) => Promise<Replica>;

/**
 * Mean validation loss over fixed batches. Reads are asynchronous (`data()`), which every backend supports;
 * WebGPU in Node has no synchronous read. Each batch's loss is read before the next starts, so no more than one
 * batch's activations are alive at a time.
 */
export async function evaluate(model: GPT, batches: Batch[]): Promise<number> {
  let total = 0;
  let count = 0;
  for (const b of batches) {
    const loss = model.loss(b.inputs, b.targets, b.batchSize, b.seqLen);
    total += (await loss.data())[0]! * b.batchSize * b.seqLen;
    count += b.batchSize * b.seqLen;
    loss.dispose();
  }
  return total / count;
}

/** The warm-up step draws its own batch (not the run's first), from this seed. */
export const warmupSeed = (config: RunConfig): number => config.train.seed + 1_000_003;

/** Runs fn (the warm-up step), then puts every weight back as it was: the measured run starts from the init. */
export async function withWeightsRestored(params: ParamTable, fn: () => Promise<unknown>): Promise<void> {
  const snapshot = new Map([...params].map(([name, p]) => [name, tf.clone(p.variable)]));
  try {
    await fn();
  } finally {
    for (const [name, value] of snapshot) {
      params.get(name)!.variable.assign(value);
      value.dispose();
    }
  }
}

/**
 * One replica's state and the steps every replica shares. `optimizerParams` chooses which parameters this
 * replica's optimizer updates (all of them, or a data-parallel worker's own shard under ZeRO-1).
 */
export class ReplicaCore {
  readonly model: GPT;
  readonly valBatches: Batch[];
  optimizer: Optimizer;
  sampler: BatchSampler;

  constructor(
    readonly input: ReplicaInput,
    private readonly optimizerParams: (model: GPT) => ParamTable = (model) => model.params,
  ) {
    const { config, data, recipes, backend } = input;
    this.model = new GPT(config.model, recipes.parts(defaultParts), engineFor(backend), config.train.seed);
    recipes.onInit(this.model.params);
    // Evaluate in training-sized batches: wasm's heap never shrinks, so a bigger eval batch would set the peak.
    this.valBatches = evalBatches(data.val, config.train.evalTokens, config.model.blockSize, config.train.batchSize);
    this.optimizer = recipes.optimizer(this.optimizerParams(this.model), config.train);
    this.sampler = this.trainSampler(config.train.seed);
  }

  private trainSampler(seed: number): BatchSampler {
    const { config, data } = this.input;
    return new BatchSampler(data.train, config.train.batchSize, config.model.blockSize, seed);
  }

  /** The loss of one batch and its gradients by parameter name (the caller disposes both). */
  gradients(batch: Batch): { loss: tf.Scalar; grads: Record<string, tf.Tensor> } {
    const { value, grads } = tf.variableGrads(() => this.model.loss(batch.inputs, batch.targets, batch.batchSize, batch.seqLen), this.model.variables());
    return { loss: value, grads: this.model.byParamName(grads) };
  }

  /** The recipes' after-step hook (inside no tidy). */
  afterStep(step: number): void {
    this.input.recipes.afterStep(this.model.params, step);
  }

  /**
   * One full step (`step`, drawing from the sampler it is given) and one evaluation batch compile and prepare
   * every kernel; then the weights are restored and the optimizer (with its state) is thrown away, so the
   * measured run starts exactly from the init. `evaluateBatch` false: another replica does the evaluation batch.
   */
  async warmup(step: (sampler: BatchSampler) => Promise<unknown>, evaluateBatch = true): Promise<void> {
    const warm = this.trainSampler(warmupSeed(this.input.config));
    await withWeightsRestored(this.model.params, () => step(warm));
    this.optimizer.dispose();
    if (evaluateBatch) await evaluate(this.model, this.valBatches.slice(0, 1));
    this.optimizer = this.input.recipes.optimizer(this.optimizerParams(this.model), this.input.config.train);
    this.sampler = this.trainSampler(this.input.config.train.seed);
  }

  evaluate(): Promise<number> {
    return evaluate(this.model, this.valBatches);
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
    this.input.recipes.teardown();
  }
}

/** One optimizer step in this thread (gradient accumulation, clipping, update, hooks). Resolves to [loss, grad norm]. */
export async function trainStep(
  model: GPT,
  optimizer: Optimizer,
  next: () => Batch,
  config: RunConfig,
  lrFactor: number,
  afterStep: () => void,
): Promise<[number, number]> {
  const { gradAccumSteps, gradClip } = config.train;
  const variables = model.variables();
  const summary = tf.tidy(() => {
    let lossSum: tf.Tensor = tf.scalar(0);
    let gradSum: Record<string, tf.Tensor> = {};
    for (let micro = 0; micro < gradAccumSteps; micro++) {
      const batch = next();
      const { value, grads: byVariable } = tf.variableGrads(() => model.loss(batch.inputs, batch.targets, batch.batchSize, batch.seqLen), variables);
      const grads = model.byParamName(byVariable);
      lossSum = tf.add(lossSum, value);
      gradSum = micro === 0 ? grads : Object.fromEntries(Object.entries(grads).map(([n, g]) => [n, tf.add(gradSum[n]!, g)]));
    }
    if (gradAccumSteps > 1) gradSum = Object.fromEntries(Object.entries(gradSum).map(([n, g]) => [n, tf.div(g, gradAccumSteps)]));
    const norm = clipAndStep(optimizer, gradSum, lrFactor, gradClip);
    return tf.stack([tf.div(lossSum, gradAccumSteps), norm]);
  });
  afterStep();
  const [loss, norm] = await summary.data(); // the device sync that closes the step
  summary.dispose();
  return [loss!, norm!];
}

/** trainStep on a replica's own model, optimizer and config. */
const coreStep = (core: ReplicaCore, next: () => Batch, lrFactor: number, step: number): Promise<[number, number]> =>
  trainStep(core.model, core.optimizer, next, core.input.config, lrFactor, () => core.afterStep(step));

/** Training in this thread: one ReplicaCore, stepped by trainStep. */
export class LocalReplica implements Replica {
  private readonly core: ReplicaCore;

  constructor(input: ReplicaInput) {
    this.core = new ReplicaCore(input);
  }

  static readonly factory: ReplicaFactory = async (input) => new LocalReplica(input);
  readonly workers = 1;

  get parameters(): number {
    return this.core.model.parameterCount();
  }

  get optimizer(): string {
    return this.core.optimizer.name;
  }

  async warmup(lrFactor: number): Promise<number | null> {
    let flops: number | null = null;
    await this.core.warmup(async (sampler) => {
      flops = await countProductFlops(() => coreStep(this.core, () => sampler.next(), lrFactor, 0));
    });
    return flops;
  }

  async step(lrFactor: number, step: number): Promise<StepResult> {
    const [loss, gradNorm] = await coreStep(this.core, () => this.core.sampler.next(), lrFactor, step);
    return { loss, gradNorm };
  }

  evaluate(): Promise<number> {
    return this.core.evaluate();
  }

  async dispose(): Promise<void> {
    this.core.dispose();
  }
}
