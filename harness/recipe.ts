/**
 * The Recipe contract. A recipe is a factory returning `{ name, description, source, ...hooks }` (vite's plugin
 * shape): every hook is optional, per-run state lives in the factory's closure, and recipes never edit the core.
 * `composeRecipes` below is the one place that decides how several recipes combine: hooks run in the order the
 * user listed the recipes (`--recipe a,b,c`), recipes marked `enforce: 'pre'` before the others and 'post' after
 * them, each transform receiving what the previous ones produced. Which model parts a recipe replaces is
 * declared (`replaces`), so "is this part still the core's?" is a question about declarations, not identities.
 */
import type { BackendInfo } from './backends/index.ts';
import type { RunConfig, TrainConfig } from './config.ts';
import { UserError } from './errors.ts';
import type { GPTParts, ParamTable } from './model.ts';
import { adamW, type Optimizer, type OptimizerFactory } from './optim.ts';
import { scheduleFor, type LrSchedule } from './schedule.ts';
import type { CommsVariant } from './parallel/comms.ts';

export interface Recipe {
  /** Identifier used on the command line (`--recipe name`). */
  name: string;
  /**
   * Options given on the command line (`--recipe muon:lr=0.04`). They are part of the recipe's label
   * (`muon:lr=0.04`) and so of the run's identity; a recipe's factory applies them.
   */
  options?: Readonly<Record<string, number>>;
  /** One line: what the trick is. */
  description: string;
  /** Where it comes from: a paper, a record, a repository. */
  source: string;
  /**
   * Recipes this one cannot be combined with, each with the reason. Checked in both directions before anything
   * runs; the run is refused with that reason.
   */
  conflicts?: Readonly<Record<string, string>>;
  /**
   * Called before anything runs with the backend that will run it. Return notes to print and record, e.g. that
   * this recipe does not speed anything up on this backend.
   */
  notes?(backend: BackendInfo): string[];
  /**
   * Where this recipe's hooks run among the others (vite's `enforce`): 'pre' recipes first, then the rest, then
   * 'post' ones, each group in the order the user listed them. Decided in composeRecipes alone.
   */
  enforce?: 'pre' | 'post';
  /** The model parts its `model` hook replaces (declared, and checked when the model is built). */
  replaces?: readonly PartName[];
  /**
   * Parts its `model` hook replaces with a faster version of the core's own, and only while no other recipe
   * replaces them (fused-kernels): declared apart from `replaces` so they do not make another recipe's part
   * look taken. Without it, a recipe that fuses the MLP and one that owns it would each defer to the other, and
   * neither would run.
   */
  fuses?: readonly PartName[];
  /** Adjusts the run configuration (learning rate, schedule, batch...). Runs before the model is built. */
  config?(config: RunConfig): RunConfig;
  /**
   * Replaces or wraps parts of the model (normalization, attention scores and scale, residual update, MLP,
   * position encoding, logits, parameters and their groups). Receives the parts composed so far, and what the
   * whole set of recipes declares: `isCore(part)` is true when no other recipe of the run replaces that part
   * (`replaces`; a part another recipe only `fuses` still counts as the core's).
   */
  model?(parts: GPTParts, info: PartsInfo): GPTParts;
  /**
   * Builds the optimizer; `previous` builds what the earlier recipes would (`info.previousIsCore`: no earlier
   * recipe has an optimizer hook, so `previous` is the core's AdamW).
   */
  optimizer?(previous: OptimizerFactory, info: OptimizerInfo): OptimizerFactory;
  /** Returns the LR multiplier schedule; `previous` is what the earlier recipes (or the config) give. */
  lrSchedule?(train: TrainConfig, previous: LrSchedule): LrSchedule;
  /** Runs on the weights once after initialization, before the warm-up step and step 0. */
  onInit?(params: ParamTable): void;
  /**
   * Runs on the weights after every optimizer step (inside no tidy: dispose what you create). It also runs in the
   * warm-up step (as step 0), outside the clock, whose effect on the weights is then undone.
   */
  afterStep?(params: ParamTable, step: number): void;
  /**
   * How gradients move between data-parallel workers (`--workers N`); changes nothing else. At most one
   * recipe may set it; without one, workers use the per-tensor fp32 all-reduce.
   */
  comms?: CommsVariant;
  /**
   * Called once when the run's replica is disposed (after its last step, or after an error): releases what the
   * recipe holds for the run (tensors it cached, process settings it changed).
   */
  teardown?(): void;
}

