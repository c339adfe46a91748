/**
 * The webgpu backend (Dawn + @tensorflow/tfjs-backend-webgpu). Kernel coverage needs no GPU: every kernel a
 * training step and an evaluation dispatch, for every recipe, must be registered for webgpu. Training parity
 * needs an adapter (software Vulkan is enough): 10 micro steps on webgpu and on cpu from the same seed give the
 * same losses within 1e-4 relative (float32 sums in a different order; observed differences are ~1e-6).
 * Without an adapter these are skipped with the reason, unless SPEEDRUN_REQUIRE_WEBGPU=1 (set by .ci/run).
 */
import { test, type TestContext } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { webgpuInstalled } from '../harness/backends/webgpu.ts';
import { BatchSampler } from '../harness/data/tokens.ts';
import { defaultParts, GPT } from '../harness/model.ts';
import { engineFor } from '../harness/ops.ts';
import { evaluate, trainStep } from '../harness/replica.ts';
import { loadPlan } from '../harness/run.ts';
import { fixtureTextFile, microPlan, ROOT, runCli, tempDir } from './utils.ts';

const required = process.env.SPEEDRUN_REQUIRE_WEBGPU === '1';

test('every kernel a training step and an evaluation use, for every recipe, exists on webgpu', async (t) => {
  if (!webgpuInstalled()) {
    if (required) assert.fail('the webgpu packages are required here');
    return t.skip('webgpu packages not installed');
  }
  await import('@tensorflow/tfjs-backend-webgpu'); // registers kernels; starts no GPU
  const used = new Set<string>();
  for (const recipe of ['baseline', 'ngpt', 'muon,rotary,qk-norm,relu2,softcap,untied-head,zero-init', 'wsd']) {
    const plan = await microPlan({ recipe });
    const { config } = plan;
    const { data, recipes } = loadPlan(plan);
    const model = new GPT(config.model, recipes.parts(defaultParts), engineFor('webgpu'), 0);
    recipes.onInit(model.params);
    const optimizer = recipes.optimizer(model.params, config.train);
    const sampler = new BatchSampler(data.train, config.train.batchSize, config.model.blockSize, 0);
    const profile = await tf.profile(async () => {
      await trainStep(model, optimizer, () => sampler.next(), config, 1, () => recipes.afterStep(model.params, 0));
      await evaluate(model, [sampler.next()]);
    });
    // Profile entries are kernels, plus scopes (customGrad's "unnamed scope") that are not.
    for (const k of profile.kernels) if (tf.getKernel(k.name, 'cpu') !== undefined) used.add(k.name);
    optimizer.dispose();
    model.dispose();
  }
  assert.ok(used.size > 20, `profiled ${used.size} kernels`);
  const missing = [...used].filter((name) => tf.getKernel(name, 'webgpu') === undefined);
  assert.deepEqual(missing, []);
});

const file = fixtureTextFile();
const losses = (backend: string, recipe = 'baseline') => {
    const out = tempDir();
    const result = runCli(['--recipe', recipe, '--track', `text:${file}`, '--preset', 'micro', '--backend', backend, '--steps', '10', '--out', out, '-q'], 180_000);
    const [runDir] = fs.existsSync(path.join(out, 'runs')) ? fs.readdirSync(path.join(out, 'runs')) : [];
    const values = runDir
      ? fs.readFileSync(path.join(out, 'runs', runDir, 'events.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"train_loss"')).map((l) => JSON.parse(l).value as number)
      : [];
    return { result, values, record: runDir ? JSON.parse(fs.readFileSync(path.join(out, 'runs', runDir, 'run.json'), 'utf8')) : undefined };
};

// Plain webgpu's curve is the reference of two tests: trained once (software Vulkan makes each run ~20 s).
let plainWebgpu: ReturnType<typeof losses> | undefined;
const plainWebgpuLosses = () => (plainWebgpu ??= losses('webgpu'));

/** True when there is no adapter here (and that is allowed): the test is then skipped with the reason. */
function noAdapter(t: TestContext, result: { status: number | null; stderr: string }): boolean {
  if (result.status !== 2 || !/webgpu/.test(result.stderr)) return false;
  const why = result.stderr.trim().split('\n').at(-1)!;
  if (required) assert.fail(`webgpu is required here: ${why}`);
  t.skip(why);
  return true;
}

test('10 micro steps on webgpu match cpu from the same seed', (t) => {
  const gpu = plainWebgpuLosses();
  if (noAdapter(t, gpu.result)) return;
  assert.equal(gpu.result.status, 3, gpu.result.stderr); // the step budget ends these runs
  const cpu = losses('cpu');
  assert.equal(gpu.values.length, 10);
  assert.equal(cpu.values.length, 10);
  for (let i = 0; i < 10; i++) {
    const relative = Math.abs(gpu.values[i]! - cpu.values[i]!) / Math.abs(cpu.values[i]!);
    assert.ok(relative < 1e-4, `step ${i + 1}: webgpu ${gpu.values[i]} vs cpu ${cpu.values[i]}`);
  }
  // The run records the adapter it ran on.
  assert.equal(gpu.record.backend.name, 'webgpu');
  assert.ok(gpu.record.backend.adapter.description.length > 0 || gpu.record.backend.adapter.vendor.length > 0);
  if (gpu.record.backend.adapter.software) assert.match(gpu.result.stderr, /timings are not meaningful/);
});

test('fused causal softmax kernels match TF.js ops on webgpu, forward and gradient', (t) => {
  const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'fixtures', 'webgpu-kernels.ts')], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (child.status !== 0 && /no WebGPU adapter|needs the npm packages/.test(child.stderr)) {
    if (required) assert.fail(child.stderr);
    return t.skip('no WebGPU adapter');
  }
  assert.equal(child.status, 0, child.stderr);
  const diffs = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
  for (const [name, diff] of Object.entries(diffs)) assert.ok(diff < 1e-5, `${name}: ${diff}`);
});

test('fused-kernels trains identically to baseline on webgpu, and says it changes nothing on cpu', (t) => {
  const fused = losses('webgpu', 'fused-kernels');
  if (noAdapter(t, fused.result)) return;
  assert.match(fused.result.stderr, /fused: attention scale \+ causal mask \+ softmax/);
  assert.ok(fused.record.notes.some((n: string) => n.includes('fused:')), 'the run record lists what was fused');
  const plain = plainWebgpuLosses();
  for (let i = 0; i < 10; i++) assert.ok(Math.abs(fused.values[i]! - plain.values[i]!) < 1e-5, `step ${i + 1}`);
  const cpu = losses('cpu', 'fused-kernels');
  assert.match(cpu.result.stderr, /no fused kernels on backend cpu/);
});
