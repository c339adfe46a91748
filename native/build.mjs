// Builds the native backend's addons (native/binding.gyp): speedrun_kernels.node, the fused and elementwise C
// kernels, wherever a C compiler is (npm's node-gyp needs one anyway); and speedrun_blas.node, the same kernels
// with OpenBLAS's matrix products, where OpenBLAS is installed. Runs on `npm ci`/`npm install` and as
// `npm run build:native`. It never fails the install: without a compiler it says so, and speedrun falls back to
// wasm.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const hint = 'apt-get install g++ make python3 (and libopenblas-dev for its matrix products), then npm run build:native';
const cblas = ['/usr/include/x86_64-linux-gnu/cblas.h', '/usr/include/cblas.h', '/usr/include/openblas/cblas.h'].some((f) => fs.existsSync(f));
const openblas = cblas ? ['--speedrun_openblas=1'] : [];
// Compiled for this CPU (-march=native), unless SPEEDRUN_MARCH names a target: `speedrun pack` builds its kit's
// addons for x86-64-v3 (AVX2 + FMA), since a kit runs on other machines.
const march = /^[a-z0-9-]+$/.test(process.env.SPEEDRUN_MARCH ?? '') ? [`--speedrun_march=${process.env.SPEEDRUN_MARCH}`] : [];
// oneDNN (Debian's libdnnl-dev) adds the int8 products of the int8 recipe; without it everything else still builds.
const dnnl = fs.existsSync('/usr/include/oneapi/dnnl/dnnl.h') ? ['--speedrun_dnnl=1'] : [];
const gyp = [process.env.npm_config_node_gyp, '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js', '/usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'].find((f) => f && fs.existsSync(f));
// Offline machines cannot download Node's headers; use the installed ones when npm is not told where they are.
const nodedir = !process.env.npm_config_nodedir && fs.existsSync('/usr/include/node/node_api.h') ? ['--nodedir=/usr'] : [];
const rebuild = (flags) =>
  gyp
    ? spawnSync(process.execPath, [gyp, 'rebuild', ...nodedir, ...flags], { cwd: here, encoding: 'utf8' })
    : spawnSync('node-gyp', ['rebuild', ...nodedir, ...flags], { cwd: here, encoding: 'utf8', shell: true });
let result = rebuild([...march, ...openblas, ...dnnl]);
let products = cblas ? 'OpenBLAS matrix products' : 'matrix products on XNNPACK; OpenBLAS\'s need apt-get install libopenblas-dev';
if (result.status !== 0 && (openblas.length || dnnl.length)) {
  // A header without its library (or a broken one) must not cost the kernels: build those alone.
  const why = firstErrors(result);
  result = rebuild(march);
  products = `matrix products on XNNPACK: the OpenBLAS/oneDNN build failed (${why})`;
}
if (result.status === 0) {
  const onednn = dnnl.length > 0 && !products.includes('failed');
  if (onednn && cblas) products = "matrix products by oneDNN's sgemm (SPEEDRUN_NATIVE_GEMM=openblas: OpenBLAS's)";
  const int8 = onednn ? 'oneDNN int8 products' : 'int8 products and oneDNN fp32 products need apt-get install libdnnl-dev';
  console.log(`speedrun: native backend built (fused C kernels on the wasm heap; ${products}; ${int8}): --backend native`);
} else {
  console.log(`speedrun: native backend not built (${firstErrors(result)}); ${hint}`);
}

function firstErrors(r) {
  return `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').filter((l) => /error|ERR/.test(l)).slice(0, 3).join(' | ') || 'node-gyp failed';
}
