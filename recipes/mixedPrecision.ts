/**
 * mixed-precision — matrix products in bfloat16 with fp32 accumulation, while master weights, gradients and
 * optimizer state stay fp32: the arithmetic of `torch.autocast(dtype=torch.bfloat16)`, which modded-nanogpt's
 * records train under. Sources: Micikevicius et al., "Mixed Precision Training" (arXiv 1710.03740); Kalamkar et
 * al., "A Study of BFLOAT16 for Deep Learning Training" (arXiv 1905.12322).
 *
 * On native, every matrix product (forward and backward) rounds both operands to bf16 (round to nearest even)
 * before OpenBLAS's sgemm accumulates in fp32 (native/blas.c). That is *emulated*: Debian's OpenBLAS has no
 * sbgemm and this VM's CPUID hides avx512_bf16. Real bf16 products would not be faster either: this CPU runs
 * its bf16 dot product (vdpbf16ps) at half its fp32 FMA arithmetic rate, and libxsmm's bf16 GEMM reaches only
 * 0.6x sgemm here (bench/bf16-peak.c). So the rounding passes make steps slower, not faster. What the recipe shows here is whether training still reaches the target with bf16 products. The
 * fused-kernels attention kernel calls sgemm itself, so with both recipes attention's products stay fp32.
 * Elsewhere the recipe changes nothing and says so.
 */
import { nativeProductsOnBlas, setMatMulPrecision } from '../harness/backends/nativeBlas.ts';
import type { Recipe } from '../harness/recipe.ts';

export function mixedPrecisionRecipe(): Recipe {
  return {
    name: 'mixed-precision',
    description: 'bf16 matrix products with fp32 accumulation, fp32 master weights and optimizer state (native; emulated here)',
    source: 'Micikevicius et al. (arXiv 1710.03740); Kalamkar et al., bfloat16 training (arXiv 1905.12322)',
    notes: (backend) =>
      backend.name === 'native' && !nativeProductsOnBlas()
        ? ['no bf16 matrix products on this native build (they are OpenBLAS\'s: apt-get install libopenblas-dev, then npm run build:native); this run is the same as without the recipe']
        : backend.name === 'native'
        ? ['bf16 matrix products (operands rounded to nearest even, fp32 accumulation), fp32 master weights and optimizer state; emulated (no sbgemm in this OpenBLAS; the bf16 dot product of this CPU has half its fp32 peak, bench/bf16-peak.c), so slower than fp32 here: it shows the numerics, not a speedup']
        : [`no bf16 matrix products on backend ${backend.name} (they exist on native); this run is the same as without the recipe`],
    // Read by the native BatchMatMul only; a no-op elsewhere. Put back when the run's replica is disposed.
    onInit: () => setMatMulPrecision('bf16'),
    teardown: () => setMatMulPrecision('fp32'),
  };
}
