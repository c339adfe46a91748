/**
 * Character-level data, nanoGPT's shakespeare_char protocol: vocabulary = sorted set of the text's characters
 * (by code point), first 90% of characters train, last 10% validation.
 */
import * as fs from 'node:fs';
import { UserError } from '../errors.ts';
import { hashTokens, type TokenData } from './tokens.ts';

export interface CharSplit {
  train: string;
  val: string;
}

export function splitText(text: string, valFraction = 0.1): CharSplit {
  // Split by code points (as Python's len() does) without materializing an array of characters.
  let count = 0;
  for (const _ of text) count++;
  const cutPoints = Math.floor(count * (1 - valFraction));
  let index = 0;
  let seen = 0;
  for (const ch of text) {
    if (seen === cutPoints) break;
    index += ch.length;
    seen++;
  }
  return { train: text.slice(0, index), val: text.slice(index) };
}

/** Encodes both splits with a vocabulary built from all of their characters. */
export function charTokenData(split: CharSplit): TokenData {
  const chars = new Set<string>();
  for (const part of [split.train, split.val]) for (const ch of part) chars.add(ch);
  const vocab = [...chars].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
  if (vocab.length > 65536) {
    throw new UserError(`the text has ${vocab.length} distinct characters; a char-level track holds at most 65536`);
  }
  if (vocab.length < 2) throw new UserError('the text needs at least two distinct characters');
  const index = new Map(vocab.map((ch, i) => [ch, i]));
  const encode = (s: string): Uint16Array => {
    const out = new Uint16Array(s.length); // upper bound: code points <= UTF-16 units
    let n = 0;
    for (const ch of s) out[n++] = index.get(ch)!;
    return out.slice(0, n);
  };
  const train = encode(split.train);
  const val = encode(split.val);
  return {
    train,
    val,
    vocabSize: vocab.length,
    decode: (tokens) => Array.from(tokens, (t) => vocab[t] ?? '?').join(''),
    dataHash: hashTokens(`char:${vocab.join('')}`, train, val),
  };
}

export function readTextFile(file: string): string {
  if (!fs.existsSync(file)) throw new UserError(`text file not found: ${file}`);
  if (!fs.statSync(file).isFile()) throw new UserError(`not a file: ${file}`);
  const bytes = fs.readFileSync(file);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UserError(`${file} is not valid UTF-8 text`);
  }
  if (text.length === 0) throw new UserError(`text file is empty: ${file}`);
  return text;
}
