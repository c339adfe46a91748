/**
 * Run configuration as plain typed values (nanoGPT style), validated once with zod.
 * A model preset fixes the network's shape; a track fixes data, batch, evaluation and target;
 * recipes and command-line overrides adjust the rest.
 */
import { z } from 'zod';
import { UserError } from './errors.ts';

export interface ModelConfig {
  vocabSize: number;
  blockSize: number; // context length T
  nLayer: number;
  nHead: number;
  nEmbd: number; // model width C
}

export type ModelPresetName = 'micro' | 'nano' | 'gpt2-small';

/** Model shape plus the batch it was designed for (nanoGPT's CPU config for `nano`). */
export interface ModelPreset extends Omit<ModelConfig, 'vocabSize'> {
  batchSize: number;
}

export const MODEL_PRESETS: Record<ModelPresetName, ModelPreset> = {
  // For tests: trains in seconds on the cpu backend.
  micro: { nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 32, batchSize: 8 },
  // nanoGPT's shakespeare_char CPU command: --n_layer=4 --n_head=4 --n_embd=128 --block_size=64 --batch_size=12
  nano: { nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 64, batchSize: 12 },
  // GPT-2 124M; only sensible on a GPU backend.
  'gpt2-small': { nLayer: 12, nHead: 12, nEmbd: 768, blockSize: 1024, batchSize: 8 },
};

export type ScheduleName = 'cosine' | 'wsd';

export interface TrainConfig {
  seed: number;
  batchSize: number; // sequences per micro-batch
  gradAccumSteps: number; // micro-batches per optimizer step
  lr: number; // peak learning rate
  minLr: number;
  schedule: ScheduleName; // 'cosine' = warmup + cosine; 'wsd' = warmup-stable-decay (trapezoid)
  warmupSteps: number;
  scheduleSteps: number; // length of the LR schedule in optimizer steps
  cooldownFrac: number; // wsd: fraction of scheduleSteps spent decaying
  weightDecay: number; // decoupled (AdamW), matrices only
  beta1: number;
  beta2: number;
  eps: number;
  gradClip: number; // global-norm clip; 0 disables
  evalInterval: number; // optimizer steps between evaluations
  evalTokens: number; // fixed validation tokens per evaluation
  target: number; // validation loss that ends the run as `success`
  maxSteps: number; // step budget
  maxTimeMs: number; // train-clock budget (0 = none)
}

export interface RunConfig {
  model: ModelConfig;
  train: TrainConfig;
}

const positiveInt = z.number().int().positive();
const modelSchema = z.strictObject({
  vocabSize: positiveInt,
  blockSize: positiveInt,
  nLayer: positiveInt,
  nHead: positiveInt,
  nEmbd: positiveInt,
});
const trainSchema = z.strictObject({
  seed: z.number().int().nonnegative(),
  batchSize: positiveInt,
  gradAccumSteps: positiveInt,
  lr: z.number().positive(),
  minLr: z.number().nonnegative(),
  schedule: z.enum(['cosine', 'wsd']),
  warmupSteps: z.number().int().nonnegative(),
  scheduleSteps: positiveInt,
  cooldownFrac: z.number().min(0).max(1),
  weightDecay: z.number().nonnegative(),
  beta1: z.number().min(0).lt(1),
  beta2: z.number().min(0).lt(1),
  eps: z.number().positive(),
  gradClip: z.number().nonnegative(),
  evalInterval: positiveInt,
  evalTokens: positiveInt,
  target: z.number().positive(),
  maxSteps: positiveInt,
  maxTimeMs: z.number().nonnegative(),
});
/** The shape of a run config, for readers of stored configs (bundles) as well. */
export const runConfigSchema = z.strictObject({ model: modelSchema, train: trainSchema });

/** Rejects unknown keys, wrong types and inconsistent shapes with one line naming the field. */
export function validateRunConfig(config: unknown): RunConfig {
  const parsed = runConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.join('.') || 'config';
    throw new UserError(`invalid config: ${where}: ${issue.message}`);
  }
  const { model, train } = parsed.data;
  if (model.nEmbd % model.nHead !== 0) {
    throw new UserError(`invalid config: model.nEmbd (${model.nEmbd}) must be divisible by model.nHead (${model.nHead})`);
  }
  if (train.minLr > train.lr) {
    throw new UserError(`invalid config: train.minLr (${train.minLr}) is above train.lr (${train.lr})`);
  }
  return parsed.data;
}

/** nanoGPT's optimizer settings for its CPU shakespeare_char run; tracks override the data-dependent fields. */
export const DEFAULT_TRAIN: Omit<TrainConfig, 'batchSize' | 'evalInterval' | 'evalTokens' | 'target' | 'maxSteps'> = {
  seed: 0,
  gradAccumSteps: 1,
  lr: 1e-3,
  minLr: 1e-4,
  schedule: 'cosine',
  warmupSteps: 100,
  scheduleSteps: 2000,
  cooldownFrac: 0.6,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.99,
  eps: 1e-8,
  gradClip: 1.0,
  maxTimeMs: 0,
};
