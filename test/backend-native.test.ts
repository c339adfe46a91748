/**
 * The native backend (wasm + speedrun's C kernels, with OpenBLAS sgemm through native/blas.c where it is
 * installed). Skipped where no addon is built (no C compiler), unless SPEEDRUN_REQUIRE_NATIVE=1 (set by .ci/run,
 * which installs OpenBLAS, so both builds exist there: the tests run on OpenBLAS's, and once on the kernels-only
 * one with SPEEDRUN_NATIVE_BLAS=0).
 * Products agree with an explicit reference within 1e-5 relative (fp32, summation order differs); training
 * follows wasm's loss curve from the same seed within 1e-5; no tensor leaks over 100 steps (the addon itself
 * allocates nothing: it writes into the output tensor TF.js allocated on the wasm heap).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADDON_PATH, KERNELS_ADDON_PATH, nativeAddonPath, nativeBuilt } from '../harness/backends/nativeBlas.ts';
import type { RunRecord } from '../harness/records.ts';
import { engineLabel } from '../harness/backends/engineLabel.ts';
import { fixtureTextFile, ROOT, runCli, tempDir } from './utils.ts';

const required = process.env.SPEEDRUN_REQUIRE_NATIVE === '1';
function unavailable(t: { skip(why: string): void }): boolean {
  if (nativeBuilt()) return false;
  if (required) assert.fail('the native backend is required here (a C compiler, and apt-get install libopenblas-dev for its products; then npm run build:native)');
  t.skip('native addon not built (no C compiler?): npm run build:native says why');
  return true;
}

/** The train losses (and the run's notes) of a micro run on a text file that stops at its step budget. */
function trainLosses(file: string, args: string[]): { losses: number[]; notes: string[] } {
  const out = tempDir();
  const result = runCli(['--track', `text:${file}`, '--preset', 'micro', ...args, '--out', out, '-q'], 120_000);
  assert.equal(result.status, 3, result.stderr);
  const [runDir] = fs.readdirSync(path.join(out, 'runs'));
  const losses = fs.readFileSync(path.join(out, 'runs', runDir!, 'events.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"train_loss"')).map((l) => JSON.parse(l).value as number);
  const notes = (JSON.parse(fs.readFileSync(path.join(out, 'runs', runDir!, 'run.json'), 'utf8')) as RunRecord).notes;
  return { losses, notes };
}

/** Whether the native backend here has OpenBLAS's products (the addon `native` loads). */
const blasBuilt = () => nativeAddonPath() === ADDON_PATH;

/** Runs test/fixtures/<name>.ts in its own process (a backend is per process) and parses its last line as JSON. */
function fixture<T>(name: string, ...args: string[]): T {
  return fixtureWith<T>({}, name, ...args);
}

function fixtureWith<T>(env: Record<string, string>, name: string, ...args: string[]): T {
  const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'fixtures', `${name}.ts`), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as T;
}

test('native matrix products (transposes, batches, broadcasting) agree with a reference', (t) => {
  if (unavailable(t)) return;
  const products = fixture<{ diffs: Record<string, number>; version: string }>('native-kernels');
  const check = ({ diffs }: { diffs: Record<string, number> }) => {
    assert.equal(Object.keys(diffs).length, 7);
    for (const [name, diff] of Object.entries(diffs)) assert.ok(diff < 1e-5, `${name}: ${diff}`);
  };
  check(products);
  // Where oneDNN's sgemm took the products, OpenBLAS's are checked too (SPEEDRUN_NATIVE_GEMM=openblas chooses them).
  if (products.version.startsWith('oneDNN sgemm')) {
    const openblas = fixtureWith<{ diffs: Record<string, number>; version: string }>({ SPEEDRUN_NATIVE_GEMM: 'openblas' }, 'native-kernels');
    assert.doesNotMatch(openblas.version, /oneDNN/);
    check(openblas);
  }
});

test('native broadcasting binary ops, axis sums, unary ops, transposes, splits and concatenations agree with TF.js cpu on random shapes (fast-check, 506 cases)', (t) => {
  if (unavailable(t)) return;
  const { cases, worst, failures, calls } = fixture<{ cases: number; worst: number; failures: string[]; calls: { native: number; wasm: number } }>('native-elementwise');
  assert.equal(cases, 506);
  assert.deepEqual(failures, []);
  assert.ok(worst < 1e-6, `worst relative difference ${worst}`);
  // tensor creation and dataSync go through no kernel; every op of a case does (a few empty ones return early)
  assert.ok(calls.native >= 450, `only ${calls.native} of the cases ran natively (${calls.wasm} on wasm's kernels)`);
});

