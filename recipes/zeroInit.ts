/**
 * zero-init — the residual output projections (attention c_proj and MLP c_proj) start at zero, so every block
 * starts as the identity. Source: modded-nanogpt's "ReLU² + QK-norm + zero-init projections" record
 * (the muP/"ReZero" idea: Bachlechner et al., arXiv 2003.04887).
 */
import type { Recipe } from '../harness/recipe.ts';

export const isOutputProjection = (name: string): boolean => /^h\.\d+\.(attn|mlp)\.c_proj\.weight$/.test(name);

export function zeroInitRecipe(): Recipe {
  return {
    name: 'zero-init',
    description: 'zero-initialized residual output projections: every block starts as the identity',
    source: 'modded-nanogpt record of 2024-10; Bachlechner et al., ReZero (arXiv 2003.04887)',
    conflicts: { ngpt: "nGPT normalizes every matrix; a zero matrix has no direction and normalizing it is undefined" },
    replaces: ['params'],
    model: (parts) => ({
      ...parts,
      params: (cfg) => parts.params(cfg).map((p) => (isOutputProjection(p.name) ? { ...p, init: { kind: 'constant', value: 0 } } : p)),
    }),
  };
}
