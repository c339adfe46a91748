/**
 * The recipe registry: every recipe `speedrun --recipe` and `speedrun list` know, and the few numeric options a
 * recipe takes on the command line (`--recipe muon:lr=0.04,rotary`). Options given become part of the recipe's
 * label, and so of the run's identity.
 */
import { z } from 'zod';
import { recipeLabel, type Recipe } from '../harness/recipe.ts';
import { UserError } from '../harness/errors.ts';
import { baselineRecipe } from './baseline.ts';
import { fusedKernelsRecipe } from './fused-kernels/index.ts';
import { int8Recipe } from './int8/index.ts';
import { commsBf16Recipe, commsBucketedRecipe, commsOverlapRecipe, commsShardedRecipe } from './comms.ts';
import { mixedPrecisionRecipe } from './mixedPrecision.ts';
import { MUON_DEFAULTS, muonRecipe } from './muon/index.ts';
import { ngptRecipe } from './ngpt/index.ts';
import { qkNormRecipe } from './qkNorm.ts';
import { relu2Recipe } from './relu2.ts';
import { rotaryRecipe } from './rotary.ts';
import { SOFTCAP, softcapRecipe } from './softcap.ts';
import { untiedHeadRecipe } from './untiedHead.ts';
import { wsdRecipe } from './wsd.ts';
import { zeroInitRecipe } from './zeroInit.ts';

export type RecipeOptions = Readonly<Record<string, number>>;

export interface RecipeEntry {
  create(options: RecipeOptions): Recipe;
  /** The options it accepts, each with a one-line description (shown by `speedrun list`). */
  options?: Readonly<Record<string, string>>;
  /** Validates the options given; the zod message becomes the one-line error. */
  schema?: z.ZodType<RecipeOptions>;
}

const plain = (factory: () => Recipe): RecipeEntry => ({ create: () => factory() });

export const RECIPES: Readonly<Record<string, RecipeEntry>> = {
  baseline: plain(baselineRecipe),
  ngpt: plain(ngptRecipe),
  muon: {
    create: (options) => muonRecipe({ ...MUON_DEFAULTS, ...options }),
    options: {
      lr: `Muon's learning rate (default ${MUON_DEFAULTS.lr})`,
      momentum: `Nesterov momentum after warm-up (default ${MUON_DEFAULTS.momentum})`,
    },
    schema: z.object({ lr: z.number().positive().max(10), momentum: z.number().gt(0).lt(1) }).partial().strict(),
  },
  rotary: plain(rotaryRecipe),
  'qk-norm': plain(qkNormRecipe),
  relu2: plain(relu2Recipe),
  softcap: {
    create: (options) => softcapRecipe(options.cap ?? SOFTCAP),
    options: { cap: `the logit cap (default ${SOFTCAP})` },
    schema: z.object({ cap: z.number().positive() }).partial().strict(),
  },
  'zero-init': plain(zeroInitRecipe),
  'untied-head': plain(untiedHeadRecipe),
  wsd: plain(wsdRecipe),
  'fused-kernels': plain(fusedKernelsRecipe),
  'mixed-precision': plain(mixedPrecisionRecipe),
  int8: {
    create: (options) => int8Recipe(options),
    options: { force: 'force=1: int8 even where it is not faster here (accuracy checks)' },
    schema: z.object({ force: z.literal(1) }).partial().strict(),
  },
  'comms-bucketed': plain(commsBucketedRecipe),
  'comms-bf16': plain(commsBf16Recipe),
  'comms-overlap': plain(commsOverlapRecipe),
  'comms-sharded': plain(commsShardedRecipe),
};

/** Parses one `name[:key=value...]` item of `--recipe`. */
function resolveRecipe(item: string): Recipe {
  const [name = '', ...pairs] = item.split(':').map((s) => s.trim());
  const entry = RECIPES[name];
  if (!entry) throw new UserError(`unknown recipe '${name}' (available: ${Object.keys(RECIPES).join(', ')})`);
  if (pairs.length === 0) return entry.create({});
  if (!entry.schema) throw new UserError(`recipe '${name}' takes no options (got '${item}')`);
  const given: Record<string, number> = {};
  for (const pair of pairs) {
    const match = /^([a-zA-Z][\w-]*)=(.+)$/.exec(pair);
    const value = match ? Number(match[2]) : NaN;
    if (!match || !Number.isFinite(value)) throw new UserError(`recipe option '${pair}' in '${item}' is not key=number`);
    if (match[1]! in given) throw new UserError(`recipe option '${match[1]}' is given twice in '${item}'`);
    given[match[1]!] = value;
  }
  const parsed = entry.schema.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join('.') || Object.keys(given).join(',');
    throw new UserError(`recipe '${name}' option '${key}': ${issue.message} (options: ${Object.keys(entry.options ?? {}).join(', ')})`);
  }
  return { ...entry.create(parsed.data), options: parsed.data };
}

/** Parses `a,b:key=value,c` into fresh recipe instances; unknown names and bad options are a one-line error. */
export function resolveRecipes(spec: string): Recipe[] {
  const items = spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0) throw new UserError('--recipe needs at least one recipe name');
  return items.map(resolveRecipe);
}

/** Whether a stored recipe label (`muon:lr=0.04`) names a recipe this speedrun has, with valid options. */
export function isKnownRecipe(label: string): boolean {
  if (label.includes(',')) return false;
  try {
    const recipes = resolveRecipes(label);
    return recipes.length === 1 && recipeLabel(recipes[0]!) === label;
  } catch {
    return false;
  }
}
