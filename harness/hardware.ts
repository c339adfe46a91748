/**
 * The hardware a run happened on (systeminformation), and the "hardware class" records are compared within:
 * a record only beats another measured on the same class (modded-nanogpt rule 4: same hardware).
 */
import * as os from 'node:os';
import si from 'systeminformation';

export interface HardwareFingerprint {
  cpuManufacturer: string;
  cpuBrand: string;
  cpuCores: number;
  cpuPhysicalCores: number;
  /** The instruction-set extensions that change kernel speed. */
  cpuFlags: string[];
  memoryGiB: number;
  gpus: string[];
  /** What records are compared within: CPU model, core count and GPUs. */
  hardwareClass: string;
}

const RELEVANT_FLAGS = ['avx2', 'fma', 'avx512f', 'avx512_bf16', 'avx512bw', 'avx512vl', 'amx_bf16', 'neon', 'sve'];

export function hardwareClassOf(h: Pick<HardwareFingerprint, 'cpuManufacturer' | 'cpuBrand' | 'cpuCores' | 'gpus'>): string {
  const cpu = `${h.cpuManufacturer} ${h.cpuBrand}`.replace(/\s+/g, ' ').trim();
  const gpus = h.gpus.length > 0 ? ` + ${h.gpus.join(' + ')}` : '';
  return `${cpu} x${h.cpuCores}${gpus}`;
}

let cached: Promise<HardwareFingerprint> | undefined;

/** Read once per process (systeminformation spawns helpers for the GPU list). */
export function describeHardware(): Promise<HardwareFingerprint> {
  cached ??= (async () => {
    const [cpu, mem, graphics] = await Promise.all([si.cpu(), si.mem(), si.graphics().catch(() => ({ controllers: [] }))]);
    const flags = new Set(cpu.flags.split(/\s+/));
    const base = {
      cpuManufacturer: cpu.manufacturer || 'unknown',
      cpuBrand: cpu.brand || os.cpus()[0]?.model.trim() || 'unknown',
      cpuCores: cpu.cores || os.availableParallelism(),
      cpuPhysicalCores: cpu.physicalCores || cpu.cores,
      cpuFlags: RELEVANT_FLAGS.filter((f) => flags.has(f)),
      memoryGiB: Math.round((mem.total / 2 ** 30) * 10) / 10,
      gpus: graphics.controllers.map((c) => `${c.vendor} ${c.model}`.trim()).filter((name) => name.length > 0),
    };
    return { ...base, hardwareClass: hardwareClassOf(base) };
  })();
  return cached;
}
