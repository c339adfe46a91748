import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../harness/errors.ts';
import { encodeShard, loadShardDir, readShard, writeShard } from '../harness/data/shards.ts';
import { gpt2Decode, prepareShards } from '../harness/data/prepare.ts';
import { tempDir } from './utils.ts';

test('shard writer and reader round-trip', () => {
  const dir = tempDir();
  const tokens = [50256, 0, 1, 65535, 1234, 50255];
  const file = path.join(dir, 'x_train_000001.bin');
  writeShard(file, tokens);
  assert.equal(fs.statSync(file).size, 1024 + 2 * tokens.length);
  assert.deepEqual([...readShard(file)], tokens);
});

test('a bad magic, version or truncated shard is a one-line UserError naming the file', () => {
  const dir = tempDir();
  const good = encodeShard([1, 2, 3, 4]);
  const cases: [string, Buffer, RegExp][] = [
    ['magic', Buffer.from(good).fill(0, 0, 4), /corrupt shard magic\.bin: magic 0, expected 20240520/],
    ['version', (() => { const b = Buffer.from(good); b.writeInt32LE(7, 4); return b; })(), /unsupported shard version\.bin: version 7/],
    ['truncated', good.subarray(0, good.length - 1), /header says 4 tokens \(1032 bytes\) but the file has 1031 bytes/],
    ['header', good.subarray(0, 100), /shorter than the 1024-byte header/],
    ['long', Buffer.concat([good, Buffer.alloc(2)]), /but the file has 1034 bytes/],
  ];
  for (const [name, bytes, message] of cases) {
    const file = path.join(dir, `${name}.bin`);
    fs.writeFileSync(file, bytes);
    assert.throws(() => readShard(file), (e: unknown) => e instanceof UserError && message.test(e.message) && !e.message.includes('\n'), name);
  }
});

test('a shard directory needs train and val shards with GPT-2 tokens', () => {
  const dir = tempDir();
  writeShard(path.join(dir, 'd_train_000001.bin'), [1, 2, 3]);
  assert.throws(() => loadShardDir(dir, gpt2Decode), /found 1 train, 0 val/);
  writeShard(path.join(dir, 'd_val_000000.bin'), [60000]);
  assert.throws(() => loadShardDir(dir, gpt2Decode), /token 60000 .* outside GPT-2's vocabulary/);
});

test('data prepare writes modded-nanogpt shards that decode back to the text', () => {
  const dir = tempDir();
  const input = path.join(dir, 'in.txt');
  const text = 'Hello world. '.repeat(200);
  fs.writeFileSync(input, text);
  const out = path.join(dir, 'shards');
  const result = prepareShards({ inputs: [input], outDir: out, name: 'hw', valFraction: 0.1, shardTokens: 100 });
  assert.ok(result.files.some((f) => f.endsWith('hw_val_000000.bin')));
  assert.ok(result.files.some((f) => f.endsWith('hw_train_000002.bin')), 'training tokens are split into shards of 100');
  const data = loadShardDir(out, gpt2Decode);
  assert.equal(data.train.length + data.val.length, result.trainTokens + result.valTokens);
  assert.equal(data.decode([...data.train, ...data.val]), `<|endoftext|>${text}`);
});
