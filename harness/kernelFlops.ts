/**
 * The matrix-product FLOPs a kernel call executes, from its name and shapes (2·m·n·k per product, the
 * convention; elementwise work is not counted). Covers TF.js's BatchMatMul and speedrun's fused kernels that
 * contain products (attention, Muon's update). Used to count what a training step really executes: forward,
 * backward and optimizer, recomputation included.
 */
import { FUSED, INT8_LINEAR, MUON_UPDATE } from './backends/nativeKernels.ts';

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** FLOPs of one kernel call (0 for kernels without products). Attention takes [B, T, H, hs] inputs. */
export function kernelFlops(name: string, inputShapes: number[][], outputShapes: number[][]): number {
  switch (name) {
    case 'BatchMatMul':
    case '_FusedMatMul': {
      const [a, b] = inputShapes as [number[], number[]];
      const out = outputShapes[0]!;
      if (!a || !b || !out) return 0;
      // out [..., m, n]; a holds batchA·m·k elements and b batchB·k·n, whatever their transposes.
      const mn = size(out.slice(-2));
      const batches = size(a.slice(0, -2)) * size(b.slice(0, -2));
      const k = Math.round(Math.sqrt((size(a) * size(b)) / (batches * mn)));
      return 2 * size(out) * k;
    }
    case FUSED.attention:
    case FUSED.attentionGrad: {
      const [B, T, H, hs] = inputShapes[name === FUSED.attention ? 0 : 1] as [number, number, number, number];
      const products = name === FUSED.attention ? 2 : 4; // q·kᵀ and P·v; dO·vᵀ, dS·k, dSᵀ·q, Pᵀ·dO
      return products * 2 * B * H * T * T * hs;
    }
    case INT8_LINEAR: {
      // A product like any other (its precision is the recipe's business): without it, a model whose products
      // int8 takes or leaves by shape counts differently at each sequence length of modelFlopsPerStep's fit.
      const [x] = inputShapes as [number[]];
      const out = outputShapes[0];
      return x && out ? 2 * size(out) * x[1]! : 0;
    }
    case MUON_UPDATE: {
      const [rows, cols] = inputShapes[0] as [number, number];
      const m = Math.min(rows, cols);
      const n = Math.max(rows, cols);
      return 5 * (2 * m * m * n + 2 * m * m * m + 2 * m * m * n); // X·Xᵀ, A·A, B·X, five times
    }
    default:
      return 0;
  }
}
