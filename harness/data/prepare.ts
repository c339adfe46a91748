/**
 * `speedrun data prepare`: text -> GPT-2 BPE (gpt-tokenizer's r50k_base, GPT-2's encoding) -> .bin shards.
 * Documents (input files) are prefixed with the end-of-text token, as in modded-nanogpt's FineWeb shards; the
 * first (1 - valFraction) of the input bytes are training text, the rest validation (shard 000000, as there).
 *
 * Memory stays flat whatever the input size: files are read in pieces of a few MiB, each piece is tokenized on
 * its own and its tokens are appended to the shard being filled. A piece ends only where GPT-2's pre-tokenizer
 * would split anyway (a whitespace character after a non-whitespace one), so the tokens are those of the whole
 * text at once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encode, decode } from 'gpt-tokenizer/encoding/r50k_base';
import { UserError } from '../errors.ts';
import { checkName } from '../names.ts';
import { GPT2_EOT, ShardWriter } from './shards.ts';

export interface PrepareOptions {
  inputs: string[];
  outDir: string;
  name: string; // shard prefix, e.g. "mytext" -> mytext_val_000000.bin, mytext_train_000001.bin
  valFraction: number;
  shardTokens: number;
  /** Replace shards of this name that are already in outDir (otherwise that is an error). */
  force?: boolean;
  /** Bytes read at a time (tests make it small). */
  pieceBytes?: number;
}

export interface PrepareResult {
  files: string[];
  trainTokens: number;
  valTokens: number;
}

export function gpt2Decode(tokens: ArrayLike<number>): string {
  return decode(Array.from(tokens));
}

const PIECE_BYTES = 4 * 2 ** 20;
/** Past this much text without a clean cut (no whitespace at all), cut anyway: the tokens may differ there. */
const MAX_CARRY_CHARS = 64 * 2 ** 20;

/** The last index i in [from, text.length) where text[i] is whitespace and text[i-1] is not; -1 if none. */
function lastCleanCut(text: string, from = 1): number {
  for (let i = text.length - 1; i >= Math.max(1, from); i--) if (/\s/.test(text[i]!) && !/\s/.test(text[i - 1]!)) return i;
  return -1;
}

function firstCleanCut(text: string, from: number): number {
  for (let i = Math.max(1, from); i < text.length; i++) if (/\s/.test(text[i]!) && !/\s/.test(text[i - 1]!)) return i;
  return -1;
}

/** One file's text in pieces cut at clean boundaries; one streaming decoder checks the UTF-8 as it decodes. */
function* filePieces(file: string, pieceBytes: number): Generator<string> {
  const fd = fs.openSync(file, 'r');
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const decode = (bytes?: Uint8Array): string => {
    try {
      return bytes ? decoder.decode(bytes, { stream: true }) : decoder.decode();
    } catch {
      throw new UserError(`${file} is not valid UTF-8 text`);
    }
  };
  const buffer = Buffer.alloc(pieceBytes);
  let carry = '';
  try {
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, pieceBytes, null);
      if (n === 0) break;
      const text = carry + decode(buffer.subarray(0, n));
      const cut = lastCleanCut(text);
      if (cut > 0) {
        yield text.slice(0, cut);
        carry = text.slice(cut);
      } else if (text.length > MAX_CARRY_CHARS) {
        yield text;
        carry = '';
      } else {
        carry = text;
      }
    }
    const rest = carry + decode();
    if (rest.length > 0) yield rest;
  } finally {
    fs.closeSync(fd);
  }
}

const shardPattern = (name: string) => new RegExp(`^${name.replace(/[.+]/g, '\\$&')}_(train|val)_\\d{6}\\.bin$`);

/** The most shards one `data prepare` writes. */
export const MAX_SHARDS = 10_000;

