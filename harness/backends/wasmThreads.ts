/**
 * Lets TF.js's threaded-SIMD wasm build run in Node, so XNNPACK's matmuls use every core.
 *
 * tfjs-backend-wasm 4.22 ships the threaded build (its worker code even supports Node's worker_threads), but
 * its loader disables threads in Node and hands the Emscripten pthreads `blob:` URLs that Node cannot load
 * (tensorflow/tfjs#3830), and the module caps threads at logical_cores / 2 (it assumes SMT), i.e. 1 thread on
 * a 2-core machine. This shim, active only while the backend initializes:
 *  - turns the two Blobs the loader creates (the module factory and the worker script) into temp files;
 *  - defines the bundler globals the factory expects when evaluated on its own in a worker;
 *  - reports twice the logical core count to the module so its cap equals the cores there really are.
 * Measured here (2 cores): 768x128x384 matmul 3.8 -> 2.4 ms, 1024^3 82 -> 44 ms.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

// The CommonJS module object: the one the wasm bundle's require('os') sees, and writable (the ESM namespace is not).
const os = createRequire(import.meta.url)('node:os') as typeof import('node:os');

const FACTORY_PREFIX = 'var WasmBackendModuleThreadedSimd';
// The rollup bundle refers to these names inside the factory's source.
const FACTORY_GLOBALS =
  "var require$$0=require('fs'),require$$1=require('path'),require$$3=require('perf_hooks')," +
  "require$$4=require('os'),commonjsGlobal=globalThis;";

/** Runs `init` (which must initialize the wasm backend) with the shim installed, then removes it. */
export async function withThreadedWasm<T>(init: () => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'speedrun-wasm-'));
  const factoryFile = path.join(dir, 'factory.cjs');
  const NativeBlob = globalThis.Blob;
  const nativeCreate = URL.createObjectURL;
  const nativeRevoke = URL.revokeObjectURL;
  const osModule = os;
  const nativeCpus = osModule.cpus;
  const blobText = new WeakMap<Blob, string>();
  let workerFiles = 0;

  class TextBlob extends NativeBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      const text = (parts ?? []).map(String).join('');
      blobText.set(this, text);
      if (text.startsWith(FACTORY_PREFIX)) fs.writeFileSync(factoryFile, FACTORY_GLOBALS + text);
    }
  }
  globalThis.Blob = TextBlob as typeof Blob;
  URL.createObjectURL = (blob: Blob) => {
    const text = blobText.get(blob);
    if (text === undefined) return nativeCreate(blob);
    // The worker script: inside the worker, the factory Blob it receives resolves to the factory file.
    const file = path.join(dir, `worker${workerFiles++}.cjs`);
    const redirect = `URL.createObjectURL=()=>${JSON.stringify(factoryFile)};URL.revokeObjectURL=()=>{};`;
    fs.writeFileSync(file, redirect + text);
    return file;
  };
  URL.revokeObjectURL = () => {};
  osModule.cpus = () => {
    const cpus = nativeCpus();
    return [...cpus, ...cpus];
  };
  try {
    return await init();
  } finally {
    globalThis.Blob = NativeBlob;
    URL.createObjectURL = nativeCreate;
    URL.revokeObjectURL = nativeRevoke;
    osModule.cpus = nativeCpus;
  }
}

interface PoolWorker {
  unref?: () => void;
  terminate?: () => void;
}
interface EmscriptenPThreads {
  unusedWorkers?: PoolWorker[];
  runningWorkers?: PoolWorker[];
}

/**
 * After init: XNNPACK's thread pool has started the threads it uses, so the rest of Emscripten's fixed pool of 8
 * workers (each a V8 isolate, ~10 MB) is terminated; the running ones must not keep Node alive at exit.
 */
export function trimWasmWorkers(pthreads: EmscriptenPThreads | undefined): void {
  const unused = pthreads?.unusedWorkers ?? [];
  for (const worker of unused.splice(0, unused.length)) worker.terminate?.();
  for (const worker of pthreads?.runningWorkers ?? []) worker.unref?.();
}
