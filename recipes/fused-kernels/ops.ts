/**
 * The core's ops on the native backend's fused kernels (harness/backends/nativeKernels.ts): the same arithmetic
 * as harness/ops.ts and harness/optim.ts, each forward and backward one kernel instead of a chain of them. The
 * `fused-kernels` recipe swaps these in where the backend has the kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { FUSED, runFused as run } from '../../harness/backends/nativeKernels.ts';
import type { Param } from '../../harness/model.ts';
import { customOp, LN_EPS, matMulAT, matMulBT, type Engine } from '../../harness/ops.ts';
import { decays, zerosStateLike, type OptimizerFactory } from '../../harness/optim.ts';

/** LayerNorm (gain, no bias): one kernel forward (keeping x̂ and 1/σ), one backward. */
export const fusedLayerNorm = customOp((x: tf.Tensor, gain: tf.Tensor) => {
  const [y, xhat, rstd] = run(FUSED.layerNorm, { x, gain }, { eps: LN_EPS });
  return {
    value: y!,
    saved: [xhat!, rstd!, gain],
    gradFunc: (dy: tf.Tensor, [xh, rs, g]: tf.Tensor[]) => run(FUSED.layerNormGrad, { dy, xhat: xh!, rstd: rs!, gain: g! }),
  };
}) as (x: tf.Tensor2D, gain: tf.Tensor1D) => tf.Tensor2D;

/**
 * Residual add + LayerNorm ("add & norm"): one kernel gives the new residual stream x + branch and its normalized
 * form. It has two outputs, which tf.customGrad cannot express, so the gradient is registered for the kernel, as
 * TF.js does for its own multi-output kernels: the backward kernel adds the gradient arriving on the stream to
 * LayerNorm's, so both addends get their gradient in one pass instead of a LayerNorm backward plus an Add.
 */
tf.registerGradient({
  kernelName: FUSED.addLayerNorm,
  inputsToSave: ['gain'],
  outputsToSave: [true, false],
  gradFunc: (dys, saved, attrs) => {
    const [dSum, dy] = dys as tf.Tensor[];
    const [gain, sum] = saved;
    const [dx, dGain] = run(FUSED.addLayerNormGrad, { dy: dy!, dSum: dSum!, sum: sum!, gain: gain! }, { eps: attrs.eps as number });
    // The engine accumulates (and later disposes) each input's gradient on its own: the second is a clone.
    return { x: () => dx!, branch: () => dx!.clone(), gain: () => dGain! };
  },
});

/** [x + branch, LayerNorm(x + branch)·gain]. */
export function fusedAddLayerNorm(x: tf.Tensor2D, branch: tf.Tensor2D, gain: tf.Tensor1D): [tf.Tensor2D, tf.Tensor2D] {
  const [sum, y] = run(FUSED.addLayerNorm, { x, branch, gain }, { eps: LN_EPS });
  return [sum as tf.Tensor2D, y as tf.Tensor2D];
}

/** GELU(x·W_fc)·W_proj with the GELU (forward and its slope) as one kernel each between the two sgemms. */
export function makeFusedGeluMlp(engine: Engine): (x: tf.Tensor2D, wFc: tf.Tensor2D, wProj: tf.Tensor2D) => tf.Tensor2D {
  return customOp((x: tf.Tensor, wFc: tf.Tensor, wProj: tf.Tensor) => {
    const a = tf.matMul(x as tf.Tensor2D, wFc as tf.Tensor2D); // [N, 4C]
    const [hidden] = run(FUSED.gelu, { a });
    return {
      saved: [x, wFc, wProj, a, hidden!],
      value: tf.matMul(hidden as tf.Tensor2D, wProj as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor, [xs, wf, wp, as, hs]: tf.Tensor[]) => {
        const [dA] = run(FUSED.geluGrad, { dh: matMulBT(engine, dy, wp!), a: as! });
        return [matMulBT(engine, dA!, wf!), matMulAT(engine, xs!, dA!), matMulAT(engine, hs!, dy)];
      },
    };
  }) as (x: tf.Tensor2D, wFc: tf.Tensor2D, wProj: tf.Tensor2D) => tf.Tensor2D;
}