export function prepareShards(options: PrepareOptions): PrepareResult {
  if (options.inputs.length === 0) throw new UserError('data prepare needs at least one --input text file');
  if (!(options.valFraction > 0 && options.valFraction < 1)) throw new UserError(`--val-fraction must be in (0, 1), got ${options.valFraction}`);
  if (!Number.isInteger(options.shardTokens) || options.shardTokens < 1) throw new UserError(`--shard-tokens must be a positive integer, got ${options.shardTokens}`);
  const name = checkName('--name', options.name);
  // Every input is checked before anything is written; its size places the validation split.
  const sizes = options.inputs.map((file) => {
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (!stat) throw new UserError(`text file not found: ${file}`);
    if (!stat.isFile()) throw new UserError(`not a file: ${file}`);
    if (stat.size === 0) throw new UserError(`text file is empty: ${file}`);
    return stat.size;
  });
  // GPT-2 BPE gives about one token per 4 bytes of English: refuse a shard size that would scatter the corpus
  // over more files than any loader should open (before anything is written).
  const estimatedShards = Math.ceil(sizes.reduce((a, b) => a + b, 0) / 4 / options.shardTokens);
  if (estimatedShards > MAX_SHARDS) {
    throw new UserError(`--shard-tokens ${options.shardTokens} would write about ${estimatedShards.toLocaleString('en-US')} shards (at most ${MAX_SHARDS.toLocaleString('en-US')}); give a larger --shard-tokens (modded-nanogpt's shards hold 100,000,000)`);
  }
  fs.mkdirSync(options.outDir, { recursive: true });
  const existing = fs.readdirSync(options.outDir).filter((f) => shardPattern(name).test(f));
  if (existing.length > 0 && !options.force) {
    throw new UserError(`${options.outDir} already holds ${existing.length} '${name}' shard(s) (${existing[0]}); choose another --name or --out, or pass --force to replace them`);
  }
  for (const f of existing) fs.rmSync(path.join(options.outDir, f));

  const splitByte = Math.floor(sizes.reduce((a, b) => a + b, 0) * (1 - options.valFraction));
  const files: string[] = [];
  const shardFile = (split: string, index: number) => path.join(options.outDir, `${name}_${split}_${String(index).padStart(6, '0')}.bin`);
  // modded-nanogpt puts validation in shard 000000 and training in 000001...
  const val = new ShardWriter(shardFile('val', 0));
  let train = new ShardWriter(shardFile('train', 1));
  let trainShard = 1;
  let trainTokens = 0;
  const addTrain = (tokens: number[]) => {
    let offset = 0;
    while (offset < tokens.length) {
      if (train.count === options.shardTokens) {
        files.push(train.close());
        train = new ShardWriter(shardFile('train', ++trainShard));
      }
      const take = Math.min(tokens.length - offset, options.shardTokens - train.count);
      train.append(tokens, offset, take);
      offset += take;
      trainTokens += take;
    }
  };
  let bytesSeen = 0;
  let inVal = false;
  let failed = true;
  try {
    for (const file of options.inputs) {
      let first = true;
      for (const piece of filePieces(file, options.pieceBytes ?? PIECE_BYTES)) {
        const pieceBytes = Buffer.byteLength(piece);
        const startsInVal = inVal;
        let trainText = piece;
        let valText = '';
        if (!inVal && bytesSeen + pieceBytes > splitByte) {
          // The split falls in this piece: cut at the first clean boundary at or after it (chars ~ bytes here).
          const at = firstCleanCut(piece, Math.floor((piece.length * (splitByte - bytesSeen)) / pieceBytes));
          if (at > 0) {
            trainText = piece.slice(0, at);
            valText = piece.slice(at);
            inVal = true;
          }
        } else if (inVal) {
          trainText = '';
          valText = piece;
        }
        bytesSeen += pieceBytes;
        // A document's end-of-text token goes where the document starts.
        const eot = first ? [GPT2_EOT] : [];
        first = false;
        if (!startsInVal) addTrain([...eot, ...encode(trainText)]);
        const valTokens = startsInVal ? [...eot, ...encode(valText)] : valText.length > 0 ? encode(valText) : [];
        val.append(valTokens, 0, valTokens.length);
      }
    }
    failed = false;
  } finally {
    files.unshift(val.close());
    files.push(train.close());
    if (failed) for (const f of files) fs.rmSync(f, { force: true }); // no partial shard set is left behind
  }
  const empty = val.count === 0 ? `the validation split is empty: the text has no word boundary in its last ${options.valFraction * 100} %` : trainTokens === 0 ? 'the training split is empty' : undefined;
  if (empty) {
    for (const f of files) fs.rmSync(f, { force: true });
    throw new UserError(empty);
  }
  return { files, trainTokens, valTokens: val.count };
}
