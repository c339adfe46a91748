/**
 * `speedrun data prepare`: text -> GPT-2 BPE (gpt-tokenizer's r50k_base, GPT-2's encoding) -> .bin shards.
 * Documents are prefixed with the end-of-text token, as in modded-nanogpt's FineWeb shards.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encode, decode } from 'gpt-tokenizer/encoding/r50k_base';
import { UserError } from '../errors.ts';
import { readTextFile } from './charText.ts';
import { GPT2_EOT, writeShard } from './shards.ts';

export interface PrepareOptions {
  inputs: string[];
  outDir: string;
  name: string; // shard prefix, e.g. "mytext" -> mytext_val_000000.bin, mytext_train_000001.bin
  valFraction: number;
  shardTokens: number;
}

export interface PrepareResult {
  files: string[];
  trainTokens: number;
  valTokens: number;
}

export function gpt2Decode(tokens: ArrayLike<number>): string {
  return decode(Array.from(tokens));
}

export function prepareShards(options: PrepareOptions): PrepareResult {
  if (options.inputs.length === 0) throw new UserError('data prepare needs at least one --input text file');
  if (!(options.valFraction > 0 && options.valFraction < 1)) throw new UserError(`--val-fraction must be in (0, 1), got ${options.valFraction}`);
  const tokens: number[] = [];
  for (const file of options.inputs) {
    tokens.push(GPT2_EOT, ...encode(readTextFile(file)));
  }
  const valCount = Math.max(1, Math.floor(tokens.length * options.valFraction));
  // modded-nanogpt puts validation in shard 000000 and training in 000001...
  const val = tokens.slice(tokens.length - valCount);
  const train = tokens.slice(0, tokens.length - valCount);
  fs.mkdirSync(options.outDir, { recursive: true });
  const files: string[] = [];
  const write = (split: string, index: number, part: number[]) => {
    const file = path.join(options.outDir, `${options.name}_${split}_${String(index).padStart(6, '0')}.bin`);
    writeShard(file, part);
    files.push(file);
  };
  write('val', 0, val);
  for (let i = 0, shard = 1; i < train.length; i += options.shardTokens, shard++) {
    write('train', shard, train.slice(i, i + options.shardTokens));
  }
  return { files, trainTokens: train.length, valTokens: val.length };
}
