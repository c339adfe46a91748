/**
 * How gradients move between data-parallel workers (worker_threads) through SharedArrayBuffers, one variant per
 * comms recipe. Every variant leaves each replica with the same averaged gradients (or, sharded, the same
 * updated weights), so the replicas stay identical without ever sending weights at the start.
 *
 *  - allreduce (reference): per tensor, each worker writes its gradient; after a barrier each worker averages its
 *    1/N share of the tensor into a shared mean (reduce-scatter); after a second barrier every worker reads the
 *    whole mean (all-gather by reading shared memory);
 *  - bucketed: the same over flattened buckets of ~1 MiB, so far fewer barriers;
 *  - bf16: bucketed, gradients written as bfloat16 (round to nearest even), summed in fp32: half the bytes;
 *  - overlap: as bucketed. TF.js returns every gradient from one tf.variableGrads call after the whole backward
 *    pass, so no bucket can leave early; the recipe says so and its measured comm time is the upper bound of
 *    what overlap could hide;
 *  - sharded (ZeRO-1, like modded-nanogpt's DistAdam): reduce-scatter (each worker averages only the parameters
 *    it owns), a global-norm exchange for clipping, a local optimizer step on owned parameters only (optimizer
 *    state lives on one worker), then all-gather of the updated weights.
 * A barrier that a peer never reaches times out, so a dead worker cannot hang the others.
 */
export type CommsVariant = 'allreduce' | 'bucketed' | 'bf16' | 'overlap' | 'sharded';

export const BUCKET_FLOATS = 1 << 18; // 1 MiB of fp32
const BARRIER_TIMEOUT_MS = 120_000;

/** Plain data every worker receives: the layout and the shared memory. */
export interface SharedComms {
  variant: CommsVariant;
  workers: number;
  /** Parameter names and sizes, in the order every worker flattens them. */
  names: string[];
  sizes: number[];
  /** Per worker: a region holding one full flattened gradient (fp32, or bf16 in the same bytes). */
  grads: SharedArrayBuffer;
  /** Sharded: the updated weights, all-gathered. */
  params: SharedArrayBuffer;
  /** Every other variant: the averaged gradient, one fp32 copy that each worker writes its share of. */
  mean: SharedArrayBuffer;
  /** Sharded: each worker's sum of squares of its owned averaged gradients. */
  norms: SharedArrayBuffer;
  /** [arrived, generation] for the barrier. */
  barrier: SharedArrayBuffer;
}

export function createSharedComms(variant: CommsVariant, workers: number, names: string[], sizes: number[]): SharedComms {
  const total = sizes.reduce((a, b) => a + b, 0);
  return {
    variant,
    workers,
    names,
    sizes,
    grads: new SharedArrayBuffer(workers * total * 4),
    params: new SharedArrayBuffer(variant === 'sharded' ? total * 4 : 4),
    mean: new SharedArrayBuffer(variant === 'sharded' ? 4 : total * 4),
    norms: new SharedArrayBuffer(workers * 8),
    barrier: new SharedArrayBuffer(8),
  };
}

/** Contiguous runs of parameters: one per tensor (allreduce), or ~BUCKET_FLOATS each. */
export function bucketsOf(sizes: number[], perTensor: boolean): number[][] {
  if (perTensor) return sizes.map((_, i) => [i]);
  const buckets: number[][] = [];
  let current: number[] = [];
  let filled = 0;
  sizes.forEach((size, i) => {
    current.push(i);
    filled += size;
    if (filled >= BUCKET_FLOATS) {
      buckets.push(current);
      current = [];
      filled = 0;
    }
  });
  if (current.length > 0) buckets.push(current);
  return buckets;
}

