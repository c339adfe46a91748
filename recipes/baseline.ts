/**
 * baseline — the shared GPT core unchanged: nanoGPT's model (LayerNorm, learned positions, GELU MLP, tied head)
 * and optimizer (AdamW, lr 1e-3, betas 0.9/0.99, weight decay 0.1, warmup 100 + cosine, clip 1.0).
 * Source: karpathy/nanoGPT (model.py, config/train_shakespeare_char.py).
 */
import type { Recipe } from '../harness/recipe.ts';

export function baselineRecipe(): Recipe {
  return {
    name: 'baseline',
    description: "nanoGPT's GPT and AdamW, unchanged: the reference every other recipe is timed against",
    source: 'karpathy/nanoGPT (model.py, config/train_shakespeare_char.py)',
  };
}
