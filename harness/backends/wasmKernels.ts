/**
 * Replacements for five tfjs-backend-wasm 4.22 kernels that copy more than they need to, or copy slowly.
 *
 * GatherV2 (the embedding lookup) copies element by element through generic 4-D index arithmetic: 8.4 ms to
 * gather 768 rows of 128 floats here (11 ns per element). Row by row with typed-array copies it is ~0.1 ms.
 *
 * Identity (TF.js's `clone`) copies the whole tensor on wasm. The engine clones every tensor a custom gradient
 * saves and every input a kernel keeps for its gradient, ~120 times per nano step (8 ms of copies on native).
 * Tensors are immutable, so the clone shares the data and counts one more reference, as the cpu backend does.
 *
 * Slice: Its kernel starts with `backend.readSync(x)`, which copies the
 * *whole* input out of the wasm heap (a SharedArrayBuffer in the threaded build, where that copy is slow) before
 * taking the slice: `tf.split` of a [768, 384] tensor into 3 parts copies it 3 times, and splitting a batch into
 * its 12 sequences copied 12 x 1.5 MB (measured 5 ms per split, where the data moved is 0.1 ms of memcpy).
 * This one reads through a view of the heap instead. It handles float32/int32 slices that are contiguous, rank
 * 2, or cut along one axis (rotary's halves of [B, T, H, hs]: 0.9 ms a split before); anything else goes to the
 * original kernel.
 *
 * Concat (and Slice's rank-2 path) move rows with `copyWithin` on one view of the whole heap: a typed-array
 * `set` of a fresh `subarray` per row costs ~100 ns of allocation each; concatenating three [768, 128] gradients
 * into [768, 384] (every attention block's backward pass) went from 0.45 to ~0.05 ms.
 */
import * as tf from '@tensorflow/tfjs-core';