test('native training follows wasm from the same seed, without leaking tensors', (t) => {
  if (unavailable(t)) return;
  const file = fixtureTextFile();
  const native = trainLosses(file, ['--backend', 'native', '--steps', '10']).losses;
  const wasm = trainLosses(file, ['--backend', 'wasm', '--steps', '10']).losses;
  assert.equal(native.length, 10);
  native.forEach((l, i) => assert.ok(Math.abs(l - wasm[i]!) / wasm[i]! < 1e-5, `step ${i + 1}: native ${l} vs wasm ${wasm[i]}`));
  const { at10, at100 } = fixture<{ at10: number; at100: number }>('native-leaks', file);
  assert.ok(at10 > 0);
  assert.equal(at100, at10, 'live tensors after step 100 equal those after step 10');
});

test('native fused kernels agree with the TF.js ops they replace (fp32, 1e-5); bf16 products stay within their bound', (t) => {
  if (unavailable(t)) return;
  checkFusedKernels(fixture<FusedKernelDiffs>('native-fused'), blasBuilt() ? 'openblas' : 'xnnpack');
});

interface FusedKernelDiffs {
  diffs: Record<string, number>;
  bf16: { errorOverBound: number; changeFromFp32: number } | null;
  products: 'openblas' | 'xnnpack';
}

function checkFusedKernels({ diffs, bf16, products }: FusedKernelDiffs, expected: 'openblas' | 'xnnpack'): void {
  assert.equal(products, expected);
  // layerNorm 3, addLayerNorm 4 (value, both addends, gain), geluMlp 4, attention 4 + 3 edge shapes x 4, crossEntropy 2
  // (value, logits gradient), 5 clip norms, 2 AdamW tensors, add & norm and the MLP once more above the threads'
  // threshold (4 each), and with OpenBLAS: the bf16 product vs the same
  // product of operands rounded in JavaScript
  assert.equal(Object.keys(diffs).length, products === 'openblas' ? 45 : 44);
  for (const [name, diff] of Object.entries(diffs)) assert.ok(diff < 1e-5, `${name}: ${diff}`);
  if (products === 'xnnpack') return assert.equal(bf16, null, 'no bf16 products without OpenBLAS');
  assert.ok(bf16!.errorOverBound <= 1, `bf16 product error is ${bf16!.errorOverBound}x its bound`);
  assert.ok(bf16!.changeFromFp32 > 1e-4, 'bf16 products differ from fp32 ones (the rounding happened)');
}

function checkRecipeKernels(diffs: Record<string, number>, products: 'openblas' | 'xnnpack'): void {
  // residual 4 shapes x 4 (one above the threads' threshold), swiglu 4 x 3, rotary 3 x 2, rmsNorm 3 x 2, queryKey 3 x 3, normalization of 5 parameters,
  // and with OpenBLAS Muon 4 x 2
  assert.equal(Object.keys(diffs).length, products === 'openblas' ? 62 : 54);
  for (const [name, diff] of Object.entries(diffs)) assert.ok(diff < 1e-5, `${name}: ${diff}`);
}

/** A 10-step micro run (on native unless told): its train losses, its event log, its record and its summary. */
function microRun(recipe: string, file: string, backend = 'native', extra: string[] = [], env: Record<string, string> = {}): { losses: number[]; events: string; record: RunRecord; summary: string } {
  const out = tempDir();
  const result = runCli(['--recipe', recipe, '--track', `text:${file}`, '--preset', 'micro', '--backend', backend, '--steps', '10', '--out', out, '-q', ...extra], 120_000, env);
  assert.equal(result.status, 3, result.stderr);
  const [runDir] = fs.readdirSync(path.join(out, 'runs'));
  const lines = fs.readFileSync(path.join(out, 'runs', runDir!, 'events.jsonl'), 'utf8').split('\n').filter(Boolean);
  const record = JSON.parse(fs.readFileSync(path.join(out, 'runs', runDir!, 'run.json'), 'utf8')) as RunRecord;
  return { losses: lines.filter((l) => l.includes('"train_loss"')).map((l) => JSON.parse(l).value as number), events: lines.join('\n'), record, summary: result.stderr };
}

