/**
 * The `native` backend: TF.js's wasm backend with speedrun's C kernels registered over wasm's, called through a
 * Node-API addon directly on the wasm heap, so no data is copied. Two builds of the addon (native/addon.c):
 *  - speedrun_blas.node, where libopenblas-dev is installed: every matrix product (BatchMatMul, which 2-D matMul
 *    also goes through) is OpenBLAS's sgemm, transposes are sgemm flags, not copies;
 *  - speedrun_kernels.node, wherever a C compiler is: the same fused and elementwise kernels, with the matrix
 *    products left on wasm's XNNPACK.
 * The first is loaded where it is built, unless SPEEDRUN_NATIVE_BLAS=0. Everything else stays wasm's.
 *
 * Why wasm and not the cpu backend underneath: the cpu backend's pure-JavaScript kernels run ~40x slower than
 * wasm's, so the non-matmul part of a step would cost seconds. Why it matters: tfjs-backend-wasm sends every
 * batched product (attention's q·kᵀ and P·v, ~45 % of a nano step) to a scalar loop at ~1.5 GFLOP/s.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { PROJECT_ROOT } from '../environment.ts';

/** native/blas.c, in speedrun_blas.node only. */
export interface NativeBlas {
  /** bf16: round both operands to bfloat16 (nearest even) and accumulate in fp32 (emulated; no sbgemm here). */
  sgemmBatched(memory: Uint8Array, aOffset: number, bOffset: number, cOffset: number, batch: number, m: number, n: number, k: number, transA: boolean, transB: boolean, strideA: number, strideB: number, bf16: boolean): void;
  setThreads(threads: number): void;
  config(): string;
  /** Products by oneDNN's sgemm instead of OpenBLAS's; true where they now are (oneDNN linked). Absent from older builds. */
  useOnednnProducts?(on: boolean): boolean;
}

/** What every build of the addon has: setThreads (OpenBLAS's in its build); the kernel groups are typed where they are registered. */
export type NativeAddon = Partial<NativeBlas>;

const RELEASE = path.join(PROJECT_ROOT, 'native', 'build', 'Release');
/** The addon with OpenBLAS's products. */
export const ADDON_PATH = path.join(RELEASE, 'speedrun_blas.node');
/** The addon that needs only a C compiler: kernels, products on XNNPACK. */
export const KERNELS_ADDON_PATH = path.join(RELEASE, 'speedrun_kernels.node');
export const NATIVE_INSTALL_HINT = 'install a C compiler (Debian/Ubuntu: apt-get install g++ make python3; libopenblas-dev too for its matrix products) and run `npm run build:native` (or npm ci again)';

const require = createRequire(import.meta.url);
let loaded: NativeAddon | undefined;

/** The addon `native` loads here: OpenBLAS's build where it exists and SPEEDRUN_NATIVE_BLAS is not 0, else the kernels-only one; undefined where neither is built. */
export function nativeAddonPath(): string | undefined {
  const candidates = process.env.SPEEDRUN_NATIVE_BLAS === '0' ? [KERNELS_ADDON_PATH] : [ADDON_PATH, KERNELS_ADDON_PATH];
  return candidates.find((file) => fs.existsSync(file));
}

export const nativeBuilt = (): boolean => nativeAddonPath() !== undefined;

/** True where this process's native backend runs its matrix products on OpenBLAS (set when it loads). */
let productsOnBlas = false;
export const nativeProductsOnBlas = (): boolean => productsOnBlas;

/**
 * OpenBLAS picks its kernels from the CPU model; on virtual CPUs that report a generic model it falls back to
 * "Prescott" (SSE3, ~30 GFLOP/s here). Choose from the instruction-set flags instead, unless the user did.
 * Sets the variable in this process's environment, so child processes (the PyTorch benchmark) get it too.
 */
