/**
 * The native backend's fused training kernels (native/kernels.c), registered as TF.js kernels on the wasm
 * backend that native runs on. Each one replaces a chain of small TF.js kernels (LayerNorm's 6 forward and 9
 * backward, GELU's 7 and 9, attention's transposes + products + mask + softmax, cross-entropy's 10, AdamW's ~15
 * per group plus concat/split) with one pass over the wasm heap, without copies. They have no gradients of their
 * own: recipes/fused-kernels/ops.ts pairs each forward with its backward kernel in a custom op.
 *
 * Only the `fused-kernels` recipe uses them, so `--backend native` alone stays the unfused reference they are
 * measured against.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './nativeBlas.ts';

/** native/kernels.c's entry points: (heap, byte offsets…, sizes…, scalars…). */
export interface NativeKernelAddon {
  layerNormForward(heap: Uint8Array, x: number, gain: number, y: number, xhat: number, rstd: number, rows: number, width: number, eps: number): void;
  layerNormBackward(heap: Uint8Array, dy: number, xhat: number, rstd: number, gain: number, dx: number, dGain: number, rows: number, width: number): void;
  addLayerNormForward(heap: Uint8Array, x: number, branch: number, gain: number, sum: number, y: number, rows: number, width: number, eps: number): void;
  addLayerNormBackward(heap: Uint8Array, dy: number, dSum: number, sum: number, gain: number, dx: number, dGain: number, rows: number, width: number, eps: number): void;
  geluForward(heap: Uint8Array, a: number, h: number, n: number): void;
  geluBackward(heap: Uint8Array, dh: number, a: number, da: number, n: number): void;
  attentionForward(heap: Uint8Array, q: number, k: number, v: number, out: number, probs: number, batch: number, seqLen: number, heads: number, headSize: number, scale: number): void;
  attentionBackward(heap: Uint8Array, dOut: number, q: number, k: number, v: number, probs: number, dq: number, dk: number, dv: number, batch: number, seqLen: number, heads: number, headSize: number, scale: number): void;
  crossEntropy(heap: Uint8Array, logits: number, targets: number, loss: number, grad: number, rows: number, vocab: number): void;
  sumOfSquares(heap: Uint8Array, offsets: number[], sizes: number[], out: number): void;
  adamW(heap: Uint8Array, p: number, g: number, m: number, v: number, pOut: number, mOut: number, vOut: number, n: number, gradScale: number, beta1: number, beta2: number, c1: number, c2: number, eps: number, lr: number, decayFactor: number): void;
}

/** native/ngpt.c's entry points, the nGPT recipe's hot paths. */
export interface NgptKernelAddon {
  ngptResidualForward(heap: Uint8Array, h: number, b: number, alpha: number, y: number, bn: number, rb: number, rz: number, rows: number, width: number): void;
  ngptResidualBackward(heap: Uint8Array, dy: number, y: number, rz: number, h: number, bn: number, rb: number, alpha: number, dh: number, db: number, dAlpha: number, scratch: number, rows: number, width: number): void;
  ngptQueryKeyForward(heap: Uint8Array, x: number, cos: number, sin: number, s: number, y: number, n: number, r: number, batch: number, seqLen: number, heads: number, headSize: number): void;
  ngptQueryKeyBackward(heap: Uint8Array, dy: number, n: number, r: number, cos: number, sin: number, s: number, dx: number, ds: number, scratch: number, batch: number, seqLen: number, heads: number, headSize: number): void;
  ngptSwigluForward(heap: Uint8Array, a: number, s: number, hidden: number, rows: number, width: number): void;
  ngptSwigluBackward(heap: Uint8Array, dh: number, a: number, s: number, da: number, ds: number, rows: number, width: number): void;
  unitNormAxis(heap: Uint8Array, x: number, y: number, scratch: number, rows: number, cols: number, axis: number): void;
}

