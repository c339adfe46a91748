/** The recipe registry: every recipe `speedrun --recipe` and `speedrun list` know. */
import type { Recipe } from '../harness/recipe.ts';
import { UserError } from '../harness/errors.ts';
import { baselineRecipe } from './baseline.ts';
import { fusedKernelsRecipe } from './fusedKernels.ts';
import { commsBf16Recipe, commsBucketedRecipe, commsOverlapRecipe, commsShardedRecipe } from './comms.ts';
import { muonRecipe } from './muon.ts';
import { ngptRecipe } from './ngpt.ts';
import { qkNormRecipe } from './qkNorm.ts';
import { relu2Recipe } from './relu2.ts';
import { rotaryRecipe } from './rotary.ts';
import { softcapRecipe } from './softcap.ts';
import { untiedHeadRecipe } from './untiedHead.ts';
import { wsdRecipe } from './wsd.ts';
import { zeroInitRecipe } from './zeroInit.ts';

export const RECIPE_FACTORIES: Readonly<Record<string, () => Recipe>> = {
  baseline: baselineRecipe,
  ngpt: ngptRecipe,
  muon: () => muonRecipe(),
  rotary: rotaryRecipe,
  'qk-norm': qkNormRecipe,
  relu2: relu2Recipe,
  softcap: () => softcapRecipe(),
  'zero-init': zeroInitRecipe,
  'untied-head': untiedHeadRecipe,
  wsd: wsdRecipe,
  'fused-kernels': fusedKernelsRecipe,
  'comms-bucketed': commsBucketedRecipe,
  'comms-bf16': commsBf16Recipe,
  'comms-overlap': commsOverlapRecipe,
  'comms-sharded': commsShardedRecipe,
};

/** Parses `a,b,c` into fresh recipe instances; unknown names are a one-line error. */
export function resolveRecipes(spec: string): Recipe[] {
  const names = spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new UserError('--recipe needs at least one recipe name');
  return names.map((name) => {
    const factory = RECIPE_FACTORIES[name];
    if (!factory) throw new UserError(`unknown recipe '${name}' (available: ${Object.keys(RECIPE_FACTORIES).join(', ')})`);
    return factory();
  });
}
