/**
 * native/elementwise.c's broadcasting binary ops (Add, Sub, Multiply, RealDiv), axis sums (Sum), the unary
 * ops (Square, Neg, Abs, Relu, Tanh, Exp, Sigmoid, Sqrt, Rsqrt), Transpose, and SplitV and Concat (row copies:
 * the attention's q, k, v split and its gradient's concatenation, every layer), registered over
 * tfjs-backend-wasm's kernels on the native backend. Transpose matters where the products stay on XNNPACK (no
 * OpenBLAS), which the core feeds transposed copies instead of transpose flags (harness/ops.ts). wasm runs these through
 * generic per-element index arithmetic (15 ns an element for rotary's broadcast multiply, 4 ms for a column sum
 * of [768, 1024]); every recipe's broadcasts and every gradient's reductions go through them. float32 only: any
 * other dtype goes to wasm's own kernel.
 *
 * Shapes are coalesced here (adjacent dimensions merged where both operands are contiguous across them, or both
 * broadcast), so the C loops see as few and as long rows as possible.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface NativeElementwiseAddon {
  broadcastBinary(heap: Uint8Array, op: number, a: number, b: number, out: number, shape: number[], aStrides: number[], bStrides: number[]): void;
  sumStrided(heap: Uint8Array, x: number, out: number, outSize: number, shape: number[], outStrides: number[]): void;
  unary(heap: Uint8Array, op: number, x: number, out: number, n: number): void;
  /** Absent from addons built before it. */
  transpose?(heap: Uint8Array, x: number, out: number, shape: number[], inStrides: number[]): void;
  /** Absent from addons built before it. */
  copyRows?(heap: Uint8Array, src: number, srcStride: number, dst: number, dstStride: number, rows: number, width: number): void;
}

/** An addon built before native/elementwise.c existed has none of these. */
export const hasNativeElementwise = (addon: object): addon is NativeElementwiseAddon => typeof (addon as Partial<NativeElementwiseAddon>).broadcastBinary === 'function';

interface WasmBackendLike {
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  wasm: { HEAPU8: Uint8Array };
}

const BINARY = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3 } as const;
const UNARY = { Square: 0, Neg: 1, Abs: 2, Relu: 3, Tanh: 4, Exp: 5, Sigmoid: 6, Sqrt: 7, Rsqrt: 8 } as const;

/** Row-major element strides of `shape`. */
const contiguous = (shape: number[]): number[] => {
  const strides = new Array<number>(shape.length);
  for (let d = shape.length - 1, s = 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d]!;
  }
  return strides;
};

/**
 * Merges dimension d into d+1 wherever every stride list is contiguous across the two (stride[d] =
 * stride[d+1]·shape[d+1], which includes both being 0), and drops dimensions of size 1.
 */
export function coalesce(shape: number[], strideLists: number[][]): { shape: number[]; strides: number[][] } {
  const keep = shape.map((_, d) => d).filter((d) => shape[d] !== 1);
  let dims = keep.map((d) => ({ size: shape[d]!, strides: strideLists.map((s) => s[d]!) }));
  if (dims.length === 0) dims = [{ size: 1, strides: strideLists.map(() => 1) }];
  const merged = [dims[0]!];
  for (const dim of dims.slice(1)) {
    const last = merged.at(-1)!;
    if (last.strides.every((s, i) => s === dim.strides[i]! * dim.size)) {
      merged[merged.length - 1] = { size: last.size * dim.size, strides: dim.strides };
    } else merged.push(dim);
  }
  return { shape: merged.map((d) => d.size), strides: strideLists.map((_, i) => merged.map((d) => d.strides[i]!)) };
}

/** The strides of `inputShape` read as broadcast to `outShape` (0 along broadcast dimensions). */
function broadcastStrides(inputShape: number[], outShape: number[]): number[] {
  const padded = [...new Array<number>(outShape.length - inputShape.length).fill(1), ...inputShape];
  const strides = contiguous(padded);
  return padded.map((size, d) => (size === 1 && outShape[d] !== 1 ? 0 : strides[d]!));
}

/** How many kernel calls ran natively and how many went back to wasm's own kernel (other dtypes, strides). */
export const elementwiseCalls = { native: 0, wasm: 0 };

