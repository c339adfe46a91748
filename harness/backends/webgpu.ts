/**
 * WebGPU in Node: Dawn's Node bindings (npm `webgpu`, a prebuilt dawn.node, an optional dependency) under
 * @tensorflow/tfjs-backend-webgpu. Runs on whatever GPU Vulkan exposes (NVIDIA, AMD, Intel; Metal on macOS);
 * on a machine without a GPU, on Mesa's software Vulkan (lavapipe, "llvmpipe"), which is for correctness only.
 * Debian 12's Mesa 22.3 gives no adapter (missing dynamic-indexing features); Mesa 25 from bookworm-backports does.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../errors.ts';

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation of Vulkan (lavapipe/llvmpipe, SwiftShader): correct, but its timings mean nothing. */
  software: boolean;
  shaderF16: boolean;
}

const require = createRequire(import.meta.url);
export const WEBGPU_INSTALL_HINT =
  'install a Vulkan driver (a GPU driver; for software Vulkan on Debian 12: apt-get install -t bookworm-backports mesa-vulkan-drivers)';

/**
 * Whether this machine has a GPU device node a hardware Vulkan driver could open (Linux: a DRM render node,
 * NVIDIA's /dev/nvidia0, WSL's /dev/dxg). \`auto\` probes webgpu only then: starting Dawn without one prints
 * Vulkan warnings on stderr and can only find a software adapter, which \`auto\` does not use anyway.
 */
export function gpuDevicePresent(): boolean {
  if (process.platform !== 'linux') return true;
  try {
    if (fs.readdirSync('/dev/dri').some((f) => f.startsWith('renderD'))) return true;
  } catch {
    // no /dev/dri
  }
  return fs.existsSync('/dev/nvidia0') || fs.existsSync('/dev/dxg');
}

export function webgpuInstalled(): boolean {
  try {
    require.resolve('webgpu');
    require.resolve('@tensorflow/tfjs-backend-webgpu');
    return true;
  } catch {
    return false;
  }
}

interface GpuAdapterLike {
  info: { vendor: string; architecture: string; device: string; description: string };
  features: Set<string>;
  limits: Record<string, number>;
  isFallbackAdapter?: boolean;
  requestDevice(descriptor: { requiredLimits: Record<string, number>; requiredFeatures: string[] }): Promise<unknown>;
}

/**
 * Limits the device asks for: TF.js's own list plus the storage-buffer count, which TF.js leaves at WebGPU's
 * default of 8 although its AddN kernel (how autodiff sums a tensor's gradients) binds one buffer per input.
 */
const REQUESTED_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupSizeX',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
];

let gpuReady: Promise<GpuAdapterLike | null> | undefined;

/** Creates navigator.gpu from Dawn once per process and asks for the default adapter (null when none). */
function requestAdapter(): Promise<GpuAdapterLike | null> {
  gpuReady ??= (async () => {
    const dawn = (await import('webgpu')) as unknown as { create(flags: string[]): unknown; globals: Record<string, unknown> };
    Object.assign(globalThis, dawn.globals);
    const gpu = dawn.create([]) as { requestAdapter(): Promise<GpuAdapterLike | null> };
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    return gpu.requestAdapter();
  })();
  return gpuReady;
}

function describe(adapter: GpuAdapterLike): AdapterInfo {
  const { vendor, architecture, device, description } = adapter.info;
  const text = `${vendor} ${architecture} ${device} ${description}`.toLowerCase();
  return {
    vendor,
    architecture,
    device,
    description,
    software: adapter.isFallbackAdapter === true || /llvmpipe|lavapipe|swiftshader|software/.test(text),
    shaderF16: adapter.features.has('shader-f16'),
  };
}

/** The adapter Dawn would use, or why there is none; loads nothing into TF.js. */
export async function probeWebgpu(): Promise<AdapterInfo> {
  if (!webgpuInstalled()) throw new UserError("backend 'webgpu' needs the npm packages webgpu and @tensorflow/tfjs-backend-webgpu: run `npm install webgpu`");
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await requestAdapter();
  } catch (error) {
    throw new UserError(`backend 'webgpu': Dawn failed to start (${(error as Error).message.split('\n')[0]}); ${WEBGPU_INSTALL_HINT}`);
  }
  if (!adapter) throw new UserError(`backend 'webgpu': no WebGPU adapter found; ${WEBGPU_INSTALL_HINT}`);
  return describe(adapter);
}

/** Registers and selects TF.js's webgpu backend on the probed adapter, with the device limits above. */
export async function activateWebgpu(): Promise<AdapterInfo> {
  const adapter = await probeWebgpu();
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  tf.removeBackend('webgpu'); // the package registers a factory of its own; ours asks for more buffers
  tf.registerBackend('webgpu', async () => {
    const gpuAdapter = (await requestAdapter())!;
    const requiredLimits = Object.fromEntries(REQUESTED_LIMITS.map((name) => [name, gpuAdapter.limits[name]!]));
    const requiredFeatures = ['timestamp-query', 'shader-f16'].filter((f) => gpuAdapter.features.has(f));
    const device = await gpuAdapter.requestDevice({ requiredLimits, requiredFeatures });
    return new WebGPUBackend(device as ConstructorParameters<typeof WebGPUBackend>[0], gpuAdapter.info as ConstructorParameters<typeof WebGPUBackend>[1]);
  }, 3);
  if (!(await tf.setBackend('webgpu'))) throw new UserError(`backend 'webgpu' did not initialize on ${adapter.description || adapter.device}`);
  return adapter;
}
