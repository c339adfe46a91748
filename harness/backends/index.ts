/**
 * Engine selection, from one table of backends (BACKENDS below). `auto` picks the fastest that loads here, in
 * AUTO_ORDER: tensorflow-gpu (if it sees a GPU) > webgpu (on a hardware adapter only) > native (when its addon is
 * built) > tensorflow > wasm. The tfjs-node packages download libtensorflow at install time, so they are optional
 * dependencies: on a machine without internet they are simply absent.
 */
import * as os from 'node:os';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.ts';
import { trimWasmWorkers, withThreadedWasm } from './wasmThreads.ts';
import { useFasterWasmKernels } from './wasmKernels.ts';
import { ADDON_PATH, hasBlas, loadNativeAddon, NATIVE_INSTALL_HINT, nativeAddonPath, nativeBuilt, useBlasForMatMul } from './nativeBlas.ts';
import { registerNativeKernels } from './nativeKernels.ts';
import { NO_BLAS_VERSION, ONEDNN_VERSION } from './engineLabel.ts';
import { hasNativeElementwise, useNativeElementwise } from './nativeElementwise.ts';
import { activateWebgpu, gpuDevicePresent, probeWebgpu, webgpuInstalled, WEBGPU_INSTALL_HINT, type AdapterInfo } from './webgpu.ts';

export const BACKEND_NAMES = ['auto', 'tensorflow-gpu', 'webgpu', 'native', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendRequest = (typeof BACKEND_NAMES)[number];
export type BackendName = Exclude<BackendRequest, 'auto'>;

/** What every run records about the engine it ran on. */
export interface BackendInfo {
  name: BackendName;
  tfjsBackend: string; // the name TF.js registered it under
  package: string;
  version: string;
  threads: number;
  note?: string;
  /** The GPU behind the webgpu backend. */
  adapter?: AdapterInfo;
}

const require = createRequire(import.meta.url);
const NODE_PACKAGES = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
} as const;