export function useNativeElementwise(addon: NativeElementwiseAddon): void {
  const heapOffset = (b: WasmBackendLike, t: tf.TensorInfo) => b.dataIdMap.get(t.dataId)!.memoryOffset;
  const replace = (kernelName: string, run: (args: Parameters<tf.KernelFunc>[0], original: tf.KernelConfig) => tf.TensorInfo | tf.TensorInfo[] | null) => {
    const original = tf.getKernel(kernelName, 'wasm');
    if (!original) throw new Error(`the wasm backend has no ${kernelName} kernel to replace`);
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: (args) => {
        const out = run(args, original);
        if (out) return (elementwiseCalls.native++, out);
        elementwiseCalls.wasm++;
        return original.kernelFunc(args);
      },
    });
  };

  for (const [kernelName, op] of Object.entries(BINARY)) {
    replace(kernelName, (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
      const backend = args.backend as unknown as WasmBackendLike;
      const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const out = backend.makeOutput(outShape, 'float32');
      if (tf.util.sizeFromShape(outShape) === 0) return out;
      const { shape, strides } = coalesce(outShape, [broadcastStrides(a.shape, outShape), broadcastStrides(b.shape, outShape)]);
      if (strides.some((s) => s.at(-1)! > 1)) return null; // rows must step by one or broadcast one value
      addon.broadcastBinary(backend.wasm.HEAPU8, op, heapOffset(backend, a), heapOffset(backend, b), heapOffset(backend, out), shape, strides[0]!, strides[1]!);
      return out;
    });
  }

  replace('Sum', (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    if (x.dtype !== 'float32') return null;
    const backend = args.backend as unknown as WasmBackendLike;
    const reduced = new Set(tf.util.parseAxisParam(axis, x.shape));
    const kept = x.shape.filter((_, d) => !reduced.has(d));
    const out = backend.makeOutput(keepDims ? x.shape.map((s, d) => (reduced.has(d) ? 1 : s)) : kept, 'float32');
    const outSize = tf.util.sizeFromShape(kept);
    if (outSize === 0) return out;
    if (tf.util.sizeFromShape(x.shape) === 0) {
      new Float32Array(backend.wasm.HEAPU8.buffer, heapOffset(backend, out), outSize).fill(0);
      return out;
    }
    const keptStrides = contiguous(kept);
    let k = 0;
    const outStrides = x.shape.map((_, d) => (reduced.has(d) ? 0 : keptStrides[k++]!));
    const { shape, strides } = coalesce(x.shape, [contiguous(x.shape), outStrides]);
    addon.sumStrided(backend.wasm.HEAPU8, heapOffset(backend, x), heapOffset(backend, out), outSize, shape, strides[1]!);
    return out;
  });

  for (const [kernelName, op] of Object.entries(UNARY)) {
    replace(kernelName, (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      if (x.dtype !== 'float32') return null;
      const backend = args.backend as unknown as WasmBackendLike;
      const out = backend.makeOutput(x.shape, 'float32');
      addon.unary(backend.wasm.HEAPU8, op, heapOffset(backend, x), heapOffset(backend, out), tf.util.sizeFromShape(x.shape));
      return out;
    });
  }

  const transpose = addon.transpose?.bind(addon);
  if (transpose) {
    replace('Transpose', (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { perm } = args.attrs as { perm: number[] };
      if (x.dtype !== 'float32') return null;
      const backend = args.backend as unknown as WasmBackendLike;
      const outShape = perm.map((d) => x.shape[d]!);
      const xStrides = contiguous(x.shape);
      const { shape, strides } = coalesce(outShape, [contiguous(outShape), perm.map((d) => xStrides[d]!)]);
      if (shape.length > 8) return null; // the C loop's index has 8 places (before an output is allocated for nothing)
      const out = backend.makeOutput(outShape, 'float32');
      if (tf.util.sizeFromShape(outShape) === 0) return out;
      transpose(backend.wasm.HEAPU8, heapOffset(backend, x), heapOffset(backend, out), shape, strides[1]!);
      return out;
    });
  }

  const copyRows = addon.copyRows?.bind(addon);
  if (copyRows) {
    /** [outer, axis, inner] of a shape split or joined at `axis`. */
    const around = (shape: number[], axis: number) => [tf.util.sizeFromShape(shape.slice(0, axis)), shape[axis]!, tf.util.sizeFromShape(shape.slice(axis + 1))] as const;
    replace('SplitV', (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { numOrSizeSplits, axis } = args.attrs as { numOrSizeSplits: number | number[]; axis: number | number[] };
      if (x.dtype !== 'float32') return null;
      const backend = args.backend as unknown as WasmBackendLike;
      const $axis = tf.util.parseAxisParam(axis, x.shape)[0]!;
      const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, $axis);
      const [outer, along, inner] = around(x.shape, $axis);
      let start = 0;
      return sizes.map((size) => {
        const out = backend.makeOutput(x.shape.map((d, i) => (i === $axis ? size : d)), 'float32');
        if (outer * size * inner > 0) copyRows(backend.wasm.HEAPU8, heapOffset(backend, x) + 4 * start * inner, along * inner, heapOffset(backend, out), size * inner, outer, size * inner);
        start += size;
        return out;
      });
    });
    replace('Concat', (args) => {
      const inputs = args.inputs as unknown as tf.TensorInfo[];
      const { axis } = args.attrs as { axis: number | number[] };
      if (inputs.length === 0 || inputs.some((t) => t.dtype !== 'float32')) return null;
      const backend = args.backend as unknown as WasmBackendLike;
      const $axis = tf.util.parseAxisParam(axis, inputs[0]!.shape)[0]!;
      const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), $axis);
      const out = backend.makeOutput(outShape, 'float32');
      const [outer, along, inner] = around(outShape, $axis);
      let start = 0;
      for (const t of inputs) {
        const size = t.shape[$axis]!;
        if (outer * size * inner > 0) copyRows(backend.wasm.HEAPU8, heapOffset(backend, t), size * inner, heapOffset(backend, out) + 4 * start * inner, along * inner, outer, size * inner);
        start += size;
      }
      return out;
    });
  }
}
