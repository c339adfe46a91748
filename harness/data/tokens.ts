/** Token streams a track trains and evaluates on, and the seeded batch sampler over them. */
import { createHash } from 'node:crypto';
import seedrandom from 'seedrandom';
import { UserError } from '../errors.ts';

export type TokenArray = Uint16Array | Int32Array;

export interface TokenData {
  train: TokenArray;
  val: TokenArray;
  vocabSize: number;
  /** Turns tokens back into text for samples and debugging. */
  decode(tokens: ArrayLike<number>): string;
  /** sha256 over vocabulary and both splits: part of the track's identity. */
  dataHash: string;
}

export function hashTokens(vocabKey: string, train: TokenArray, val: TokenArray): string {
  const hash = createHash('sha256');
  hash.update(vocabKey);
  hash.update(new Uint8Array(train.buffer, train.byteOffset, train.byteLength));
  hash.update(new Uint8Array(val.buffer, val.byteOffset, val.byteLength));
  return hash.digest('hex');
}

/** A batch as flat row-major [B, T] token ids and next-token targets. */
export interface Batch {
  inputs: Int32Array;
  targets: Int32Array;
  batchSize: number;
  seqLen: number;
}

/** nanoGPT's get_batch: B random windows of T+1 tokens, from a PRNG seeded by the run's seed. */
export class BatchSampler {
  private readonly random: seedrandom.PRNG;

  constructor(
    private readonly tokens: TokenArray,
    private readonly batchSize: number,
    private readonly seqLen: number,
    seed: number,
  ) {
    if (tokens.length < seqLen + 2) {
      throw new UserError(`the training split has ${tokens.length} tokens, fewer than one context of ${seqLen + 1}`);
    }
    this.random = seedrandom(`speedrun-data-${seed}`);
  }

  next(): Batch {
    const { batchSize, seqLen, tokens } = this;
    const inputs = new Int32Array(batchSize * seqLen);
    const targets = new Int32Array(batchSize * seqLen);
    const span = tokens.length - seqLen - 1;
    for (let b = 0; b < batchSize; b++) {
      const start = Math.floor(this.random() * span);
      for (let t = 0; t < seqLen; t++) {
        inputs[b * seqLen + t] = tokens[start + t]!;
        targets[b * seqLen + t] = tokens[start + t + 1]!;
      }
    }
    return { inputs, targets, batchSize, seqLen };
  }
}

/** The fixed validation set: consecutive non-overlapping windows from the start of the val split. */
export function evalBatches(val: TokenArray, evalTokens: number, seqLen: number, batchSize: number): Batch[] {
  const available = Math.floor((val.length - 1) / seqLen);
  const windows = Math.min(Math.ceil(evalTokens / seqLen), available);
  if (windows < 1) throw new UserError(`the validation split has ${val.length} tokens, fewer than one context of ${seqLen + 1}`);
  const batches: Batch[] = [];
  for (let first = 0; first < windows; first += batchSize) {
    const rows = Math.min(batchSize, windows - first);
    const inputs = new Int32Array(rows * seqLen);
    const targets = new Int32Array(rows * seqLen);
    for (let r = 0; r < rows; r++) {
      const start = (first + r) * seqLen;
      for (let t = 0; t < seqLen; t++) {
        inputs[r * seqLen + t] = val[start + t]!;
        targets[r * seqLen + t] = val[start + t + 1]!;
      }
    }
    batches.push({ inputs, targets, batchSize: rows, seqLen });
  }
  return batches;
}