interface WasmBackendViews {
  incRef(dataId: object): void;
  disposeData(dataId: object): boolean;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

let installed = false;

/**
 * Copies `rows` rows of `cols` 4-byte elements between two tensors' heap views (bit-exact, float32 or int32),
 * row r from source element `from + r * fromStride` to target element `to + r * toStride`.
 */
function copyRows(source: ArrayBufferView, from: number, fromStride: number, target: ArrayBufferView, to: number, toStride: number, rows: number, cols: number): void {
  const heap = new Int32Array(target.buffer); // one view of the whole heap: copyWithin is a memmove in it
  const s = source.byteOffset / 4 + from;
  const t = target.byteOffset / 4 + to;
  for (let r = 0; r < rows; r++) heap.copyWithin(t + r * toStride, s + r * fromStride, s + r * fromStride + cols);
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

export function useFasterWasmKernels(): void {
  if (installed) return;
  const originalIdentity = tf.getKernel('Identity', 'wasm');
  if (!originalIdentity) throw new Error('the wasm backend has no Identity kernel to replace');
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      if (x.dtype === 'string') return originalIdentity.kernelFunc(args);
      (args.backend as unknown as WasmBackendViews).incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    },
  });
  const originalGather = tf.getKernel('GatherV2', 'wasm');
  if (!originalGather) throw new Error('the wasm backend has no GatherV2 kernel to replace');
  tf.unregisterKernel('GatherV2', 'wasm');
  tf.registerKernel({
    kernelName: 'GatherV2',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
      const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
      if (batchDims !== 0 || (x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32') return originalGather.kernelFunc(args);
      const [gatherAxis] = tf.util.parseAxisParam(axis, x.shape) as [number];
      const outer = tf.util.sizeFromShape(x.shape.slice(0, gatherAxis));
      const dim = x.shape[gatherAxis]!;
      const rowSize = tf.util.sizeFromShape(x.shape.slice(gatherAxis + 1));
      const backend = args.backend as unknown as WasmBackendViews;
      const count = tf.util.sizeFromShape(indices.shape);
      const out = backend.makeOutput([...x.shape.slice(0, gatherAxis), ...indices.shape, ...x.shape.slice(gatherAxis + 1)], x.dtype);
      const index = backend.typedArrayFromHeap(indices);
      const source = backend.typedArrayFromHeap(x);
      const target = backend.typedArrayFromHeap(out);
      for (let i = 0; i < count; i++) {
        const at = index[i]!;
        if (!(at >= 0 && at < dim)) {
          backend.disposeData(out.dataId);
          throw new Error(`GatherV2: the index value ${at} is not in [0, ${dim - 1}]`);
        }
      }
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < count; i++) {
          const from = (o * dim + index[i]!) * rowSize;
          target.set(source.subarray(from, from + rowSize), (o * count + i) * rowSize);
        }
      }
      return out;
    },
  });
  const originalSlice = tf.getKernel('Slice', 'wasm');
  const originalSplit = tf.getKernel('SplitV', 'wasm');
  if (!originalSlice || !originalSplit) throw new Error('the wasm backend has no Slice or SplitV kernel to replace');
  const slice = (x: tf.TensorInfo, begin: number | number[], size: number | number[], args: KernelArgs): tf.TensorInfo => {
    const [start, extent] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    const contiguous = tf.slice_util.isSliceContinous(x.shape, start, extent);
    // Cut along one axis only (splitting heads' halves, [B, T, H, hs] on its last axis): rank 2 seen as rows.
    const cutAxes = x.shape.flatMap((d, axis) => (extent[axis] !== d ? [axis] : []));
    const oneAxis = cutAxes.length === 1;
    if ((x.dtype !== 'float32' && x.dtype !== 'int32') || !(contiguous || x.shape.length === 2 || oneAxis)) {
      return originalSlice.kernelFunc({ ...args, inputs: { x }, attrs: { begin: start, size: extent } }) as tf.TensorInfo;
    }
    const backend = args.backend as unknown as WasmBackendViews;
    const out = backend.makeOutput(extent, x.dtype);
    // Views are taken after makeOutput: allocating may grow (and replace) the heap's buffer.
    const source = backend.typedArrayFromHeap(x);
    const target = backend.typedArrayFromHeap(out);
    if (contiguous) {
      const offset = tf.slice_util.computeFlatOffset(start, tf.util.computeStrides(x.shape));
      target.set(source.subarray(offset, offset + target.length));
      return out;
    }
    if (x.shape.length === 2) {
      const [rows, cols] = extent as [number, number];
      const width = x.shape[1]!;
      copyRows(source, start[0]! * width + start[1]!, width, target, 0, cols, rows, cols);
      return out;
    }
    const axis = cutAxes[0]!;
    const inner = tf.util.sizeFromShape(x.shape.slice(axis + 1));
    const rows = tf.util.sizeFromShape(x.shape.slice(0, axis));
    const cols = extent[axis]! * inner;
    copyRows(source, start[axis]! * inner, x.shape[axis]! * inner, target, 0, cols, rows, cols);
    return out;
  };
  tf.unregisterKernel('Slice', 'wasm');
  tf.registerKernel({
    kernelName: 'Slice',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
      return slice((args.inputs as { x: tf.TensorInfo }).x, begin, size, args);
    },
  });
  // wasm's SplitV calls its own Slice function directly, so it is replaced too (same arithmetic as upstream).
  tf.unregisterKernel('SplitV', 'wasm');
  tf.registerKernel({
    kernelName: 'SplitV',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
      const [splitAxis] = tf.util.parseAxisParam(axis, x.shape) as [number];
      const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, splitAxis);
      const begin = x.shape.map(() => 0);
      return sizes.map((s) => {
        const size = [...x.shape];
        size[splitAxis] = s;
        const piece = slice(x, [...begin], size, args);
        begin[splitAxis]! += s;
        return piece;
      });
    },
  });
  const originalConcat = tf.getKernel('Concat', 'wasm');
  if (!originalConcat) throw new Error('the wasm backend has no Concat kernel to replace');
  tf.unregisterKernel('Concat', 'wasm');
  tf.registerKernel({
    kernelName: 'Concat',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const inputs = Object.values(args.inputs) as tf.TensorInfo[];
      const dtype = inputs[0]?.dtype;
      if ((dtype !== 'float32' && dtype !== 'int32') || inputs.some((t) => t.dtype !== dtype)) return originalConcat.kernelFunc(args);
      const [axis] = tf.util.parseAxisParam((args.attrs as unknown as { axis: number }).axis, inputs[0]!.shape) as [number];
      tf.backend_util.assertParamsConsistent(inputs.map((t) => t.shape), axis);
      const backend = args.backend as unknown as WasmBackendViews;
      const out = backend.makeOutput(tf.backend_util.computeOutShape(inputs.map((t) => t.shape), axis), dtype);
      // As upstream: every concat is one of rank-2 [outer, inner] blocks along axis 1.
      const outer = tf.util.sizeFromShape(inputs[0]!.shape.slice(0, axis));
      const widths = inputs.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
      const total = widths.reduce((a, b) => a + b, 0);
      const target = backend.typedArrayFromHeap(out);
      let column = 0;
      inputs.forEach((t, i) => {
        if (widths[i]! > 0) copyRows(backend.typedArrayFromHeap(t), 0, widths[i]!, target, column, total, outer, widths[i]!);
        column += widths[i]!;
      });
      return out;
    },
  });
  installed = true;
}
