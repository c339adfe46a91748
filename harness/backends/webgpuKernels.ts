/**
 * Fused WGSL kernels for the webgpu backend, registered as TF.js kernels and run by the backend's own program
 * runner (backend.runWebGPUProgram, which supplies the shape uniforms and the getX/setOutput helpers).
 *
 * Causal softmax of attention scores, forward and backward, each one dispatch instead of five to seven:
 *   forward  P[r, c] = softmax_c(scale · S[r, c] + mask)      mask: key c after query (r mod T) -> excluded
 *   backward dS[r, c] = scale · P[r, c] · (dP[r, c] − Σ_c' P[r, c'] dP[r, c'])
 * One workgroup per row reduces in workgroup memory (the same layout as TF.js's own Softmax program).
 */
import * as tf from '@tensorflow/tfjs-core';

export const CAUSAL_SOFTMAX = 'SpeedrunCausalSoftmax';
export const CAUSAL_SOFTMAX_GRAD = 'SpeedrunCausalSoftmaxGrad';

const BLOCK = 64;

/** The subset of TF.js's WebGPUProgram interface these kernels fill in. */
interface RowProgram {
  variableNames: string[];
  outputShape: number[];
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  uniforms: string;
  shaderKey: string;
  getUserCode(): string;
}

function rowProgram(name: string, inputs: string[], rows: number, cols: number, body: string): RowProgram {
  return {
    variableNames: inputs,
    outputShape: [rows, cols],
    dispatchLayout: { x: [0, 1] },
    dispatch: [rows, 1, 1],
    workgroupSize: [BLOCK, 1, 1],
    uniforms: 'scale : f32, seqLen : i32,',
    shaderKey: name,
    getUserCode: () => `
    var<workgroup> buf : array<f32, ${BLOCK}>;
    var<workgroup> shared0 : f32;
    var<workgroup> shared1 : f32;
    const blockSize = ${BLOCK};
    fn main(index : i32) {
      let row = index / blockSize;
      let tid = i32(localId.x);
      let cols = uniforms.outShape[1];
      let last = row % uniforms.seqLen; // the query's position: keys after it are masked
      ${body}
    }`,
  };
}

/** Tree reduction of buf[0..BLOCK) into buf[0] with op (max or +). */
const reduce = (op: string) => `
      workgroupBarrier();
      for (var size = blockSize >> 1; size > 0; size = size >> 1) {
        if (tid < size) { buf[tid] = ${op}; }
        workgroupBarrier();
      }`;

const FORWARD = `
      var m = -3.402823e+38f;
      for (var c = tid; c <= last && c < cols; c += blockSize) { m = max(m, getLogits(row, c) * uniforms.scale); }
      buf[tid] = m;
      ${reduce('max(buf[tid], buf[tid + size])')}
      if (tid == 0) { shared0 = buf[0]; }
      workgroupBarrier();
      var s = 0.0;
      for (var c = tid; c <= last && c < cols; c += blockSize) { s += exp(getLogits(row, c) * uniforms.scale - shared0); }
      buf[tid] = s;
      ${reduce('buf[tid] + buf[tid + size]')}
      if (tid == 0) { shared1 = buf[0]; }
      workgroupBarrier();
      for (var c = tid; c < cols; c += blockSize) {
        var p = 0.0;
        if (c <= last) { p = exp(getLogits(row, c) * uniforms.scale - shared0) / shared1; }
        setOutputAtCoords(row, c, p);
      }`;

const BACKWARD = `
      var d = 0.0;
      for (var c = tid; c <= last && c < cols; c += blockSize) { d += getProbs(row, c) * getDprobs(row, c); }
      buf[tid] = d;
      ${reduce('buf[tid] + buf[tid + size]')}
      if (tid == 0) { shared0 = buf[0]; }
      workgroupBarrier();
      for (var c = tid; c < cols; c += blockSize) {
        setOutputAtCoords(row, c, uniforms.scale * getProbs(row, c) * (getDprobs(row, c) - shared0));
      }`;

interface WebGPUBackendLike {
  runWebGPUProgram(program: RowProgram, inputs: tf.TensorInfo[], dtype: 'float32', uniforms: { type: string; data: number[] }[]): tf.TensorInfo;
}

function run(name: string, body: string, inputNames: string[]) {
  return ({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo => {
    const tensors = inputNames.map((n) => inputs[n]!);
    const shape = tensors[0]!.shape;
    const cols = shape.at(-1)!;
    const rows = tf.util.sizeFromShape(shape) / cols;
    const program = rowProgram(name, inputNames, rows, cols, body);
    const uniforms = [
      { type: 'float32', data: [attrs!.scale as number] },
      { type: 'int32', data: [attrs!.seqLen as number] },
    ];
    // A [rows, cols] view of the same data: the program indexes rows; the caller reshapes back.
    const flat = tensors.map((t) => ({ ...t, shape: [rows, cols] }));
    return (backend as WebGPUBackendLike).runWebGPUProgram(program, flat, 'float32', uniforms);
  };
}

let registered = false;

/** Registers the fused kernels for webgpu (idempotent). */
export function registerWebgpuKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({ kernelName: CAUSAL_SOFTMAX, backendName: 'webgpu', kernelFunc: run('speedrunCausalSoftmax', FORWARD, ['logits']) as tf.KernelFunc });
  tf.registerKernel({ kernelName: CAUSAL_SOFTMAX_GRAD, backendName: 'webgpu', kernelFunc: run('speedrunCausalSoftmaxGrad', BACKWARD, ['probs', 'dprobs']) as tf.KernelFunc });
}

export const hasFusedAttention = (backendName: string): boolean => tf.getKernel(CAUSAL_SOFTMAX, backendName) !== undefined;

/** softmax(scale · scores + causal mask) over the last axis of [..., T, T], fused, with its fused gradient. */
export const fusedCausalSoftmax = (scores: tf.Tensor, scale: number): tf.Tensor => {
  const seqLen = scores.shape.at(-1)!;
  const op = tf.customGrad(((s: tf.Tensor, save: tf.GradSaveFunc) => {
    const probs = tf.reshape(tf.engine().runKernel(CAUSAL_SOFTMAX, { logits: s }, { scale, seqLen }) as tf.Tensor, s.shape);
    save([probs]);
    return {
      value: probs,
      gradFunc: (dy: tf.Tensor, [p]: tf.Tensor[]) =>
        tf.reshape(tf.engine().runKernel(CAUSAL_SOFTMAX_GRAD, { probs: p!, dprobs: dy }, { scale, seqLen }) as tf.Tensor, dy.shape),
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return op(scores) as tf.Tensor;
};
