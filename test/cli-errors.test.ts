/** Every bad input: one line on stderr, no stack trace, exit code 2. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { runCli, runMain, tempDir } from './utils.ts';

const installed = (pkg: string): boolean => {
  try {
    createRequire(import.meta.url).resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
};

async function expectUserError(args: string[], message: RegExp) {
  const result = await runMain(args);
  assert.equal(result.status, 2, `exit code for ${args.join(' ')}: ${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line for ${args.join(' ')}, got:\n${result.stderr}`);
  assert.match(lines[0]!, /^speedrun: /);
  assert.match(lines[0]!, message);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

test('bad inputs are one clear line and exit 2', async () => {
  const dir = tempDir();
  const corrupt = path.join(dir, 'corrupt');
  fs.mkdirSync(corrupt);
  fs.writeFileSync(path.join(corrupt, 'c_train_000001.bin'), Buffer.alloc(2000));
  fs.writeFileSync(path.join(corrupt, 'c_val_000000.bin'), Buffer.alloc(2000));
  const tiny = path.join(dir, 'tiny.txt');
  fs.writeFileSync(tiny, 'abcabc');
  const huge = path.join(dir, 'huge-vocab.txt');
  fs.writeFileSync(huge, Array.from({ length: 70_000 }, (_, i) => String.fromCodePoint(0x20000 + i)).join(''));
  await expectUserError(['--recipe', 'nope'], /unknown recipe 'nope' \(available: baseline/);
  await expectUserError(['--track', 'nope'], /unknown track 'nope'/);
  await expectUserError(['--backend', 'gpu9000'], /unknown backend 'gpu9000'/);
  if (!installed('@tensorflow/tfjs-node')) {
    await expectUserError(['--backend', 'tensorflow'], /needs @tensorflow\/tfjs-node, which is not installed.*npm install @tensorflow\/tfjs-node/);
  }
  await expectUserError(['--track', `text:${path.join(dir, 'missing.txt')}`], /text file not found/);
  await expectUserError(['--track', `shards:${corrupt}`], /corrupt shard c_train_000001\.bin: magic 0/);
  await expectUserError(['--track', `text:${tiny}`, '--preset', 'micro'], /fewer than one context/);
  await expectUserError(['--track', `text:${huge}`], /70000 distinct characters; a char-level track holds at most 65536/);
  await expectUserError(['--steps', '-3'], /--steps must be a positive integer, got -3/);
  await expectUserError(['--target', 'abc'], /--target must be a number, got "abc"/);
  await expectUserError(['--target', '-1'], /--target must be a positive loss, got -1/);
  await expectUserError(['--preset', 'huge'], /unknown preset 'huge'/);
  await expectUserError(['--recipe', 'baseline,baseline'], /listed twice/);
  await expectUserError(['--recipe', 'muon:lr=0.01,muon:lr=0.02'], /recipe 'muon' is listed twice/);
  await expectUserError(['--recipe', 'muon:lr=fast'], /recipe option 'lr=fast' in 'muon:lr=fast' is not key=number/);
  await expectUserError(['--recipe', 'muon:beta=1'], /recipe 'muon' option 'beta'.*\(options: lr, momentum\)/);
  await expectUserError(['--recipe', 'muon:momentum=1.5'], /recipe 'muon' option 'momentum'/);
  await expectUserError(['--recipe', 'rotary:theta=5'], /recipe 'rotary' takes no options/);
  await expectUserError(['--no-such-flag'], /Unknown argument/);
  await expectUserError(['data'], /choose a data command: prepare/);
  // --no-heldout is read as a flag (not an unknown argument); the workload is refused before anything trains.
  await expectUserError(['suite', '--recipe', 'ngpt', '--no-heldout', '--workload', 'nope', '--db', path.join(dir, 'suite.db')], /'nope' is not one of the suite's workloads/);
  await expectUserError(['suite', '--db', path.join(dir, 'suite.db')], /give at least one --recipe \(or --standings\)/);
  await expectUserError(['suite', '--base', 'fused-kernels', '--recipe', 'ngpt,zero-init', '--db', path.join(dir, 'suite.db')], /cannot be combined/);
  await expectUserError(['data', 'prepare', '--input', path.join(dir, 'missing.txt'), '--out', dir], /text file not found/);
});

test("a misspelt native switch is one line and exit 2, never a silent step to another engine (auto included)", () => {
  for (const [name, value] of [['SPEEDRUN_NATIVE_BLAS', 'no'], ['SPEEDRUN_NATIVE_GEMM', 'mkl']] as const) {
    const result = runCli(['--preset', 'micro', '--steps', '1', '--out', tempDir(), '-q'], 60_000, { [name]: value });
    assert.equal(result.status, 2, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`${name}=${value} is not one of`));
  }
});

test('data prepare writes shards that a shards: track then trains on', () => {
  const dir = tempDir();
  const input = path.join(dir, 'in.txt');
  fs.writeFileSync(input, 'The quick brown fox jumps over the lazy dog. '.repeat(300));
  const prepared = runCli(['data', 'prepare', '--input', input, '--out', path.join(dir, 'shards'), '--name', 'fox']);
  assert.equal(prepared.status, 0, prepared.stderr);
  assert.match(prepared.stdout, /wrote 2 shard\(s\)/);
  const run = runCli(['--track', `shards:${path.join(dir, 'shards')}`, '--preset', 'micro', '--backend', 'wasm', '--steps', '3', '--out', dir, '-q']);
  assert.equal(run.status, 3, run.stderr); // 3 steps cannot reach 3.28 with GPT-2's 50,257-token vocabulary
  assert.match(run.stderr, /track\s+shards:.* \(unofficial/);
});

test('list shows recipes, tracks and backends', () => {
  const result = runCli(['list']);
  assert.equal(result.status, 0);
  assert.match(result.stdout, /baseline\s+nanoGPT/);
  assert.match(result.stdout, /brown-char@1/);
  assert.match(result.stdout, /wasm\s+available/);
  if (!installed('@tensorflow/tfjs-node')) assert.match(result.stdout, /tensorflow\s+not installed: npm install @tensorflow\/tfjs-node/);
});
