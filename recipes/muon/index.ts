/**
 * muon — MomentUm Orthogonalized by Newton-Schulz, for the hidden 2-D matrices: Nesterov momentum (0.95,
 * warmed up from 0.85 over the first 300 steps), then the update is replaced by the nearest semi-orthogonal
 * matrix via 5 steps of a quintic Newton-Schulz iteration, scaled by √max(1, rows/cols). Embeddings, the head
 * and the gains keep AdamW. Source: Keller Jordan, "Muon" (github.com/KellerJordan/Muon, 2024);
 * modded-nanogpt records of 2024-10 (1.26x, then 1.12x).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Param } from '../../harness/model.ts';
import { combineOptimizers, zerosStateLike, type Optimizer, type OptimizerFactory } from '../../harness/optim.ts';
import type { Recipe } from '../../harness/recipe.ts';
import { hasKernel, MUON_UPDATE, nativeHas, runFused } from '../../harness/backends/nativeKernels.ts';

const NS_COEFFICIENTS = [3.4445, -4.775, 2.0315] as const;

/**
 * Approximately orthogonalizes g: X = g/‖g‖_F (transposed to be wide), then 5 times
 * A = X Xᵀ, B = bA + cA², X = aX + BX. Singular values end up in roughly [0.68, 1.13].
 */
export function newtonSchulz5(g: tf.Tensor2D, steps = 5): tf.Tensor2D {
  return tf.tidy(() => {
    const [a, b, c] = NS_COEFFICIENTS;
    const tall = g.shape[0] > g.shape[1];
    let x = tf.div(g, tf.add(tf.norm(g), 1e-7)) as tf.Tensor2D;
    if (tall) x = tf.transpose(x);
    for (let i = 0; i < steps; i++) {
      const A = tf.matMul(x, tf.transpose(x));
      const B = tf.add(tf.mul(A, b), tf.mul(tf.matMul(A, A), c));
      x = tf.add(tf.mul(x, a), tf.matMul(B, x));
    }
    return tall ? tf.transpose(x) : x;
  });
}

/**
 * One matrix's Muon step from its gradient and momentum buffer: buffer' = μ·buffer + g, the Nesterov direction
 * g + μ·buffer', orthogonalized, times lrScale off the weights. Returns [p', buffer'].
 */
export type MuonStep = (p: tf.Tensor2D, g: tf.Tensor2D, buffer: tf.Tensor2D, mu: number, lrScale: number) => [tf.Tensor2D, tf.Tensor2D];

export const referenceMuonStep: MuonStep = (p, g, buffer, mu, lrScale) => {
  const next = tf.add(tf.mul(buffer, mu), g) as tf.Tensor2D;
  const nesterov = tf.add(g, tf.mul(next, mu)) as tf.Tensor2D;
  return [tf.sub(p, tf.mul(newtonSchulz5(nesterov), lrScale)) as tf.Tensor2D, next];
};

/** The same step as one native call (native/muon.c): fifteen sgemms and three passes over the matrix. */
export const fusedMuonStep: MuonStep = (p, g, buffer, mu, lrScale) =>
  runFused(MUON_UPDATE, { p, g, buffer }, { mu, lrScale, steps: 5 }) as [tf.Tensor2D, tf.Tensor2D];

export interface MuonOptions {
  lr: number;
  momentum: number;
  momentumWarmupFrom: number;
  momentumWarmupSteps: number;
}

export const MUON_DEFAULTS: MuonOptions = { lr: 0.02, momentum: 0.95, momentumWarmupFrom: 0.85, momentumWarmupSteps: 300 };

export const isHiddenMatrix = (p: Param): boolean => p.group === 'matrix' && p.shape.length === 2;

export function muonOptimizer(params: Param[], options: MuonOptions): Optimizer {
  const buffers = new Map(params.map((p) => [p.name, zerosStateLike(p.variable)]));
  let t = 0;
  const muonStep = hasKernel(MUON_UPDATE) ? fusedMuonStep : referenceMuonStep;
  return {
    name: 'muon',
    step(grads, lrFactor) {
      const progress = Math.min(1, t / options.momentumWarmupSteps);
      const mu = options.momentumWarmupFrom + progress * (options.momentum - options.momentumWarmupFrom);
      t += 1;
      for (const p of params) {
        const g = grads[p.name];
        if (!g) continue;
        tf.tidy(() => {
          const buffer = buffers.get(p.name)!;
          // TF.js kernels are [in, out]; Muon's rows/cols are PyTorch's [out, in].
          const [fanIn, fanOut] = p.shape as [number, number];
          const scale = Math.sqrt(Math.max(1, fanOut / fanIn));
          const [next, nextBuffer] = muonStep(p.variable as tf.Tensor2D, g as tf.Tensor2D, buffer as tf.Tensor2D, mu, options.lr * lrFactor * scale);
          buffer.assign(nextBuffer);
          p.variable.assign(next);
        });
      }
    },
    stateTensors: () => [...buffers.values()],
    dispose: () => buffers.forEach((b) => b.dispose()),
  };
}

export function muonRecipe(options: MuonOptions = MUON_DEFAULTS): Recipe {
  return {
    name: 'muon',
    description: 'Muon (Newton-Schulz orthogonalized momentum) for hidden matrices, AdamW for the rest',
    source: 'Keller Jordan, Muon (github.com/KellerJordan/Muon); modded-nanogpt records of 2024-10',
    notes: (backend) =>
      nativeHas(backend, MUON_UPDATE)
        ? ['fused on native: momentum + Newton-Schulz + step, one call per matrix']
        : backend.name === 'native'
          ? ["not fused on this native build (Muon's fused update is fifteen OpenBLAS sgemms: apt-get install libopenblas-dev, then npm run build:native): Newton-Schulz runs as TF.js kernels"]
          : [`not fused on ${backend.name} (a fused update exists for native): Newton-Schulz runs as TF.js kernels`],
    optimizer: (previous: OptimizerFactory): OptimizerFactory => (table, train) => {
      const hidden = [...table.values()].filter(isHiddenMatrix);
      const rest = new Map([...table].filter(([, p]) => !isHiddenMatrix(p)));
      return combineOptimizers([muonOptimizer(hidden, options), previous(rest, train)]);
    },
  };
}