export type PartName = keyof GPTParts;

export interface PartsInfo {
  /** No other recipe of this run replaces the part (fusing it does not count): it is (or, for this recipe, was) the core's own. */
  isCore(part: PartName): boolean;
}

export interface OptimizerInfo {
  /** No recipe before this one has an optimizer hook: `previous` is the core's AdamW. */
  previousIsCore: boolean;
}

/** Everything the trainer needs from an ordered list of recipes. */
export interface ComposedRecipes {
  /** Recipe labels in order (name plus options): the run's recipe identity. */
  names: string[];
  config(base: RunConfig): RunConfig;
  parts(base: GPTParts): GPTParts;
  optimizer: OptimizerFactory;
  lrSchedule(train: TrainConfig): LrSchedule;
  onInit(params: ParamTable): void;
  afterStep(params: ParamTable, step: number): void;
  notes(backend: BackendInfo): string[];
  comms: CommsVariant;
  /** Every recipe's teardown (the replica calls it when it is disposed). */
  teardown(): void;
}

/** The recipe as it is recorded: its name, then any options in the order given (`muon:lr=0.04`). */
export const recipeLabel = (recipe: Recipe): string =>
  [recipe.name, ...Object.entries(recipe.options ?? {}).map(([key, value]) => `${key}=${value}`)].join(':');

export function composeRecipes(recipes: Recipe[]): ComposedRecipes {
  const baseNames = recipes.map((r) => r.name);
  const duplicate = baseNames.find((n, i) => baseNames.indexOf(n) !== i);
  const names = recipes.map(recipeLabel);
  if (duplicate) throw new UserError(`recipe '${duplicate}' is listed twice`);
  for (const recipe of recipes) {
    for (const other of recipes) {
      const reason = recipe.conflicts?.[other.name];
      if (reason) throw new UserError(`recipes '${recipe.name}' and '${other.name}' cannot be combined: ${reason}`);
    }
  }
  const comms = recipes.filter((r) => r.comms !== undefined);
  if (comms.length > 1) throw new UserError(`recipes '${comms[0]!.name}' and '${comms[1]!.name}' cannot be combined: both choose how gradients move`);
  // The one place that orders hooks: 'pre', then unmarked, then 'post', each group as listed. The run's identity
  // (names) stays the listed order.
  const ordered = [...recipes.filter((r) => r.enforce === 'pre'), ...recipes.filter((r) => r.enforce === undefined), ...recipes.filter((r) => r.enforce === 'post')];
  const optimizer = ordered.reduce<OptimizerFactory>(
    (previous, r, i) => r.optimizer?.(previous, { previousIsCore: ordered.slice(0, i).every((o) => o.optimizer === undefined) }) ?? previous,
    adamW,
  );
  const partsInfo = (recipe: Recipe): PartsInfo => ({ isCore: (part) => !recipes.some((o) => o !== recipe && o.replaces?.includes(part)) });
  const buildParts = (base: GPTParts): GPTParts =>
    ordered.reduce((parts, r) => {
      const next = r.model?.(parts, partsInfo(r)) ?? parts;
      const undeclared = (Object.keys(next) as PartName[]).filter((key) => next[key] !== parts[key] && !r.replaces?.includes(key) && !r.fuses?.includes(key));
      if (undeclared.length > 0) throw new Error(`recipe '${r.name}' replaces ${undeclared.join(', ')} without declaring it in 'replaces' or 'fuses'`);
      return next;
    }, base);
  return {
    names,
    config: (base) => ordered.reduce((cfg, r) => r.config?.(cfg) ?? cfg, base),
    parts: buildParts,
    optimizer,
    lrSchedule: (train) => ordered.reduce((s, r) => r.lrSchedule?.(train, s) ?? s, scheduleFor(train)),
    onInit: (params) => ordered.forEach((r) => r.onInit?.(params)),
    afterStep: (params, step) => ordered.forEach((r) => r.afterStep?.(params, step)),
    notes: (backend) => recipes.flatMap((r) => (r.notes?.(backend) ?? []).map((n) => `${r.name}: ${n}`)),
    comms: comms[0]?.comms ?? 'allreduce',
    teardown: () => ordered.forEach((r) => r.teardown?.()),
  };
}

export type { Optimizer, OptimizerFactory, LrSchedule };