/** The TF.js kernel names. */
export const FUSED = {
  layerNorm: 'SpeedrunLayerNorm',
  layerNormGrad: 'SpeedrunLayerNormGrad',
  addLayerNorm: 'SpeedrunAddLayerNorm',
  addLayerNormGrad: 'SpeedrunAddLayerNormGrad',
  gelu: 'SpeedrunGelu',
  geluGrad: 'SpeedrunGeluGrad',
  attention: 'SpeedrunCausalAttention',
  attentionGrad: 'SpeedrunCausalAttentionGrad',
  crossEntropy: 'SpeedrunCrossEntropy',
  sumOfSquares: 'SpeedrunSumOfSquares',
  adamW: 'SpeedrunAdamW',
} as const;

/** native/muon.c: Muon's whole update of one matrix. */
export interface MuonKernelAddon {
  muonUpdate(heap: Uint8Array, p: number, g: number, buffer: number, pOut: number, bufferOut: number, scratch: number, rows: number, cols: number, mu: number, lrScale: number, steps: number): void;
}

export const MUON_UPDATE = 'SpeedrunMuonUpdate';

/** native/heads.c: the rotary rotation of [B, T, H, hs] (sign −1: its inverse, the gradient) and the RMS norm. */
export interface HeadKernelAddon {
  rotary(heap: Uint8Array, x: number, cos: number, sin: number, out: number, batch: number, seqLen: number, heads: number, headSize: number, sign: number): void;
  rmsNormForward(heap: Uint8Array, x: number, y: number, r: number, rows: number, width: number, eps: number): void;
  rmsNormBackward(heap: Uint8Array, dy: number, y: number, r: number, dx: number, rows: number, width: number): void;
}

/** native/int8.c (built with oneDNN): a product in 8-bit integers, both operands quantized in the call. */
export interface Int8KernelAddon {
  int8Linear(heap: Uint8Array, x: number, w: number, out: number, amax: number, rows: number, inner: number, cols: number, wTransposed: number, scaleX: number, scaleW: number): void;
  int8Available(): string;
  /** 127 where the CPU has VNNI, else 63 (7-bit weights: see native/int8.c). */
  int8WeightMax(): number;
}

let int8WeightMax: number | null = null;
/** The weights' int8 range on this CPU (127 or 63), or null where the int8 kernel is not registered. */
export const int8WeightRange = (): number | null => int8WeightMax;

/** Inputs x [rows, inner] and w [inner, cols] (or [cols, inner] with attr transposed = 1); outputs x·w and [amax(x), amax(w)]. */
export const INT8_LINEAR = 'SpeedrunInt8Linear';

export const ROTARY = 'SpeedrunRotary';
export const RMS_NORM = { forward: 'SpeedrunRmsNorm', backward: 'SpeedrunRmsNormGrad' } as const;



/** The TF.js kernel names of nGPT's fused kernels. */
export const NGPT_FUSED = {
  residual: 'SpeedrunNgptResidual',
  residualGrad: 'SpeedrunNgptResidualGrad',
  queryKey: 'SpeedrunNgptQueryKey',
  queryKeyGrad: 'SpeedrunNgptQueryKeyGrad',
  swiglu: 'SpeedrunNgptSwiglu',
  swigluGrad: 'SpeedrunNgptSwigluGrad',
  unitNormMatrices: 'SpeedrunUnitNormMatrices',
} as const;

interface WasmBackendLike {
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  wasm: { HEAPU8: Uint8Array; _malloc(bytes: number): number; _free(offset: number): void };
}

/** Runs a fused kernel, its outputs always as a list. */
export function runFused(kernel: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}): tf.Tensor[] {
  const out = tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor | tf.Tensor[];
  return Array.isArray(out) ? out : [out];
}

/**
 * True where a kernel is registered for this TF.js backend (native's live on wasm; an addon built before a kernel
 * existed registers none of its group).
 */
export const hasKernel = (kernelName: string, tfjsBackend: string = tf.getBackend()): boolean => tf.getKernel(kernelName, tfjsBackend) !== undefined;

/** The run's backend is native and has this kernel: when a recipe's note says what ran fused. */
export const nativeHas = (backend: { name: string; tfjsBackend: string }, kernelName: string): boolean => backend.name === 'native' && hasKernel(kernelName, backend.tfjsBackend);

