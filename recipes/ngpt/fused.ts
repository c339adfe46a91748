/**
 * nGPT's ops (./index.ts's `NgptOps`) on the native backend's fused kernels (native/ngpt.c): each forward and
 * each backward one kernel instead of a chain of TF.js broadcasts, reductions, splits and concats and their
 * autodiff. The same arithmetic as `referenceOps`; tests compare the two, forward and gradients.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NGPT_FUSED, runFused as run } from '../../harness/backends/nativeKernels.ts';
import type { ParamTable } from '../../harness/model.ts';
import { customOp } from '../../harness/ops.ts';

/** Norm(h + α ⊙ (Norm(b) − h)) on rows [N, C], α [C]. */
export const fusedResidual = customOp((h: tf.Tensor, b: tf.Tensor, alpha: tf.Tensor) => {
  const [y, bn, rb, rz] = run(NGPT_FUSED.residual, { h, b, alpha });
  return {
    value: y!,
    saved: [y!, rz!, h, bn!, rb!, alpha],
    gradFunc: (dy: tf.Tensor, [ys, rzs, hs, bns, rbs, as]: tf.Tensor[]) =>
      run(NGPT_FUSED.residualGrad, { dy, y: ys!, rz: rzs!, h: hs!, bn: bns!, rb: rbs!, alpha: as! }),
  };
}) as (h: tf.Tensor2D, b: tf.Tensor2D, alpha: tf.Tensor1D) => tf.Tensor2D;

/** Norm(rotary(x)) ⊙ s for queries or keys [B, T, H, hs], s [H·hs]; the tables are constants (no gradient). */
export function fusedQueryKey(x: tf.Tensor4D, cos: tf.Tensor3D, sin: tf.Tensor3D, s: tf.Tensor1D): tf.Tensor4D {
  const op = customOp((xi: tf.Tensor, si: tf.Tensor) => {
    const [y, n, r] = run(NGPT_FUSED.queryKey, { x: xi, cos, sin, s: si });
    return {
      value: y!,
      saved: [n!, r!, si],
      gradFunc: (dy: tf.Tensor, [ns, rs, ss]: tf.Tensor[]) => run(NGPT_FUSED.queryKeyGrad, { dy, n: ns!, r: rs!, cos, sin, s: ss! }),
    };
  });
  return op(x, s) as tf.Tensor4D;
}

/** u ⊙ silu(v) with [u, v] = a ⊙ s, a [N, 2W], s [2W]. */
export const fusedSwiglu = customOp((a: tf.Tensor, s: tf.Tensor) => ({
  value: run(NGPT_FUSED.swiglu, { a, s })[0]!,
  saved: [a, s],
  gradFunc: (dh: tf.Tensor, [as, ss]: tf.Tensor[]) => run(NGPT_FUSED.swigluGrad, { dh, a: as!, s: ss! }),
})) as (a: tf.Tensor2D, s: tf.Tensor1D) => tf.Tensor2D;

/** Every listed matrix to unit length along its axis, in one kernel call. */
export function fusedNormalizeMatrices(params: ParamTable, modelAxis: (name: string) => 0 | 1 | undefined): void {
  const matrices = [...params.values()].flatMap((p) => {
    const axis = modelAxis(p.name);
    return axis === undefined ? [] : [{ p, axis }];
  });
  tf.tidy(() => {
    const inputs = Object.fromEntries(matrices.map(({ p }, i) => [`x${i}`, p.variable]));
    const outputs = run(NGPT_FUSED.unitNormMatrices, inputs, { axes: matrices.map((m) => m.axis) });
    matrices.forEach(({ p }, i) => p.variable.assign(outputs[i]!));
  });
}