test('fused-kernels on native trains like baseline, records what it fused, and leaks no tensors', (t) => {
  if (unavailable(t)) return;
  const file = fixtureTextFile();
  const fused = microRun('fused-kernels', file, 'native', ['--price-per-hour', '2']);
  const baseline = microRun('baseline', file);
  assert.match(fused.events, /fused on native: attention block/);
  // Compute accounting on a native run: MFU in (0, 1] against the measured sgemm peak; the price gives a cost line.
  const compute = fused.record.compute!;
  assert.ok(compute.mfu! > 0 && compute.mfu! <= 1, `MFU ${compute.mfu}`);
  assert.match(compute.peak!.method, /measured fp32 product 1024³ on native/);
  assert.equal(compute.modelFlopsPerStep, baseline.record.compute!.modelFlopsPerStep, 'fusion changes no model FLOPs');
  assert.equal(compute.pricePerHour, 2);
  assert.match(fused.summary, /cost\s+target not reached at \$2\/h/);
  assert.match(fused.summary, /MFU\s+[\d.]+ % of [\d.]+ GFLOP\/s \(measured fp32 product 1024³ on native\)/);
  assert.equal(fused.losses.length, 10);
  // Summation order differs (fused reductions, a different clip-norm sum), so allow 1e-4 after 10 steps.
  fused.losses.forEach((l, i) => assert.ok(Math.abs(l - baseline.losses[i]!) / baseline.losses[i]! < 1e-4, `step ${i + 1}: fused ${l} vs baseline ${baseline.losses[i]}`));
  const { at10, at100 } = fixture<{ at10: number; at100: number }>('native-leaks', file, 'fused-kernels');
  assert.equal(at100, at10, 'live tensors after step 100 equal those after step 10');
});

test("the recipes' fused kernels (nGPT, rotary, qk-norm, Muon) agree with their TF.js ops, forward and gradients, edge shapes included (1e-5)", (t) => {
  if (unavailable(t)) return;
  checkRecipeKernels(fixture<Record<string, number>>('native-recipe-kernels'), blasBuilt() ? 'openblas' : 'xnnpack');
});

test('the kernels-only build (no OpenBLAS: products on XNNPACK) runs the same fused kernels, correct, and trains like wasm', (t) => {
  if (unavailable(t)) return;
  if (!fs.existsSync(KERNELS_ADDON_PATH)) return assert.fail('native/build.mjs builds speedrun_kernels.node wherever it builds speedrun_blas.node');
  if (!blasBuilt()) return t.skip('the kernels-only build is the one native loads here: the tests above ran on it');
  const kernelsOnly = { SPEEDRUN_NATIVE_BLAS: '0' };
  checkFusedKernels(fixtureWith<FusedKernelDiffs>(kernelsOnly, 'native-fused'), 'xnnpack');
  checkRecipeKernels(fixtureWith<Record<string, number>>(kernelsOnly, 'native-recipe-kernels'), 'xnnpack');
  const file = fixtureTextFile();
  const fused = microRun('fused-kernels', file, 'native', [], kernelsOnly);
  const reference = microRun('baseline', file, 'wasm');
  assert.match(fused.summary, /no BLAS/);
  assert.match(fused.events, /fused on native: attention block/);
  assert.match(fused.events, /matrix products on XNNPACK/);
  // Filed as its own engine (database, leaderboard, stored peaks), never as the OpenBLAS build.
  assert.equal(engineLabel(fused.record.backend), 'native (no BLAS)');
  fused.losses.forEach((l, i) => assert.ok(Math.abs(l - reference.losses[i]!) / reference.losses[i]! < 1e-4, `step ${i + 1}: native (no BLAS) ${l} vs wasm ${reference.losses[i]}`));
});

test('ngpt on native runs its fused kernels, says so, and trains like ngpt on wasm (TF.js ops)', (t) => {
  if (unavailable(t)) return;
  const file = fixtureTextFile();
  const fused = microRun('ngpt', file);
  const reference = microRun('ngpt', file, 'wasm');
  assert.match(fused.events, /ngpt: fused on native: residual update/);
  assert.match(reference.events, /ngpt: not fused on wasm/);
  assert.equal(fused.losses.length, 10);
  fused.losses.forEach((l, i) => assert.ok(Math.abs(l - reference.losses[i]!) / reference.losses[i]! < 1e-4, `step ${i + 1}: native ${l} vs wasm ${reference.losses[i]}`));
});