function packageVersion(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function isInstalled(pkg: string): boolean {
  try {
    require.resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
}

let active: BackendInfo | undefined;

async function loadNode(name: 'tensorflow-gpu' | 'tensorflow'): Promise<BackendInfo> {
  const pkg = NODE_PACKAGES[name];
  if (!isInstalled(pkg)) {
    throw new UserError(
      `backend '${name}' needs ${pkg}, which is not installed (its install downloads libtensorflow): ` +
        `run \`npm install ${pkg}\` on a machine with internet access, or use --backend wasm`,
    );
  }
  try {
    await import(pkg);
  } catch (error) {
    throw new UserError(`backend '${name}': ${pkg} is installed but failed to load: ${firstLine(error)}`);
  }
  if (!(await tf.setBackend('tensorflow'))) throw new UserError(`backend '${name}': ${pkg} did not register`);
  const binding = (tf.backend() as { isUsingGpuDevice?: () => boolean }).isUsingGpuDevice;
  const usesGpu = typeof binding === 'function' ? binding.call(tf.backend()) : false;
  if (name === 'tensorflow-gpu' && !usesGpu) {
    throw new UserError(`backend 'tensorflow-gpu': ${pkg} loaded but sees no CUDA GPU (it needs CUDA 11.2 and cuDNN 8)`);
  }
  return {
    name,
    tfjsBackend: 'tensorflow',
    package: pkg,
    version: packageVersion(pkg),
    threads: os.availableParallelism(),
    note: usesGpu ? 'CUDA GPU' : undefined,
  };
}

async function loadWasm(threads: number): Promise<BackendInfo> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // Emscripten adds process handlers that rethrow any uncaught error after printing the module's whole
  // minified source; errors are ours to report, so they are removed again after initialization.
  const listenersBefore = {
    uncaughtException: process.listeners('uncaughtException'),
    unhandledRejection: process.listeners('unhandledRejection'),
  };
  const wanted = Math.max(1, Math.min(threads, os.availableParallelism()));
  let note: string | undefined = threads > wanted ? `--threads ${threads} is more than the ${wanted} cores here: running ${wanted}` : undefined;
  if (wanted > 1) {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasm.setThreadsCount(wanted);
    try {
      const ok = await withThreadedWasm(() => tf.setBackend('wasm'));
      if (!ok) throw new Error('setBackend returned false');
    } catch (error) {
      // Fall back to the single-threaded SIMD build rather than failing the run.
      note = `threaded wasm failed (${firstLine(error)}); running 1 thread`;
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      wasm.setThreadsCount(1);
      if (!(await tf.setBackend('wasm'))) throw new UserError(`backend 'wasm' failed to initialize: ${firstLine(error)}`);
    }
  } else {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    await tf.setBackend('wasm');
  }
  const module = (tf.backend() as unknown as { wasm?: { PThread?: Parameters<typeof trimWasmWorkers>[0] } }).wasm;
  trimWasmWorkers(module?.PThread);
  useFasterWasmKernels();
  for (const listener of process.listeners('uncaughtException')) {
    if (!listenersBefore.uncaughtException.includes(listener)) process.off('uncaughtException', listener);
  }
  for (const listener of process.listeners('unhandledRejection')) {
    if (!listenersBefore.unhandledRejection.includes(listener)) process.off('unhandledRejection', listener);
  }
  return {
    name: 'wasm',
    tfjsBackend: 'wasm',
    package: '@tensorflow/tfjs-backend-wasm',
    version: packageVersion('@tensorflow/tfjs-backend-wasm'),
    threads: wasm.getThreadsCount(),
    note,
  };
}

async function loadWebgpu(): Promise<BackendInfo> {
  const adapter = await activateWebgpu();
  const name = adapter.description || `${adapter.vendor} ${adapter.device}`.trim();
  return {
    name: 'webgpu',
    tfjsBackend: 'webgpu',
    package: '@tensorflow/tfjs-backend-webgpu',
    version: packageVersion('@tensorflow/tfjs-backend-webgpu'),
    threads: 1,
    adapter,
    note: adapter.software ? `software adapter ${name}: correct, but its timings are not meaningful` : `GPU ${name}`,
  };
}

/** auto: webgpu only on a hardware adapter; a software one would be slower than wasm. */
async function loadHardwareWebgpu(): Promise<BackendInfo> {
  if (!gpuDevicePresent()) throw new Unavailable('no GPU device here');
  const adapter = await probeWebgpu();
  if (adapter.software) throw new Unavailable('only a software adapter');
  return loadWebgpu();
}

/** The native backend's environment switches, checked before anything loads: a typo must not silently pick another engine. */
function checkNativeSwitches(): void {
  const switches: [string, string[]][] = [['SPEEDRUN_NATIVE_BLAS', ['0', '1']], ['SPEEDRUN_NATIVE_GEMM', ['onednn', 'openblas']]];
  for (const [name, allowed] of switches) {
    const value = process.env[name];
    if (value !== undefined && value !== '' && !allowed.includes(value)) throw new UserError(`${name}=${value} is not one of: ${allowed.join(', ')}`);
  }
}

async function loadNative(threads: number): Promise<BackendInfo> {
  if (!nativeBuilt()) throw new UserError(`backend 'native' is not built here: ${NATIVE_INSTALL_HINT}`);
  const wasm = await loadWasm(threads);
  let addon;
  try {
    addon = loadNativeAddon(wasm.threads);
  } catch (error) {
    throw new UserError(`backend 'native': the addon failed to load (${firstLine(error)}); ${NATIVE_INSTALL_HINT}`);
  }
  if (hasBlas(addon)) useBlasForMatMul(addon);
  registerNativeKernels(addon); // used by the fused-kernels recipe only
  if (hasNativeElementwise(addon)) useNativeElementwise(addon); // every broadcast and reduction, every recipe
  if (!hasBlas(addon)) {
    return {
      name: 'native',
      tfjsBackend: 'wasm',
      package: 'speedrun native (C kernels; products on XNNPACK, no OpenBLAS) + @tensorflow/tfjs-backend-wasm',
      version: `${NO_BLAS_VERSION}, wasm ${wasm.version}`,
      threads: wasm.threads,
      note: [wasm.note, 'matrix products on XNNPACK: OpenBLAS is not built here (apt-get install libopenblas-dev, then npm run build:native)'].filter(Boolean).join('; '),
    };
  }
  const config = addon.config(); // e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64"
  // oneDNN's sgemm, where it is linked, unless SPEEDRUN_NATIVE_GEMM=openblas: 1.5-2.8x OpenBLAS's rate at the nano shapes.
  const onednn = process.env.SPEEDRUN_NATIVE_GEMM !== 'openblas' && addon.useOnednnProducts?.(true) === true;
  const openblas = `${config.split(' ').slice(0, 2).join(' ')} ${config.split(' ').at(-2) ?? ''}`.trim();
  return {
    name: 'native',
    tfjsBackend: 'wasm',
    package: `speedrun native (${onednn ? 'oneDNN products, OpenBLAS' : 'OpenBLAS'}) + @tensorflow/tfjs-backend-wasm`,
    version: `${onednn ? `${ONEDNN_VERSION}, ` : ''}${openblas}, wasm ${wasm.version}`,
    threads: wasm.threads,
    note: wasm.note,
  };
}

async function loadCpu(): Promise<BackendInfo> {
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  // The cpu backend prints a multi-line "install tfjs-node" banner on first use; `speedrun list` says it better.
  (tf.backend() as { firstUse?: boolean }).firstUse = false;
  return {
    name: 'cpu',
    tfjsBackend: 'cpu',
    package: '@tensorflow/tfjs-backend-cpu',
    version: packageVersion('@tensorflow/tfjs-backend-cpu'),
    threads: 1,
  };
}

export interface BackendOptions {
  /** wasm threads; defaults to every core. */
  threads?: number;
}

/** A backend that cannot run here for an expected reason (no GPU, a software adapter): `auto` moves on quietly. */
class Unavailable extends Error {}

interface BackendEntry {
  /** Place in `auto`'s order, first = 1; absent: `auto` never picks it. */
  autoRank?: number;
  /** Whether its packages or build are here (cheap: starts nothing). */
  installed(): boolean;
  /** What `speedrun list` says about it on this machine. */
  describe(): string;
  load(threads: number): Promise<BackendInfo>;
  /** What `auto` loads, when that differs from an explicit request (webgpu: hardware adapters only). */
  loadForAuto?(threads: number): Promise<BackendInfo>;
}

/** Every backend, once: loading, `auto`'s order, `speedrun list` and the help text all come from here. */
const BACKENDS: Record<BackendName, BackendEntry> = {
  'tensorflow-gpu': {
    autoRank: 1,
    installed: () => isInstalled(NODE_PACKAGES['tensorflow-gpu']),
    describe: () => (isInstalled(NODE_PACKAGES['tensorflow-gpu']) ? 'installed (needs CUDA 11.2 + cuDNN 8)' : 'npm install @tensorflow/tfjs-node-gpu (downloads libtensorflow)'),
    load: () => loadNode('tensorflow-gpu'),
  },
  webgpu: {
    autoRank: 2,
    installed: webgpuInstalled,
    describe: () =>
      !webgpuInstalled()
        ? 'npm install webgpu (Dawn, prebuilt)'
        : gpuDevicePresent()
          ? `installed (Dawn); a GPU device is present (auto tries it); needs a Vulkan adapter: ${WEBGPU_INSTALL_HINT}`
          : 'installed (Dawn); no GPU device here, so auto skips it; --backend webgpu runs on software Vulkan, if installed, for correctness only',
    load: () => loadWebgpu(),
    loadForAuto: () => loadHardwareWebgpu(),
  },
  native: {
    autoRank: 3,
    installed: nativeBuilt,
    describe: () => (nativeBuilt() ? `built: wasm with speedrun's C kernels and ${nativeAddonPath() === ADDON_PATH ? 'OpenBLAS matrix products' : 'XNNPACK matrix products (no OpenBLAS)'}` : NATIVE_INSTALL_HINT),
    load: (threads) => loadNative(threads),
  },
  tensorflow: {
    autoRank: 4,
    installed: () => isInstalled(NODE_PACKAGES.tensorflow),
    describe: () => (isInstalled(NODE_PACKAGES.tensorflow) ? 'installed' : 'npm install @tensorflow/tfjs-node (downloads libtensorflow)'),
    load: () => loadNode('tensorflow'),
  },
  wasm: {
    autoRank: 5,
    installed: () => true,
    describe: () => `embedded default, XNNPACK with ${os.availableParallelism()} threads`,
    load: (threads) => loadWasm(threads),
  },
  cpu: {
    installed: () => true,
    describe: () => 'embedded, pure JavaScript (slow; for tests)',
    load: () => loadCpu(),
  },
};

/** The backends `auto` tries, in order. */
export const AUTO_ORDER: readonly BackendName[] = (Object.keys(BACKENDS) as BackendName[])
  .filter((name) => BACKENDS[name].autoRank !== undefined)
  .sort((a, b) => BACKENDS[a].autoRank! - BACKENDS[b].autoRank!);

/** The first backend of `auto`'s order that loads; an installed one that fails for another reason says why in a note. */
async function loadAuto(threads: number): Promise<BackendInfo> {
  const skipped: string[] = [];
  for (const name of AUTO_ORDER) {
    const entry = BACKENDS[name];
    if (!entry.installed()) continue;
    try {
      const info = await (entry.loadForAuto ?? entry.load)(threads);
      const notes = [...skipped.map((why) => `auto skipped ${why}`), ...(info.note ? [info.note] : [])];
      return notes.length > 0 ? { ...info, note: notes.join('; ') } : info;
    } catch (error) {
      if (error instanceof Unavailable) continue;
      if (error instanceof UserError) {
        skipped.push(`${name} (${firstLine(error)})`);
        continue;
      }
      throw error; // a bug, not an unavailable backend
    }
  }
  throw new UserError(`no backend loaded here (${skipped.join('; ')})`);
}

/** Initializes a backend once per process; asking again for the same one returns the same info. */
export async function useBackend(request: BackendRequest, options: BackendOptions = {}): Promise<BackendInfo> {
  if (!(BACKEND_NAMES as readonly string[]).includes(request)) {
    throw new UserError(`unknown backend '${request}' (choose one of: ${BACKEND_NAMES.join(', ')})`);
  }
  if (active && (request === 'auto' || request === active.name)) return active;
  checkNativeSwitches(); // before auto could step over native because of one
  if (active) throw new UserError(`backend '${active.name}' is already initialized in this process; cannot switch to '${request}'`);
  const threads = options.threads ?? os.availableParallelism();
  const info = request === 'auto' ? await loadAuto(threads) : await BACKENDS[request].load(threads);
  await tf.ready();
  active = info;
  return info;
}

/** For `speedrun list`: which backends can load here, without initializing any of them. */
export function describeBackends(): { name: BackendName; available: boolean; how: string }[] {
  return (Object.keys(BACKENDS) as BackendName[]).map((name) => ({ name, available: BACKENDS[name].installed(), how: BACKENDS[name].describe() }));
}

export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.trim();
}
