/**
 * wsd — warmup-stable-decay ("trapezoid") learning-rate schedule: short warmup, flat at the peak, then a long
 * linear cool-down over the last 60% of the schedule. Source: Hägele et al. (arXiv 2405.18392);
 * modded-nanogpt's schedule (no warmup, long cool-down).
 */
import type { Recipe } from '../harness/recipe.ts';

export function wsdRecipe(): Recipe {
  return {
    name: 'wsd',
    description: 'warmup-stable-decay (trapezoid) schedule with a cool-down over the last 60% of steps',
    source: 'Hägele et al. (arXiv 2405.18392); modded-nanogpt',
    config: (cfg) => ({ ...cfg, train: { ...cfg.train, schedule: 'wsd', cooldownFrac: 0.6 } }),
  };
}
