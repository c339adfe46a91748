/** The Recipe contract's ordering, declarations and teardown, decided in composeRecipes alone. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultParts } from '../harness/model.ts';
import { composeRecipes, type Recipe } from '../harness/recipe.ts';
import type { RunConfig } from '../harness/config.ts';
import { resolveRecipes } from '../recipes/index.ts';

const order: string[] = [];
const marker = (name: string, enforce?: Recipe['enforce']): Recipe => ({
  name,
  description: name,
  source: 'test',
  ...(enforce ? { enforce } : {}),
  config: (c) => (order.push(name), c),
  teardown: () => order.push(`teardown ${name}`),
});

test("hooks run 'pre', then unmarked, then 'post', each group as listed; the run's identity keeps the listed order", () => {
  order.length = 0;
  const composed = composeRecipes([marker('a', 'post'), marker('b'), marker('c', 'pre'), marker('d'), marker('e', 'pre')]);
  composed.config({} as RunConfig);
  assert.deepEqual(order, ['c', 'e', 'b', 'd', 'a']);
  assert.deepEqual(composed.names, ['a', 'b', 'c', 'd', 'e']);
  order.length = 0;
  composed.teardown();
  assert.deepEqual(order, ['teardown c', 'teardown e', 'teardown b', 'teardown d', 'teardown a']);
});

test('a model hook that replaces a part it did not declare is refused when the model is built', () => {
  const sneaky: Recipe = { name: 'sneaky', description: '', source: 'test', replaces: ['mlp'], model: (parts) => ({ ...parts, mlp: parts.mlp, logits: (h) => h }) };
  assert.throws(() => composeRecipes([sneaky]).parts(defaultParts), /recipe 'sneaky' replaces logits without declaring it/);
});

test("isCore answers from the run's declarations, whatever the order the recipes are listed in", () => {
  const seen: boolean[] = [];
  const probe: Recipe = { name: 'probe', description: '', source: 'test', enforce: 'post', model: (parts, { isCore }) => (seen.push(isCore('mlp'), isCore('logits')), parts) };
  composeRecipes([probe, ...resolveRecipes('relu2')]).parts(defaultParts);
  composeRecipes([...resolveRecipes('relu2'), probe]).parts(defaultParts);
  composeRecipes([probe]).parts(defaultParts);
  assert.deepEqual(seen, [false, true, false, true, true, true]);
});

test('a part another recipe only fuses is still the core\'s: the recipe that replaces it owns it, the fusing one yields', () => {
  const seen: Record<string, boolean> = {};
  const owner: Recipe = { name: 'owner', description: '', source: 'test', replaces: ['mlp'], model: (parts, { isCore }) => ((seen.owner = isCore('mlp')), parts) };
  const fuser: Recipe = { name: 'fuser', description: '', source: 'test', enforce: 'pre', fuses: ['mlp'], model: (parts, { isCore }) => ((seen.fuser = isCore('mlp')), parts) };
  composeRecipes([owner, fuser]).parts(defaultParts);
  assert.deepEqual(seen, { fuser: false, owner: true });
  // fused-kernels declares what it fuses that way, so int8 (which fuses its own MLP's GELU) keeps the MLP.
  const [fusedKernels] = resolveRecipes('fused-kernels');
  assert.deepEqual(fusedKernels!.replaces ?? [], []);
  assert.ok(fusedKernels!.fuses?.includes('mlp'));
});

test("fused-kernels fuses the core's AdamW whether it is listed before or after muon", () => {
  const seen: boolean[] = [];
  const probe: Recipe = { name: 'probe', description: '', source: 'test', optimizer: (previous, { previousIsCore }) => (seen.push(previousIsCore), previous) };
  composeRecipes([probe, ...resolveRecipes('muon')]);
  composeRecipes([...resolveRecipes('muon'), probe]);
  assert.deepEqual(seen, [true, false], 'previousIsCore: no optimizer hook before this one');
  const fused = resolveRecipes('muon,fused-kernels');
  assert.equal(fused[1]!.enforce, 'pre', "fused-kernels' hooks run first, so Muon's AdamW part is the fused one in either order");
});
