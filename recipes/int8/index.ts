/**
 * int8 — the forward products of the head and of the MLP's down projection in 8-bit integers, with per-tensor
 * delayed scaling (./scaling.ts); master weights, gradients and optimizer state stay fp32.
 * Source: modded-nanogpt's FP8 head and MLP down projection (its records from late 2024 on), FP8 training's
 * delayed scaling (Micikevicius et al., arXiv 2209.05433), integer-arithmetic training and inference (Jacob et
 * al., arXiv 1712.05877). On x86 the 8-bit path is integer: oneDNN's s8·s8 → s32 matmul (native/int8.c).
 *
 * - Forward: x and w are quantized with scales from their amax histories (in the same pass that measures this
 *   step's amax), multiplied in int8, and leave as fp32 through the output scale.
 * - Backward: fp32 on the unquantized operands (straight-through), as FP8 recipes keep for the weight gradient.
 * - A product goes to int8 only where int8 is faster here: the recipe times both at the run's shapes (outside the
 *   clock, when the run is planned: autotuning, as cuDNN's benchmark mode does) and keeps fp32 where int8 loses,
 *   and says which. `int8:force=1` uses int8 regardless (for accuracy checks).
 */
import * as tf from '@tensorflow/tfjs-core';
import { FUSED, hasKernel, INT8_LINEAR, int8WeightRange, runFused as run } from '../../harness/backends/nativeKernels.ts';
import type { BackendInfo } from '../../harness/backends/index.ts';
import type { RunConfig } from '../../harness/config.ts';
import { blockParam, type GPTParts } from '../../harness/model.ts';
import { customOp, matMulAT, matMulBT, type Engine } from '../../harness/ops.ts';
import type { Recipe } from '../../harness/recipe.ts';
import { median } from '../../harness/stats.ts';
import { AmaxHistory, scaleFor } from './scaling.ts';

/** One quantized operand pair's scale state: x's and w's amax histories. */
export interface ProductScales {
  x: AmaxHistory;
  w: AmaxHistory;
}

const newScales = (): ProductScales => ({ x: new AmaxHistory(), w: new AmaxHistory() });

const amaxOf = (t: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]!);

/**
 * x·w (or x·wᵀ when `transposed`, w stored [cols, inner]) in int8 with delayed scaling: the scales come from the
 * histories (from the operand itself before there is one), and the amax the kernel measured is recorded.
 */
export function int8Product(x: tf.Tensor2D, w: tf.Tensor2D, transposed: boolean, scales: ProductScales): tf.Tensor2D {
  const scaleX = scales.x.scale() ?? scaleFor(amaxOf(x));
  const scaleW = scales.w.scale() ?? scaleFor(amaxOf(w));
  const [out, amax] = run(INT8_LINEAR, { x, w }, { transposed: transposed ? 1 : 0, scaleX, scaleW });
  const [ax, aw] = amax!.dataSync();
  amax!.dispose();
  scales.x.record(ax!);
  scales.w.record(aw!);
  return out as tf.Tensor2D;
}

/** Tied head: logits = h·wteᵀ in int8 (wte read as stored, no transpose); fp32 gradients. */
export function int8Head(engine: Engine, scales: ProductScales): (h: tf.Tensor2D, wte: tf.Tensor2D) => tf.Tensor2D {
  return customOp((h: tf.Tensor, wte: tf.Tensor) => ({
    value: int8Product(h as tf.Tensor2D, wte as tf.Tensor2D, true, scales),
    saved: [h, wte],
    gradFunc: (dy: tf.Tensor, [hs, ws]: tf.Tensor[]) => [tf.matMul(dy, ws!), matMulAT(engine, dy, hs!)],
  })) as (h: tf.Tensor2D, wte: tf.Tensor2D) => tf.Tensor2D;
}

/**
 * GELU(x·W_fc)·W_proj with the down projection in int8 (null scales: in fp32), the GELU on native's fused
 * kernels as `fused-kernels` runs it (this recipe owns the MLP part, so it fuses it too); fp32 gradients.
 */
export function int8Mlp(engine: Engine, scales: ProductScales | null): (x: tf.Tensor2D, wFc: tf.Tensor2D, wProj: tf.Tensor2D) => tf.Tensor2D {
  return customOp((x: tf.Tensor, wFc: tf.Tensor, wProj: tf.Tensor) => {
    const a = tf.matMul(x as tf.Tensor2D, wFc as tf.Tensor2D); // [N, 4C]
    const [hidden] = run(FUSED.gelu, { a });
    return {
      saved: [x, wFc, wProj, a, hidden!],
      value: scales ? int8Product(hidden as tf.Tensor2D, wProj as tf.Tensor2D, false, scales) : tf.matMul(hidden as tf.Tensor2D, wProj as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor, [xs, wf, wp, as, hs]: tf.Tensor[]) => {
        const [dA] = run(FUSED.geluGrad, { dh: matMulBT(engine, dy, wp!), a: as! });
        return [matMulBT(engine, dA!, wf!), matMulAT(engine, xs!, dA!), matMulAT(engine, hs!, dy)];
      },
    };
  }) as (x: tf.Tensor2D, wFc: tf.Tensor2D, wProj: tf.Tensor2D) => tf.Tensor2D;
}

/** A product's shape: rows × inner × cols, and whether w is stored transposed. */
export interface Shape {
  rows: number;
  inner: number;
  cols: number;
  transposed: boolean;
}

const shapeKey = (s: Shape) => `${s.rows}×${s.inner}×${s.cols}${s.transposed ? 'ᵀ' : ''}`;