/** Greedy size balancing: each parameter goes to the worker that owns the fewest floats so far. */
export function owners(sizes: number[], workers: number): number[] {
  const load = new Array<number>(workers).fill(0);
  const owner = new Array<number>(sizes.length);
  const order = sizes.map((s, i) => [s, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [size, i] of order) {
    const w = load.indexOf(Math.min(...load));
    owner[i] = w;
    load[w] += size;
  }
  return owner;
}

/** The bits of an fp32 value (as uint32) -> bf16 bits, round to nearest even (NaN stays a quiet NaN). */
export const bf16Bits = (u: number): number => ((u & 0x7fffffff) > 0x7f800000 ? (u >>> 16) | 0x40 : (u + 0x7fff + ((u >>> 16) & 1)) >>> 16);

/** fp32 -> bf16 bits, round to nearest even (NaN stays NaN). */
export function toBf16(value: number, scratch: Float32Array, bits: Uint32Array): number {
  scratch[0] = value;
  return bf16Bits(bits[0]!);
}

export function fromBf16(half: number, scratch: Float32Array, bits: Uint32Array): number {
  bits[0] = half << 16;
  return scratch[0]!;
}

export interface CommsStats {
  ms: number;
  bytes: number;
}

/** One worker's end of the shared memory. */
export class WorkerComms {
  private readonly offsets: number[];
  private readonly total: number;
  private readonly barrierState: Int32Array;
  private readonly f32Scratch = new Float32Array(1);
  private readonly u32Scratch = new Uint32Array(this.f32Scratch.buffer);
  private readonly buckets: number[][];
  readonly owner: number[];

  constructor(
    readonly shared: SharedComms,
    readonly rank: number,
  ) {
    this.offsets = [];
    let offset = 0;
    for (const size of shared.sizes) {
      this.offsets.push(offset);
      offset += size;
    }
    this.total = offset;
    this.barrierState = new Int32Array(shared.barrier);
    this.owner = owners(shared.sizes, shared.workers);
    this.buckets = bucketsOf(shared.sizes, shared.variant === 'allreduce');
  }

  /** Sense-reversing barrier on Atomics; throws when a peer does not arrive in time. */
  barrier(): void {
    const b = this.barrierState;
    const generation = Atomics.load(b, 1);
    if (Atomics.add(b, 0, 1) === this.shared.workers - 1) {
      Atomics.store(b, 0, 0);
      Atomics.add(b, 1, 1);
      Atomics.notify(b, 1);
      return;
    }
    while (Atomics.load(b, 1) === generation) {
      if (Atomics.wait(b, 1, generation, BARRIER_TIMEOUT_MS) === 'timed-out') {
        throw new Error(`worker ${this.rank}: a peer did not reach the gradient exchange within ${BARRIER_TIMEOUT_MS / 1000} s`);
      }
    }
  }

  /**
   * Averages gradients across workers (every variant but sharded). The result is views of the shared mean,
   * valid until this worker's next exchange: no peer writes the mean again before every worker has passed the
   * first barrier of the next step, which it reaches only after it has used these.
   */
  allReduceMean(grads: Float32Array[]): { mean: Float32Array[]; stats: CommsStats } {
    const { variant, workers, sizes } = this.shared;
    const start = performance.now();
    const bf16 = variant === 'bf16';
    const f32 = new Float32Array(this.shared.grads);
    const u16 = new Uint16Array(this.shared.grads); // bf16 regions: worker w at [w * total, (w + 1) * total)
    const mean = new Float32Array(this.shared.mean);
    let bytes = 0;
    for (const bucket of this.buckets) {
      for (const i of bucket) {
        const base = this.rank * this.total + this.offsets[i]!;
        const g = grads[i]!;
        if (bf16) {
          const bits = new Uint32Array(g.buffer, g.byteOffset, g.length);
          for (let j = 0; j < g.length; j++) u16[base + j] = bf16Bits(bits[j]!);
        } else f32.set(g, base);
        bytes += g.length * (bf16 ? 2 : 4);
      }
      this.barrier();
      // Reduce-scatter: this worker averages its 1/N of the bucket's floats (the bucket is one contiguous run).
      const first = this.offsets[bucket[0]!]!;
      const span = this.offsets[bucket.at(-1)!]! + sizes[bucket.at(-1)!]! - first;
      const lo = first + Math.floor((span * this.rank) / workers);
      const hi = first + Math.floor((span * (this.rank + 1)) / workers);
      for (let w = 0; w < workers; w++) {
        const base = w * this.total;
        if (bf16) for (let j = lo; j < hi; j++) mean[j] = (w === 0 ? 0 : mean[j]!) + fromBf16(u16[base + j]!, this.f32Scratch, this.u32Scratch);
        else if (w === 0) mean.set(f32.subarray(base + lo, base + hi), lo);
        else for (let j = lo; j < hi; j++) mean[j]! += f32[base + j]!;
      }
      for (let j = lo; j < hi; j++) mean[j]! /= workers;
      this.barrier(); // every share of this bucket is averaged (and nobody still reads the gradients written)
    }
    return { mean: sizes.map((size, i) => mean.subarray(this.offsets[i]!, this.offsets[i]! + size)), stats: { ms: performance.now() - start, bytes } };
  }

  /**
   * Sharded, first half: write every gradient, then average only the owned ones (reduce-scatter) and exchange
   * their squared norms. Returns the owned averaged gradients and the global gradient norm.
   */
  reduceScatterMean(grads: Float32Array[]): { owned: Map<number, Float32Array>; globalNorm: number; stats: CommsStats } {
    const start = performance.now();
    const f32 = new Float32Array(this.shared.grads);
    const norms = new Float64Array(this.shared.norms);
    let bytes = 0;
    grads.forEach((g, i) => {
      f32.set(g, this.rank * this.total + this.offsets[i]!);
      bytes += g.length * 4;
    });
    this.barrier();
    const owned = new Map<number, Float32Array>();
    let squares = 0;
    this.shared.sizes.forEach((size, i) => {
      if (this.owner[i] !== this.rank) return;
      const out = new Float32Array(size);
      for (let w = 0; w < this.shared.workers; w++) {
        const base = w * this.total + this.offsets[i]!;
        for (let j = 0; j < size; j++) out[j]! += f32[base + j]!;
      }
      for (let j = 0; j < size; j++) {
        out[j]! /= this.shared.workers;
        squares += out[j]! * out[j]!;
      }
      owned.set(i, out);
    });
    norms[this.rank] = squares;
    bytes += 8;
    this.barrier();
    let total = 0;
    for (let w = 0; w < this.shared.workers; w++) total += norms[w]!;
    return { owned, globalNorm: Math.sqrt(total), stats: { ms: performance.now() - start, bytes } };
  }

  /** Sharded, second half: publish the owned updated weights, read everyone else's (all-gather). */
  allGather(updated: Map<number, Float32Array>): { weights: Map<number, Float32Array>; stats: CommsStats } {
    const start = performance.now();
    const f32 = new Float32Array(this.shared.params);
    let bytes = 0;
    for (const [i, w] of updated) {
      f32.set(w, this.offsets[i]!);
      bytes += w.length * 4;
    }
    this.barrier();
    const weights = new Map<number, Float32Array>();
    this.shared.sizes.forEach((size, i) => {
      if (this.owner[i] !== this.rank) weights.set(i, f32.subarray(this.offsets[i]!, this.offsets[i]! + size)); // read before the next step's writes
    });
    this.barrier(); // nobody overwrites the weights before everyone has read them
    return { weights, stats: { ms: performance.now() - start, bytes } };
  }
}