/** True where the core's fused kernels are registered for this TF.js backend (native, i.e. wasm + the addon). */
export const hasFusedKernels = (tfjsBackend: string = tf.getBackend()): boolean => hasKernel(FUSED.layerNorm, tfjsBackend);

type KernelArgs = { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: object };

const register = (kernelName: string, run: (b: WasmBackendLike, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => tf.TensorInfo | tf.TensorInfo[]) => {
  if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({
    kernelName,
    backendName: 'wasm',
    kernelFunc: ((args: KernelArgs) => run(args.backend as WasmBackendLike, args.inputs, args.attrs ?? {})) as unknown as tf.KernelFunc,
  });
};
const offset = (b: WasmBackendLike, t: tf.TensorInfo | undefined): number => {
  if (!t || (t.dtype !== 'float32' && t.dtype !== 'int32')) throw new Error(`fused kernel: expected a float32 tensor, got ${t?.dtype}`);
  return b.dataIdMap.get(t.dataId)!.memoryOffset;
};
const num = (attrs: tf.NamedAttrMap, name: string) => attrs[name] as number;

/** Runs `body` with `bytes` of scratch on the wasm heap. */
function withScratch<T>(b: WasmBackendLike, bytes: number, body: (scratch: number) => T): T {
  const scratch = b.wasm._malloc(bytes);
  try {
    return body(scratch);
  } finally {
    b.wasm._free(scratch);
  }
}

export function registerNativeKernels(addon: NativeAddon & Partial<NativeKernelAddon> & Partial<NgptKernelAddon> & Partial<MuonKernelAddon> & Partial<HeadKernelAddon> & Partial<Int8KernelAddon>): void {
  // An addon built before the kernels existed (matmuls only), or before the residual + norm kernel: nothing fused.
  if (typeof addon.adamW !== 'function' || typeof addon.addLayerNormForward !== 'function') return;
  const native = addon as NativeKernelAddon;
  if (typeof addon.ngptResidualForward === 'function') registerNgptKernels(addon as NgptKernelAddon);
  if (typeof addon.muonUpdate === 'function') registerMuonKernel(addon as MuonKernelAddon);
  if (typeof addon.rmsNormForward === 'function') registerHeadKernels(addon as HeadKernelAddon);
  if (typeof addon.int8Linear === 'function' && addon.int8Available?.().startsWith('ok')) registerInt8Kernel(addon as Int8KernelAddon);
  register(FUSED.layerNorm, (b, { x, gain }, attrs) => {
    const [rows, width] = x!.shape as [number, number];
    const [y, xhat, rstd] = [b.makeOutput([rows, width], 'float32'), b.makeOutput([rows, width], 'float32'), b.makeOutput([rows, 1], 'float32')];
    native.layerNormForward(b.wasm.HEAPU8, offset(b, x), offset(b, gain), offset(b, y), offset(b, xhat), offset(b, rstd), rows, width, num(attrs, 'eps'));
    return [y, xhat, rstd];
  });
  register(FUSED.layerNormGrad, (b, { dy, xhat, rstd, gain }) => {
    const [rows, width] = dy!.shape as [number, number];
    const [dx, dGain] = [b.makeOutput([rows, width], 'float32'), b.makeOutput([width], 'float32')];
    native.layerNormBackward(b.wasm.HEAPU8, offset(b, dy), offset(b, xhat), offset(b, rstd), offset(b, gain), offset(b, dx), offset(b, dGain), rows, width);
    return [dx, dGain];
  });
  register(FUSED.addLayerNorm, (b, { x, branch, gain }, attrs) => {
    const [rows, width] = x!.shape as [number, number];
    const [sum, y] = [b.makeOutput([rows, width], 'float32'), b.makeOutput([rows, width], 'float32')];
    native.addLayerNormForward(b.wasm.HEAPU8, offset(b, x), offset(b, branch), offset(b, gain), offset(b, sum), offset(b, y), rows, width, num(attrs, 'eps'));
    return [sum, y];
  });
  register(FUSED.addLayerNormGrad, (b, { dy, dSum, sum, gain }, attrs) => {
    const [rows, width] = dy!.shape as [number, number];
    const [dx, dGain] = [b.makeOutput([rows, width], 'float32'), b.makeOutput([width], 'float32')];
    native.addLayerNormBackward(b.wasm.HEAPU8, offset(b, dy), offset(b, dSum), offset(b, sum), offset(b, gain), offset(b, dx), offset(b, dGain), rows, width, num(attrs, 'eps'));
    return [dx, dGain];
  });
  register(FUSED.gelu, (b, { a }) => {
    const h = b.makeOutput(a!.shape, 'float32');
    native.geluForward(b.wasm.HEAPU8, offset(b, a), offset(b, h), tf.util.sizeFromShape(a!.shape));
    return h;
  });
  register(FUSED.geluGrad, (b, { dh, a }) => {
    const da = b.makeOutput(a!.shape, 'float32');
    native.geluBackward(b.wasm.HEAPU8, offset(b, dh), offset(b, a), offset(b, da), tf.util.sizeFromShape(a!.shape));
    return da;
  });
  register(FUSED.attention, (b, { q, k, v }, attrs) => {
    const [batch, seqLen, heads, headSize] = q!.shape as [number, number, number, number];
    const out = b.makeOutput(q!.shape, 'float32');
    const probs = b.makeOutput([batch, heads, seqLen, seqLen], 'float32');
    native.attentionForward(b.wasm.HEAPU8, offset(b, q), offset(b, k), offset(b, v), offset(b, out), offset(b, probs), batch, seqLen, heads, headSize, num(attrs, 'scale'));
    return [out, probs];
  });
  register(FUSED.attentionGrad, (b, { dOut, q, k, v, probs }, attrs) => {
    const [batch, seqLen, heads, headSize] = q!.shape as [number, number, number, number];
    const [dq, dk, dv] = [0, 1, 2].map(() => b.makeOutput(q!.shape, 'float32'));
    native.attentionBackward(b.wasm.HEAPU8, offset(b, dOut), offset(b, q), offset(b, k), offset(b, v), offset(b, probs), offset(b, dq), offset(b, dk), offset(b, dv), batch, seqLen, heads, headSize, num(attrs, 'scale'));
    return [dq!, dk!, dv!];
  });
  register(FUSED.crossEntropy, (b, { logits, targets }) => {
    const [rows, vocab] = logits!.shape as [number, number];
    if (targets!.dtype !== 'int32') throw new Error('fused cross-entropy: targets must be int32');
    const [loss, grad] = [b.makeOutput([], 'float32'), b.makeOutput([rows, vocab], 'float32')];
    native.crossEntropy(b.wasm.HEAPU8, offset(b, logits), offset(b, targets), offset(b, loss), offset(b, grad), rows, vocab);
    return [loss, grad];
  });
  register(FUSED.sumOfSquares, (b, inputs) => {
    const tensors = Object.values(inputs) as tf.TensorInfo[];
    const out = b.makeOutput([], 'float32');
    native.sumOfSquares(b.wasm.HEAPU8, tensors.map((t) => offset(b, t)), tensors.map((t) => tf.util.sizeFromShape(t.shape)), offset(b, out));
    return out;
  });
  // Inputs p0, g0, m0, v0, p1, … and gradScale; attrs: the hyperparameters and decayFactors (one per tensor).
  // Outputs p0', m0', v0', p1', …
  register(FUSED.adamW, (b, inputs, attrs) => {
    const count = (Object.keys(inputs).length - 1) / 4;
    const decayFactors = attrs.decayFactors as number[];
    const outputs: tf.TensorInfo[] = [];
    for (let i = 0; i < count; i++) {
      const shape = inputs[`p${i}`]!.shape;
      outputs.push(b.makeOutput(shape, 'float32'), b.makeOutput(shape, 'float32'), b.makeOutput(shape, 'float32'));
    }
    const heap = b.wasm.HEAPU8;
    const gradScale = new Float32Array(heap.buffer, offset(b, inputs.gradScale), 1)[0]!;
    for (let i = 0; i < count; i++) {
      const [p, g, m, v] = (['p', 'g', 'm', 'v'] as const).map((name) => offset(b, inputs[`${name}${i}`]));
      const [pOut, mOut, vOut] = outputs.slice(3 * i, 3 * i + 3).map((t) => offset(b, t));
      const size = tf.util.sizeFromShape(inputs[`p${i}`]!.shape);
      native.adamW(heap, p!, g!, m!, v!, pOut!, mOut!, vOut!, size, gradScale, num(attrs, 'beta1'), num(attrs, 'beta2'), num(attrs, 'c1'), num(attrs, 'c2'), num(attrs, 'eps'), num(attrs, 'lr'), decayFactors[i]!);
    }
    return outputs;
  });
}

function registerNgptKernels(native: NgptKernelAddon): void {
  register(NGPT_FUSED.residual, (b, { h, b: branch, alpha }) => {
    const [rows, width] = h!.shape as [number, number];
    const [y, bn, rb, rz] = [b.makeOutput([rows, width], 'float32'), b.makeOutput([rows, width], 'float32'), b.makeOutput([rows, 1], 'float32'), b.makeOutput([rows, 1], 'float32')];
    native.ngptResidualForward(b.wasm.HEAPU8, offset(b, h), offset(b, branch), offset(b, alpha), offset(b, y), offset(b, bn), offset(b, rb), offset(b, rz), rows, width);
    return [y, bn, rb, rz];
  });
  register(NGPT_FUSED.residualGrad, (b, { dy, y, rz, h, bn, rb, alpha }) => {
    const [rows, width] = dy!.shape as [number, number];
    const [dh, db, dAlpha] = [b.makeOutput([rows, width], 'float32'), b.makeOutput([rows, width], 'float32'), b.makeOutput([width], 'float32')];
    withScratch(b, 8 * width, (scratch) =>
      native.ngptResidualBackward(b.wasm.HEAPU8, offset(b, dy), offset(b, y), offset(b, rz), offset(b, h), offset(b, bn), offset(b, rb), offset(b, alpha), offset(b, dh), offset(b, db), offset(b, dAlpha), scratch, rows, width),
    );
    return [dh, db, dAlpha];
  });
  register(NGPT_FUSED.queryKey, (b, { x, cos, sin, s }) => {
    const [batch, seqLen, heads, headSize] = x!.shape as [number, number, number, number];
    const [y, n, r] = [b.makeOutput(x!.shape, 'float32'), b.makeOutput(x!.shape, 'float32'), b.makeOutput([batch, seqLen, heads, 1], 'float32')];
    native.ngptQueryKeyForward(b.wasm.HEAPU8, offset(b, x), offset(b, cos), offset(b, sin), offset(b, s), offset(b, y), offset(b, n), offset(b, r), batch, seqLen, heads, headSize);
    return [y, n, r];
  });
  register(NGPT_FUSED.queryKeyGrad, (b, { dy, n, r, cos, sin, s }) => {
    const [batch, seqLen, heads, headSize] = dy!.shape as [number, number, number, number];
    const [dx, ds] = [b.makeOutput(dy!.shape, 'float32'), b.makeOutput(s!.shape, 'float32')];
    withScratch(b, 8 * headSize, (scratch) =>
      native.ngptQueryKeyBackward(b.wasm.HEAPU8, offset(b, dy), offset(b, n), offset(b, r), offset(b, cos), offset(b, sin), offset(b, s), offset(b, dx), offset(b, ds), scratch, batch, seqLen, heads, headSize),
    );
    return [dx, ds];
  });
  register(NGPT_FUSED.swiglu, (b, { a, s }) => {
    const [rows, width2] = a!.shape as [number, number];
    const hidden = b.makeOutput([rows, width2 / 2], 'float32');
    native.ngptSwigluForward(b.wasm.HEAPU8, offset(b, a), offset(b, s), offset(b, hidden), rows, width2 / 2);
    return hidden;
  });
  register(NGPT_FUSED.swigluGrad, (b, { dh, a, s }) => {
    const [rows, width2] = a!.shape as [number, number];
    const [da, ds] = [b.makeOutput(a!.shape, 'float32'), b.makeOutput(s!.shape, 'float32')];
    native.ngptSwigluBackward(b.wasm.HEAPU8, offset(b, dh), offset(b, a), offset(b, s), offset(b, da), offset(b, ds), rows, width2 / 2);
    return [da, ds];
  });
  // Inputs x0, x1, … (rank 2); attrs.axes: the axis each is normalized along. Outputs y0, y1, …
  register(NGPT_FUSED.unitNormMatrices, (b, inputs, attrs) => {
    const axes = attrs.axes as number[];
    return axes.map((axis, i) => {
      const x = inputs[`x${i}`]!;
      const [rows, cols] = x.shape as [number, number];
      const y = b.makeOutput(x.shape, 'float32');
      withScratch(b, 4 * cols, (scratch) => native.unitNormAxis(b.wasm.HEAPU8, offset(b, x), offset(b, y), scratch, rows, cols, axis));
      return y;
    });
  });
}

function registerMuonKernel(native: MuonKernelAddon): void {
  register(MUON_UPDATE, (b, { p, g, buffer }, attrs) => {
    const [rows, cols] = p!.shape as [number, number];
    const [pOut, bufferOut] = [b.makeOutput(p!.shape, 'float32'), b.makeOutput(p!.shape, 'float32')];
    const m = Math.min(rows, cols);
    withScratch(b, 4 * (2 * rows * cols + 2 * m * m), (scratch) =>
      native.muonUpdate(b.wasm.HEAPU8, offset(b, p), offset(b, g), offset(b, buffer), offset(b, pOut), offset(b, bufferOut), scratch, rows, cols, num(attrs, 'mu'), num(attrs, 'lrScale'), num(attrs, 'steps')),
    );
    return [pOut, bufferOut];
  });
}

function registerInt8Kernel(native: Int8KernelAddon): void {
  int8WeightMax = native.int8WeightMax();
  register(INT8_LINEAR, (b, { x, w }, attrs) => {
    const [rows, inner] = x!.shape as [number, number];
    const transposed = num(attrs, 'transposed');
    const cols = w!.shape[transposed ? 0 : 1]!;
    const [out, amax] = [b.makeOutput([rows, cols], 'float32'), b.makeOutput([2], 'float32')];
    native.int8Linear(b.wasm.HEAPU8, offset(b, x), offset(b, w), offset(b, out), offset(b, amax), rows, inner, cols, transposed, num(attrs, 'scaleX'), num(attrs, 'scaleW'));
    return [out, amax];
  });
}

function registerHeadKernels(native: HeadKernelAddon): void {
  register(ROTARY, (b, { x, cos, sin }, attrs) => {
    const [batch, seqLen, heads, headSize] = x!.shape as [number, number, number, number];
    const out = b.makeOutput(x!.shape, 'float32');
    native.rotary(b.wasm.HEAPU8, offset(b, x), offset(b, cos), offset(b, sin), offset(b, out), batch, seqLen, heads, headSize, num(attrs, 'sign'));
    return out;
  });
  register(RMS_NORM.forward, (b, { x }, attrs) => {
    const width = x!.shape.at(-1)!;
    const rows = tf.util.sizeFromShape(x!.shape) / width;
    const [y, r] = [b.makeOutput(x!.shape, 'float32'), b.makeOutput([...x!.shape.slice(0, -1), 1], 'float32')];
    native.rmsNormForward(b.wasm.HEAPU8, offset(b, x), offset(b, y), offset(b, r), rows, width, num(attrs, 'eps'));
    return [y, r];
  });
  register(RMS_NORM.backward, (b, { dy, y, r }) => {
    const width = dy!.shape.at(-1)!;
    const dx = b.makeOutput(dy!.shape, 'float32');
    native.rmsNormBackward(b.wasm.HEAPU8, offset(b, dy), offset(b, y), offset(b, r), offset(b, dx), tf.util.sizeFromShape(dy!.shape) / width, width);
    return dx;
  });
}