/** int8's speed over the core's fp32 product at each shape, measured once per process (planning and training agree). */
const speedups = new Map<string, number>();

/** Median times (ms) of the core's fp32 product and of int8 (quantization included) at a shape, A B A B. */
export function timeProducts(shape: Shape, reps = 9): { fp32Ms: number; int8Ms: number } {
  const x = tf.randomNormal([shape.rows, shape.inner]) as tf.Tensor2D;
  const w = tf.randomNormal(shape.transposed ? [shape.cols, shape.inner] : [shape.inner, shape.cols], 0, 0.05) as tf.Tensor2D;
  const scales = newScales();
  const fp32 = () => tf.tidy(() => void (shape.transposed ? tf.matMul(x, tf.transpose(w)) : tf.matMul(x, w))); // wasm kernels are synchronous: done on return
  const int8 = () => tf.tidy(() => void int8Product(x, w, shape.transposed, scales));
  const time = (f: () => unknown) => {
    const times: number[] = [];
    for (let i = 0; i < reps + 2; i++) {
      const start = performance.now();
      f();
      if (i >= 2) times.push(performance.now() - start);
    }
    return median(times);
  };
  const [a1, b1, a2, b2] = [time(fp32), time(int8), time(fp32), time(int8)]; // drift between them cancels
  x.dispose();
  w.dispose();
  return { fp32Ms: (a1 + a2) / 2, int8Ms: (b1 + b2) / 2 };
}

/** int8's speed over fp32 at a shape (fp32 time ÷ int8 time), measured once per process. */
export function measureSpeedup(shape: Shape): number {
  const key = shapeKey(shape);
  const known = speedups.get(key);
  if (known !== undefined) return known;
  const { fp32Ms, int8Ms } = timeProducts(shape);
  speedups.set(key, fp32Ms / int8Ms);
  return fp32Ms / int8Ms;
}

/** The products this recipe may move to int8, at a run's configuration (per micro-batch). */
function products(config: RunConfig): { name: string; shape: Shape }[] {
  const rows = config.train.batchSize * config.model.blockSize;
  const C = config.model.nEmbd;
  return [
    { name: 'head', shape: { rows, inner: C, cols: config.model.vocabSize, transposed: true } },
    { name: 'MLP down projection', shape: { rows, inner: 4 * C, cols: C, transposed: false } },
  ];
}

export function int8Recipe(options: { force?: number } = {}): Recipe {
  const force = options.force === 1;
  let planned: RunConfig | undefined;
  const useInt8 = (shape: Shape) => force || measureSpeedup(shape) > 1;
  return {
    name: 'int8',
    ...(options.force !== undefined ? { options: { force: options.force } } : {}),
    description: 'forward products of the head and the MLP down projection in int8 (oneDNN s8·s8), delayed per-tensor scaling, fp32 master weights',
    source: "modded-nanogpt's FP8 head and MLP; FP8 delayed scaling (arXiv 2209.05433); integer-arithmetic training (arXiv 1712.05877)",
    replaces: ['mlp', 'logits'],
    config: (config) => {
      planned = config;
      return config;
    },
    notes: (backend: BackendInfo) => {
      if (backend.name !== 'native' || !hasKernel(INT8_LINEAR, backend.tfjsBackend)) {
        return [`int8: no int8 products on backend ${backend.name} (they need native built with oneDNN: apt-get install libdnnl-dev, then npm run build:native); this run is the same as without the recipe`];
      }
      if (!planned) return [];
      const lines = products(planned).map(({ name, shape }) => {
        const speedup = measureSpeedup(shape);
        const verdict = force || speedup > 1 ? 'int8' : 'stays fp32';
        return `${name} ${shapeKey(shape)}: int8 ${speedup.toFixed(2)}x the fp32 product here, ${verdict}`;
      });
      const none = !force && products(planned).every(({ shape }) => measureSpeedup(shape) <= 1);
      const bits = int8WeightRange() === 127 ? '8-bit weights (VNNI)' : '7-bit weights (no VNNI: ±63 keeps vpmaddubsw exact)';
      return [`int8 (${bits}; measured outside the clock, quantization included${force ? '; force=1' : ''}): ${lines.join('; ')}${none ? '; no product is faster in int8 here, so this run is the same as without the recipe' : ''}`];
    },
    model: (parts, { isCore }): GPTParts => {
      if (!hasKernel(INT8_LINEAR)) return parts;
      const scales = new Map<string, ProductScales>();
      const scalesOf = (key: string) => scales.get(key) ?? (scales.set(key, newScales()), scales.get(key)!);
      return {
        ...parts,
        mlp: isCore('mlp')
          ? (x, layer, ctx) => {
              const shape: Shape = { rows: x.shape[0], inner: 4 * ctx.cfg.nEmbd, cols: ctx.cfg.nEmbd, transposed: false };
              return int8Mlp(ctx.engine, useInt8(shape) ? scalesOf(`mlp.${layer}`) : null)(x, ctx.param(blockParam(layer, 'mlp.c_fc.weight')) as tf.Tensor2D, ctx.param(blockParam(layer, 'mlp.c_proj.weight')) as tf.Tensor2D);
            }
          : parts.mlp,
        logits: isCore('logits')
          ? (h, ctx) => {
              const shape: Shape = { rows: h.shape[0], inner: ctx.cfg.nEmbd, cols: ctx.cfg.vocabSize, transposed: true };
              if (!useInt8(shape)) return parts.logits(h, ctx);
              return int8Head(ctx.engine, scalesOf('head'))(h, ctx.param('wte') as tf.Tensor2D);
            }
          : parts.logits,
      };
    },
  };
}