/**
 * Causal attention on q, k, v [B, T, H, hs] as one kernel forward (per head: sgemm, masked softmax, sgemm, on
 * strided views, so no transposes) and one backward; it keeps the probabilities [B, H, T, T].
 */
export function fusedAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number): tf.Tensor4D {
  const op = customOp((qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor) => {
    const [out, probs] = run(FUSED.attention, { q: qi, k: ki, v: vi }, { scale });
    return {
      value: out!,
      saved: [qi, ki, vi, probs!],
      gradFunc: (dOut: tf.Tensor, [qs, ks, vs, p]: tf.Tensor[]) => run(FUSED.attentionGrad, { dOut, q: qs!, k: ks!, v: vs!, probs: p! }, { scale }),
    };
  });
  return op(q, k, v) as tf.Tensor4D;
}

/** Softmax + cross-entropy: one kernel gives the mean loss and its gradient; the backward pass only scales it. */
export const fusedCrossEntropy = customOp((logits: tf.Tensor, targets: tf.Tensor) => {
  const [loss, grad] = run(FUSED.crossEntropy, { logits, targets });
  return {
    value: loss!,
    saved: [grad!, targets],
    gradFunc: (dy: tf.Tensor, [g, tg]: tf.Tensor[]) => [tf.mul(g!, dy), tf.zerosLike(tg!)],
  };
}) as (logits: tf.Tensor2D, targets: tf.Tensor1D) => tf.Scalar;

/**
 * AdamW as harness/optim.ts's, with global-norm clipping folded in: one kernel sums every gradient's squares, and
 * one kernel updates every parameter, moment and variance (multi-tensor, like PyTorch's fused AdamW).
 */
export const fusedAdamW: OptimizerFactory = (params, train) => {
  const slots: { p: Param; m: tf.Variable; v: tf.Variable }[] = [...params.values()].map((p) => ({
    p,
    m: zerosStateLike(p.variable),
    v: zerosStateLike(p.variable),
  }));
  let t = 0;
  const update = (grads: Record<string, tf.Tensor>, lrFactor: number, gradScale: tf.Scalar): void => {
    t += 1;
    const lr = train.lr * lrFactor;
    const present = slots.filter((s) => grads[s.p.name] !== undefined);
    const inputs: tf.NamedTensorMap = { gradScale };
    present.forEach((s, i) => Object.assign(inputs, { [`p${i}`]: s.p.variable, [`g${i}`]: grads[s.p.name]!, [`m${i}`]: s.m, [`v${i}`]: s.v }));
    const attrs = {
      lr,
      beta1: train.beta1,
      beta2: train.beta2,
      c1: 1 - train.beta1 ** t,
      c2: 1 - train.beta2 ** t,
      eps: train.eps,
      decayFactors: present.map((s) => (decays(s.p) && train.weightDecay > 0 ? 1 - lr * train.weightDecay : 1)),
    };
    const outputs = run(FUSED.adamW, inputs, attrs);
    present.forEach((s, i) => {
      s.p.variable.assign(outputs[3 * i]!);
      s.m.assign(outputs[3 * i + 1]!);
      s.v.assign(outputs[3 * i + 2]!);
    });
  };
  return {
    name: 'adamw (fused)',
    step: (grads, lrFactor) => tf.tidy(() => update(grads, lrFactor, tf.scalar(1))),
    clipAndStep(grads, lrFactor, maxNorm) {
      const norm = tf.sqrt(run(FUSED.sumOfSquares, { ...grads })[0]!) as tf.Scalar;
      tf.tidy(() => update(grads, lrFactor, maxNorm > 0 ? tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6))) : tf.scalar(1)));
      return norm;
    },
    stateTensors: () => slots.flatMap((s) => [s.m, s.v]),
    dispose: () => slots.forEach((s) => (s.m.dispose(), s.v.dispose())),
  };
};