export function chooseCoreType(): void {
  if (process.env.OPENBLAS_CORETYPE) return;
  let flags = '';
  try {
    flags = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '';
  } catch {
    return;
  }
  const has = (f: string) => new RegExp(`\\b${f}\\b`).test(flags);
  if (has('avx512f') && has('avx512bw') && has('avx512vl')) process.env.OPENBLAS_CORETYPE = 'SkylakeX';
  else if (has('avx2') && has('fma')) process.env.OPENBLAS_CORETYPE = 'Haswell';
}

export function loadNativeAddon(threads: number): NativeAddon {
  if (!loaded) {
    const file = nativeAddonPath();
    if (!file) throw new Error('the native addon is not built');
    chooseCoreType();
    // oneDNN's OpenMP threads (int8 products) spin after each call (libgomp's default: 300,000 turns) and take
    // the cores OpenBLAS and wasm's threads need next: nano steps with int8 products ran 1.35x the fp32 step
    // spinning so long, 0.96x never spinning (each call then waits for its threads to wake), 0.91x spinning
    // 10,000 turns (one run each, 2026-12-01, AMD EPYC Zen 3). libgomp reads it when the addon loads it.
    if (process.env.OMP_WAIT_POLICY === undefined) process.env.GOMP_SPINCOUNT ??= '10000';
    loaded = require(file) as NativeAddon;
  }
  loaded.setThreads?.(threads);
  return loaded;
}

/**
 * The precision of native matrix products for the rest of this process's run: 'fp32', or 'bf16' (operands rounded
 * to bfloat16, fp32 accumulation), which the mixed-precision recipe chooses. Every run starts at fp32.
 */
export type MatMulPrecision = 'fp32' | 'bf16';
let precision: MatMulPrecision = 'fp32';
export const setMatMulPrecision = (value: MatMulPrecision): void => {
  precision = value;
};
export const matMulPrecision = (): MatMulPrecision => precision;

interface WasmBackendLike {
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  wasm: { HEAPU8: Uint8Array };
}

/** True where the addon has OpenBLAS's products. */
export const hasBlas = (addon: NativeAddon): addon is NativeAddon & NativeBlas => typeof addon.sgemmBatched === 'function';

/** Replaces wasm's BatchMatMul with sgemm on the wasm heap (broadcasting as TF.js does, batch of 1 on a side). */
export function useBlasForMatMul(blas: NativeBlas): void {
  productsOnBlas = true;
  const original = tf.getKernel('BatchMatMul', 'wasm');
  if (!original) throw new Error('the wasm backend has no BatchMatMul kernel to replace');
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
      const backend = args.backend as unknown as WasmBackendLike;
      const ra = a.shape.length;
      const rb = b.shape.length;
      const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
      const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
      const sameOuter = ra === rb && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
      if (a.dtype !== 'float32' || b.dtype !== 'float32' || !(sameOuter || batchA === 1 || batchB === 1)) {
        return original.kernelFunc(args); // partial broadcasting: wasm's own kernel
      }
      const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
      const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
      const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
      const outer = (batchA >= batchB ? a : b).shape.slice(0, -2);
      const batch = Math.max(batchA, batchB);
      const out = backend.makeOutput([...outer, m, n], 'float32');
      if (batch * m * n === 0) return out;
      if (k === 0) {
        new Float32Array(backend.wasm.HEAPU8.buffer, backend.dataIdMap.get(out.dataId).memoryOffset, batch * m * n).fill(0);
        return out;
      }
      blas.sgemmBatched(
        backend.wasm.HEAPU8, // read after makeOutput: allocating may grow (and replace) the heap
        backend.dataIdMap.get(a.dataId).memoryOffset,
        backend.dataIdMap.get(b.dataId).memoryOffset,
        backend.dataIdMap.get(out.dataId).memoryOffset,
        batch,
        m,
        n,
        k,
        transposeA,
        transposeB,
        batchA === 1 ? 0 : m * k,
        batchB === 1 ? 0 : k * n,
        precision === 'bf16',
      );
      return out;
    },
  });
}
