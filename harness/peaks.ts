/**
 * The peak an MFU is relative to: per hardware class and backend, either measured here (a large fp32 product on
 * the backend, as `speedrun calibrate` does) or, for a GPU backend on a GPU named in the table below, its
 * published dense fp32 peak. A peak always says how it was obtained.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendInfo } from './backends/index.ts';

export interface Peak {
  flopsPerSec: number;
  /** e.g. "measured sgemm 1024³" or "published fp32 peak of NVIDIA H200". */
  method: string;
}

/** Dense fp32 (non-tensor-core) peaks from the vendors' data sheets, by a substring of the GPU's name. */
const PUBLISHED_FP32: readonly [RegExp, number, string][] = [
  [/H200/i, 67e12, 'NVIDIA H200'],
  [/H100.*PCIe/i, 51e12, 'NVIDIA H100 PCIe'],
  [/H100/i, 67e12, 'NVIDIA H100 SXM'],
  [/A100/i, 19.5e12, 'NVIDIA A100'],
  [/L40S/i, 91.6e12, 'NVIDIA L40S'],
  [/RTX 4090/i, 82.6e12, 'NVIDIA RTX 4090'],
];

const GPU_BACKENDS = new Set(['webgpu', 'tensorflow-gpu']);

/** The published peak for a GPU backend on a known GPU, else undefined. */
export function publishedPeak(backend: Pick<BackendInfo, 'name'>, gpus: string[]): Peak | undefined {
  if (!GPU_BACKENDS.has(backend.name)) return undefined;
  for (const gpu of gpus) {
    const known = PUBLISHED_FP32.find(([pattern]) => pattern.test(gpu));
    if (known) return { flopsPerSec: known[1], method: `published fp32 peak of ${known[2]}` };
  }
  return undefined;
}

/**
 * The product size measured per backend: 1024³ where products are fast (native's sgemm, a GPU); 512³ on wasm
 * (XNNPACK's rate is flat from there, and 1024³ takes ~90 ms a product); 256³ on a software WebGPU adapter and
 * 128³ on TF.js's pure-JavaScript cpu backend, whose MFU only says how far from any machine's they are.
 */
function sizeFor(backend: Pick<BackendInfo, 'name'> & { adapter?: { software: boolean } }): number {
  if (backend.name === 'cpu') return 128;
  if (backend.name === 'wasm') return 512;
  if (backend.name === 'webgpu' && backend.adapter?.software) return 256;
  return 1024;
}

/**
 * FLOP/s of an n³ fp32 product on the active backend: the best of at least 10 timed products, and of as many as
 * fit in 150 ms (50 at most), after five warm-ups (read back async: webgpu has no sync read). A
 * library that compiles its kernels or starts its threads on first use (oneDNN) measured 179 GFLOP/s with two
 * warm-ups and three products, 312-355 so, against 420-447 in a warm process (2026-12-02, AMD EPYC Zen 5); a peak
 * taken too early overstates every MFU against it.
 */
export async function measurePeak(backend: Pick<BackendInfo, 'name'> & { adapter?: { software: boolean } }): Promise<Peak> {
  const n = sizeFor(backend);
  const [a, b] = [tf.randomNormal([n, n]), tf.randomNormal([n, n])];
  let best = Infinity;
  try {
    const WARM_UPS = 5;
    const began = performance.now();
    for (let i = 0; i < WARM_UPS + 50; i++) {
      const start = performance.now();
      const c = tf.matMul(a, b);
      await c.data();
      if (i >= WARM_UPS) best = Math.min(best, performance.now() - start);
      c.dispose();
      if (i >= WARM_UPS + 9 && performance.now() - began > 150) break;
    }
  } finally {
    a.dispose();
    b.dispose();
  }
  return { flopsPerSec: (2 * n ** 3) / (best / 1000), method: `measured fp32 product ${n}³ on ${backend.name}` };
}

/** A GPU's published peak where it is known, else one measured now. */
export async function obtainPeak(backend: Pick<BackendInfo, 'name'> & { adapter?: { software: boolean } }, gpus: string[]): Promise<Peak> {
  return publishedPeak(backend, gpus) ?? (await measurePeak(backend));
}
