/**
 * `npm run bench:blas`: OpenBLAS sgemm through the native addon, at a large square size and at the nano model's
 * shapes (median of repeated calls). Bars (native issue): the nano shapes reach >= 50 % of the large square's rate;
 * bf16 >= 1.6x fp32 throughput. The bf16 column is the mixed-precision recipe's emulated path (operands rounded to
 * bf16, then sgemm: this OpenBLAS has no sbgemm), so it shows the rounding's cost, not a bf16 GEMM's speed.
 */
import { hasBlas, loadNativeAddon, nativeBuilt } from '../harness/backends/nativeBlas.ts';
import { median } from '../harness/stats.ts';

if (!nativeBuilt()) {
  process.stdout.write('native addon not built: apt-get install libopenblas-dev && npm run build:native\n');
  process.exit(0);
}
const addon = loadNativeAddon(2);
if (!hasBlas(addon)) {
  console.log('bench:blas: this native build has no OpenBLAS (apt-get install libopenblas-dev, then npm run build:native)');
  process.exit(0);
}
const blas = addon;
const shapes: [string, number, number, number, number, boolean][] = [
  ['1024 x 1024 x 1024', 1024, 1024, 1024, 1, false],
  ['nano MLP up: 768x128 @ 128x512', 768, 512, 128, 1, false],
  ['nano MLP down: 768x512 @ 512x128', 768, 128, 512, 1, false],
  ['nano qkv: 768x128 @ 128x384', 768, 384, 128, 1, false],
  ['nano attention q kT: 48 x (64x32 @ 32x64)', 64, 64, 32, 48, true],
  ['nano attention P v: 48 x (64x64 @ 64x32)', 64, 32, 64, 48, false],
];
// oneDNN's sgemm beside OpenBLAS's where the addon links it (native's default products there).
const onednn = blas.useOnednnProducts?.(false) !== undefined && blas.useOnednnProducts(true);
blas.useOnednnProducts?.(false);
process.stdout.write(`${blas.config()}\n| product | median ms | GFLOP/s | of the large square | bf16 (emulated) ms | bf16 throughput vs fp32 |${onednn ? ' oneDNN sgemm ms | oneDNN GFLOP/s | oneDNN vs OpenBLAS |' : ''}\n|---|---:|---:|---:|---:|---:|${onednn ? '---:|---:|---:|' : ''}\n`);
let large = 0;
for (const [label, m, n, k, batch, transB] of shapes) {
  const floats = batch * (m * k + k * n + m * n);
  const heap = new Uint8Array(new SharedArrayBuffer(floats * 4));
  const f = new Float32Array(heap.buffer);
  for (let i = 0; i < f.length; i++) f[i] = Math.random() - 0.5;
  const timeOf = (bf16: boolean): number => {
    const call = () => blas.sgemmBatched(heap, 0, batch * m * k * 4, batch * (m * k + k * n) * 4, batch, m, n, k, false, transB, m * k, k * n, bf16);
    for (let i = 0; i < 5; i++) call();
    const times: number[] = [];
    const reps = m * n * k * batch > 1e8 ? 20 : 200;
    for (let i = 0; i < reps; i++) {
      const start = performance.now();
      call();
      times.push(performance.now() - start);
    }
    return median(times);
  };
  const ms = timeOf(false);
  const bf16Ms = timeOf(true);
  const gflops = (2 * m * n * k * batch) / ms / 1e6;
  if (large === 0) large = gflops;
  let onednnCells = '';
  if (onednn) {
    blas.useOnednnProducts!(true);
    const onednnMs = timeOf(false);
    blas.useOnednnProducts!(false);
    onednnCells = ` ${onednnMs.toFixed(3)} | ${((2 * m * n * k * batch) / onednnMs / 1e6).toFixed(1)} | ${(ms / onednnMs).toFixed(2)}x |`;
  }
  process.stdout.write(`| ${label} | ${ms.toFixed(3)} | ${gflops.toFixed(1)} | ${((gflops / large) * 100).toFixed(0)} % | ${bf16Ms.toFixed(3)} | ${(ms / bf16Ms).toFixed(2)}x |${onednnCells}\n`);
}
