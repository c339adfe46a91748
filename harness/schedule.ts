/**
 * Learning-rate schedules as multipliers of the peak rate, by optimizer step (0-based).
 * - cosine: linear warmup, then cosine from 1 down to minLr/lr at scheduleSteps, flat after (nanoGPT).
 * - wsd: warmup-stable-decay (trapezoid): warmup, flat at 1, then a linear cool-down to minLr/lr over the last
 *   cooldownFrac of scheduleSteps (modded-nanogpt's schedule).
 */
import type { TrainConfig } from './config.ts';

export type LrSchedule = (step: number) => number;

export function warmupCosine(train: TrainConfig): LrSchedule {
  const floor = train.minLr / train.lr;
  return (step) => {
    if (step < train.warmupSteps) return (step + 1) / train.warmupSteps;
    if (step >= train.scheduleSteps) return floor;
    const progress = (step - train.warmupSteps) / Math.max(1, train.scheduleSteps - train.warmupSteps);
    return floor + 0.5 * (1 + Math.cos(Math.PI * progress)) * (1 - floor);
  };
}

export function warmupStableDecay(train: TrainConfig): LrSchedule {
  const floor = train.minLr / train.lr;
  const decayStart = train.scheduleSteps * (1 - train.cooldownFrac);
  return (step) => {
    if (step < train.warmupSteps) return (step + 1) / train.warmupSteps;
    if (step < decayStart) return 1;
    if (step >= train.scheduleSteps) return floor;
    const progress = (step - decayStart) / Math.max(1, train.scheduleSteps - decayStart);
    return 1 - progress * (1 - floor);
  };
}

export function scheduleFor(train: TrainConfig): LrSchedule {
  return train.schedule === 'wsd' ? warmupStableDecay(train) : warmupCosine(train);
}