test('mixed-precision on native: bf16 products move the losses a little, and the run says it is emulated', (t) => {
  if (unavailable(t)) return;
  const file = fixtureTextFile();
  const mixed = microRun('mixed-precision', file);
  const baseline = microRun('baseline', file);
  if (!blasBuilt()) {
    assert.match(mixed.events, /no bf16 matrix products on this native build/);
    return assert.deepEqual(mixed.losses, baseline.losses);
  }
  assert.match(mixed.events, /bf16 matrix products.*emulated/);
  assert.ok(mixed.losses.some((l, i) => l !== baseline.losses[i]), 'bf16 products change the arithmetic');
  // bf16 keeps 8 significant bits: after 10 steps the loss stays within 1 % of fp32's.
  mixed.losses.forEach((l, i) => assert.ok(Math.abs(l - baseline.losses[i]!) / baseline.losses[i]! < 1e-2, `step ${i + 1}: bf16 ${l} vs fp32 ${baseline.losses[i]}`));
});

test('asking for native where it is not built is a one-line error naming the apt package', (t) => {
  if (nativeBuilt()) return t.skip('the addon is built here');
  const result = runCli(['--backend', 'native', '--steps', '1']);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /C compiler.*npm run build:native/);
});

/** Whether the addon has oneDNN's int8 products (skips, or fails where .ci/run installed oneDNN). */
function int8Unavailable(t: { skip(why: string): void }): boolean {
  if (unavailable(t)) return true;
  const probe = spawnSync(process.execPath, ['-e', "const a=require(process.argv[1]);console.log(typeof a.int8Available==='function'?a.int8Available():'absent')", nativeAddonPath()!], { cwd: ROOT, encoding: 'utf8' });
  if (probe.stdout.startsWith('ok')) return false;
  if (process.env.SPEEDRUN_REQUIRE_INT8 === '1') assert.fail(`int8 products required here: ${probe.stdout.trim()} (apt-get install libdnnl-dev && npm run build:native)`);
  t.skip(`int8 products not built (${probe.stdout.trim() || probe.stderr.trim()}): apt-get install libdnnl-dev`);
  return true;
}

test('native int8 products (oneDNN) stay within the error their scales imply, with straight-through gradients and saturating delayed scaling', (t) => {
  if (int8Unavailable(t)) return;
  const { errorOverBound, gradients, saturation, weightMax } = fixture<{ errorOverBound: Record<string, number>; gradients: Record<string, number>; saturation: { first: number; second: number; history: number }; weightMax: number }>('native-int8');
  assert.ok(weightMax === 127 || weightMax === 63, `weights range ±${weightMax}`);
  assert.equal(Object.keys(errorOverBound).length, 10);
  for (const [shape, ratio] of Object.entries(errorOverBound)) assert.ok(ratio <= 1 && ratio > 0, `${shape}: error is ${ratio} of the bound`);
  assert.equal(Object.keys(gradients).length, 7); // head: forward + 2 gradients; mlp: forward + 3
  for (const [name, diff] of Object.entries(gradients)) {
    if (name.endsWith('forward')) assert.ok(diff < 0.05 && diff > 0, `${name}: ${diff}`);
    else assert.ok(diff < 1e-4, `${name}: ${diff}`);
  }
  assert.ok(Math.abs(saturation.first - 1) < 0.01, `the outlier saturates at the history's range: ${saturation.first}`);
  assert.ok(Math.abs(saturation.second - 4) < 0.05, `then the history holds it: ${saturation.second}`);
  assert.equal(saturation.history, 4);
});

test('int8 training follows fused-kernels over 100 micro steps (forward products in int8, within 2 % of the loss)', (t) => {
  if (int8Unavailable(t)) return;
  const file = fixtureTextFile();
  const fp32 = trainLosses(file, ['--backend', 'native', '--recipe', 'fused-kernels', '--steps', '100', '--target', '0.01']);
  const int8 = trainLosses(file, ['--backend', 'native', '--recipe', 'fused-kernels,int8:force=1', '--steps', '100', '--target', '0.01']);
  assert.match(int8.notes.join(' '), /head \d+×\d+×\d+ᵀ: int8 [\d.]+x the fp32 product here, int8; MLP down projection \d+×\d+×\d+: int8 [\d.]+x/);
  const tail = (xs: number[]) => xs.slice(-10).reduce((a, b) => a + b, 0) / 10;
  assert.equal(int8.losses.length, 100);
  assert.notDeepEqual(int8.losses, fp32.losses, 'int8 ran');
  assert.ok(Math.abs(tail(int8.losses) - tail(fp32.losses)) / tail(fp32.losses) < 0.02, `last 10 steps: int8 ${tail(int8.losses)} vs fp32 ${tail(fp32.losses)}`);
});
