/**
 * modded-nanogpt's token shards: a header of 256 little-endian int32 ([0] = 20240520 magic, [1] = 1 version,
 * [2] = token count), then that many uint16 GPT-2 token ids. File size must be exactly 1024 + 2 * count.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../errors.ts';
import { hashTokens, type TokenData } from './tokens.ts';

export const SHARD_MAGIC = 20240520;
export const SHARD_VERSION = 1;
const HEADER_INTS = 256;
const HEADER_BYTES = HEADER_INTS * 4;
export const GPT2_VOCAB_SIZE = 50257;
export const GPT2_EOT = 50256;

/** The header's first three ints (magic, version, token count); the rest of the 1024 bytes stays zero. */
function shardHeader(count: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeInt32LE(SHARD_MAGIC, 0);
  header.writeInt32LE(SHARD_VERSION, 4);
  header.writeInt32LE(count, 8);
  return header;
}

/** tokens[offset, offset + length) as little-endian uint16; a token that does not fit is a UserError. */
function tokenBytes(tokens: ArrayLike<number>, offset: number, length: number): Buffer {
  const bytes = Buffer.alloc(2 * length);
  for (let i = 0; i < length; i++) {
    const token = tokens[offset + i]!;
    if (!Number.isInteger(token) || token < 0 || token > 0xffff) throw new UserError(`token ${token} at ${offset + i} does not fit in uint16`);
    bytes.writeUInt16LE(token, 2 * i);
  }
  return bytes;
}

export function encodeShard(tokens: ArrayLike<number>): Buffer {
  const buffer = Buffer.concat([Buffer.alloc(HEADER_BYTES), tokenBytes(tokens, 0, tokens.length)]);
  shardHeader(tokens.length).copy(buffer, 0);
  return buffer;
}

export function writeShard(file: string, tokens: ArrayLike<number>): void {
  fs.writeFileSync(file, encodeShard(tokens));
}

/** A shard written as its tokens arrive: the header's count is filled in by `close`. Memory: one append's tokens. */
export class ShardWriter {
  count = 0;
  private fd: number | undefined;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'w');
    fs.writeSync(this.fd, Buffer.alloc(HEADER_BYTES));
  }

  append(tokens: ArrayLike<number>, offset: number, length: number): void {
    if (length === 0) return;
    fs.writeSync(this.fd!, tokenBytes(tokens, offset, length));
    this.count += length;
  }

  /** Writes the header and closes the file; returns its path. */
  close(): string {
    if (this.fd === undefined) return this.file;
    fs.writeSync(this.fd, shardHeader(this.count), 0, 12, 0);
    fs.closeSync(this.fd);
    this.fd = undefined;
    return this.file;
  }
}

/** Reads and checks one shard; every defect is a one-line UserError naming the file. */
export function readShard(file: string): Uint16Array {
  const name = path.basename(file);
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (!stat) throw new UserError(`shard not found: ${file}`);
  // A FIFO or a device (/dev/zero) would block or never end: only regular files are read.
  if (!stat.isFile()) throw new UserError(`shard ${name} is not a regular file: ${file}`);
  const bytes = fs.readFileSync(file);
  if (bytes.length < HEADER_BYTES) throw new UserError(`corrupt shard ${name}: ${bytes.length} bytes, shorter than the 1024-byte header`);
  const magic = bytes.readInt32LE(0);
  if (magic !== SHARD_MAGIC) throw new UserError(`corrupt shard ${name}: magic ${magic}, expected ${SHARD_MAGIC}`);
  const version = bytes.readInt32LE(4);
  if (version !== SHARD_VERSION) throw new UserError(`unsupported shard ${name}: version ${version}, expected ${SHARD_VERSION}`);
  const count = bytes.readInt32LE(8);
  const expected = HEADER_BYTES + 2 * count;
  if (count < 0 || bytes.length !== expected) {
    throw new UserError(`corrupt shard ${name}: header says ${count} tokens (${expected} bytes) but the file has ${bytes.length} bytes`);
  }
  const tokens = new Uint16Array(count);
  for (let i = 0; i < count; i++) tokens[i] = bytes.readUInt16LE(HEADER_BYTES + 2 * i);
  return tokens;
}

function concat(parts: Uint16Array[]): Uint16Array {
  const out = new Uint16Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A directory of `*_train_*.bin` and `*_val_*.bin` shards (modded-nanogpt's naming). */
export function loadShardDir(dir: string, decode: (tokens: ArrayLike<number>) => string): TokenData {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`shard directory not found: ${dir}`);
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.bin')).sort();
  const trainFiles = files.filter((f) => /(^|[_-])train([_-]|\.)/.test(f));
  const valFiles = files.filter((f) => /(^|[_-])val([_-]|\.)/.test(f));
  if (trainFiles.length === 0 || valFiles.length === 0) {
    throw new UserError(`${dir} needs *_train_*.bin and *_val_*.bin shards (found ${trainFiles.length} train, ${valFiles.length} val)`);
  }
  const train = concat(trainFiles.map((f) => readShard(path.join(dir, f))));
  const val = concat(valFiles.map((f) => readShard(path.join(dir, f))));
  for (const [split, tokens] of [['train', train], ['val', val]] as const) {
    const bad = tokens.findIndex((t) => t >= GPT2_VOCAB_SIZE);
    if (bad >= 0) throw new UserError(`${split} shards hold token ${tokens[bad]} at ${bad}, outside GPT-2's vocabulary of ${GPT2_VOCAB_SIZE}`);
  }
  return { train, val, vocabSize: GPT2_VOCAB_SIZE, decode, dataHash: hashTokens('gpt2', train, val) };
}
