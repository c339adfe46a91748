// Builds the native backend's addon (native/blas.c -> build/Release/speedrun_blas.node) when OpenBLAS is
// installed. Runs on `npm ci`/`npm install` and as `npm run build:native`. It never fails the install: without
// OpenBLAS (or a compiler) it says how to enable the backend, and speedrun falls back to wasm.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const hint = 'apt-get install libopenblas-dev (Debian/Ubuntu), then npm run build:native';
const header = ['/usr/include/x86_64-linux-gnu/cblas.h', '/usr/include/cblas.h', '/usr/include/openblas/cblas.h'].find((f) => fs.existsSync(f));
if (!header) {
  console.log(`speedrun: native backend not built (OpenBLAS not found): ${hint}`);
  process.exit(0);
}
// oneDNN (Debian's libdnnl-dev) adds the int8 products of the int8 recipe; without it everything else still builds.
const dnnl = fs.existsSync('/usr/include/oneapi/dnnl/dnnl.h') ? ['--speedrun_dnnl=1'] : [];
const gyp = [process.env.npm_config_node_gyp, '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js', '/usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'].find((f) => f && fs.existsSync(f));
// Offline machines cannot download Node's headers; use the installed ones when npm is not told where they are.
const nodedir = !process.env.npm_config_nodedir && fs.existsSync('/usr/include/node/node_api.h') ? ['--nodedir=/usr'] : [];
const result = gyp
  ? spawnSync(process.execPath, [gyp, 'rebuild', ...nodedir, ...dnnl], { cwd: here, encoding: 'utf8' })
  : spawnSync('node-gyp', ['rebuild', ...nodedir, ...dnnl], { cwd: here, encoding: 'utf8', shell: true });
if (result.status === 0) {
  console.log(`speedrun: native backend built (OpenBLAS matrix products on the wasm heap${dnnl.length ? ', oneDNN int8 products' : '; int8 products need apt-get install libdnnl-dev'}): --backend native`);
} else {
  const why = `${result.stderr ?? ''}${result.stdout ?? ''}`.trim().split('\n').filter((l) => /error|ERR/.test(l)).slice(0, 3).join(' | ');
  console.log(`speedrun: native backend not built (${why || 'node-gyp failed'}); ${hint}`);
}
