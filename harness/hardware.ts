/**
 * The hardware a run happened on (systeminformation), and the "hardware class" records are compared within:
 * a record only beats another measured on the same class (modded-nanogpt rule 4: same hardware).
 *
 * The class names what changes kernel speed: the CPU's vendor, brand and generation (family/model, and the
 * microarchitecture where it is known), the ISA extensions that select different kernels (AVX2/FMA, AVX-512,
 * VNNI, BF16, AMX; NEON/SVE on Arm), the core count, and the GPUs with their memory. Virtual machines often
 * report a bare brand ("AMD EPYC"), which alone would put a Zen 3 and a Zen 4 in one class.
 *
 * Fingerprints recorded before family/model were stored get a legacy class: their old class string marked
 * "(legacy)", so they never compete with runs whose generation is known (`speedrun retime` re-runs them here).
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
  /** CPUID family and model as decimal strings (absent in fingerprints recorded before they were stored). */
  cpuFamily?: string;
  cpuModelNumber?: string;
  memoryGiB: number;
  /** GPUs as "vendor model", with their memory where known ("NVIDIA H200 141 GB"). */
  gpus: string[];
  /** What records are compared within (hardwareClassOf). */
  hardwareClass: string;
}

export const RELEVANT_FLAGS = [
  'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512_bf16', 'avx_vnni', 'amx_tile', 'amx_int8', 'amx_bf16', 'neon', 'asimd', 'sve', 'sve2',
];

/** AMD's and Intel's (family, model range) -> microarchitecture, for the generations these machines show. */
const MICROARCHITECTURES: { vendor: RegExp; family: number; models: [number, number][]; name: string }[] = [
  { vendor: /amd/i, family: 23, models: [[0x00, 0x2f]], name: 'Zen/Zen+' },
  { vendor: /amd/i, family: 23, models: [[0x30, 0x7f], [0x90, 0x9f]], name: 'Zen 2' },
  { vendor: /amd/i, family: 25, models: [[0x00, 0x0f], [0x20, 0x2f], [0x40, 0x5f]], name: 'Zen 3' },
  { vendor: /amd/i, family: 25, models: [[0x10, 0x1f], [0x60, 0x7f], [0xa0, 0xaf]], name: 'Zen 4' },
  { vendor: /amd/i, family: 26, models: [[0x00, 0xff]], name: 'Zen 5' },
  { vendor: /intel/i, family: 6, models: [[63, 63]], name: 'Haswell' },
  { vendor: /intel/i, family: 6, models: [[79, 79]], name: 'Broadwell' },
  { vendor: /intel/i, family: 6, models: [[85, 85]], name: 'Skylake/Cascade Lake' },
  { vendor: /intel/i, family: 6, models: [[106, 106], [108, 108]], name: 'Ice Lake' },
  { vendor: /intel/i, family: 6, models: [[143, 143]], name: 'Sapphire Rapids' },
  { vendor: /intel/i, family: 6, models: [[207, 207]], name: 'Emerald Rapids' },
  { vendor: /intel/i, family: 6, models: [[173, 174]], name: 'Granite Rapids' },
  { vendor: /intel/i, family: 6, models: [[151, 151], [154, 154]], name: 'Alder Lake' },
  { vendor: /intel/i, family: 6, models: [[183, 183], [186, 186], [191, 191]], name: 'Raptor Lake' },
];

export function microarchitectureOf(vendor: string, family: number, model: number): string | undefined {
  return MICROARCHITECTURES.find((m) => m.vendor.test(vendor) && m.family === family && m.models.some(([lo, hi]) => model >= lo && model <= hi))?.name;
}

/** The ISA level that picks kernels: "AVX2+FMA", "AVX-512+VNNI+BF16", "AVX-512+AMX", "NEON+SVE". */
export function isaSummary(flags: readonly string[]): string {
  const has = (f: string) => flags.includes(f);
  const parts: string[] = [];
  if (has('avx512f')) parts.push('AVX-512');
  else if (has('avx2')) parts.push(has('fma') ? 'AVX2+FMA' : 'AVX2');
  if (has('avx512_vnni') || has('avx_vnni')) parts.push(has('avx512_vnni') ? 'VNNI' : 'AVX-VNNI');
  if (has('avx512_bf16')) parts.push('BF16');
  if (has('amx_tile') || has('amx_bf16') || has('amx_int8')) parts.push('AMX');
  if (has('neon') || has('asimd')) parts.push('NEON');
  if (has('sve') || has('sve2')) parts.push(has('sve2') ? 'SVE2' : 'SVE');
  return parts.length > 0 ? parts.join('+') : 'no SIMD extensions listed';
}

type ClassInput = Pick<HardwareFingerprint, 'cpuManufacturer' | 'cpuBrand' | 'cpuCores' | 'gpus' | 'cpuFlags'> & Partial<Pick<HardwareFingerprint, 'cpuFamily' | 'cpuModelNumber'>>;

export function hardwareClassOf(h: ClassInput): string {
  const cpu = `${h.cpuManufacturer} ${h.cpuBrand}`.replace(/\s+/g, ' ').trim();
  const gpus = h.gpus.length > 0 ? ` + ${h.gpus.join(' + ')}` : '';
  const family = Number(h.cpuFamily);
  const model = Number(h.cpuModelNumber);
  if (h.cpuFamily === undefined || h.cpuModelNumber === undefined || h.cpuFamily === '' || !Number.isFinite(family) || !Number.isFinite(model)) {
    return `${cpu} x${h.cpuCores}${gpus} (legacy)`;
  }
  const uarch = microarchitectureOf(h.cpuManufacturer, family, model);
  return `${cpu} (${uarch ? `${uarch}, ` : ''}family ${family} model ${model}, ${isaSummary(h.cpuFlags ?? [])}) x${h.cpuCores}${gpus}`;
}

/** One line of what the class is made of, for the leaderboard's hover text. */
export function hardwareDetails(h: Partial<HardwareFingerprint>): string {
  const parts = [
    `${h.cpuManufacturer ?? '?'} ${h.cpuBrand ?? '?'}`,
    h.cpuFamily !== undefined ? `family ${h.cpuFamily} model ${h.cpuModelNumber ?? '?'}` : 'family/model not recorded (legacy fingerprint)',
    `${h.cpuCores ?? '?'} cores (${h.cpuPhysicalCores ?? '?'} physical)`,
    `flags ${(h.cpuFlags ?? []).join(' ') || 'none recorded'}`,
    `${h.memoryGiB ?? '?'} GiB`,
    h.gpus && h.gpus.length > 0 ? `GPUs ${h.gpus.join(', ')}` : 'no GPU',
  ];
  return parts.join('; ');
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
      cpuFamily: String(cpu.family ?? ''),
      cpuModelNumber: String(cpu.model ?? ''),
      memoryGiB: Math.round((mem.total / 2 ** 30) * 10) / 10,
      gpus: graphics.controllers.flatMap((c) => {
        const name = `${c.vendor} ${c.model}`.trim();
        return name.length === 0 ? [] : [c.vram ? `${name} ${Math.round(c.vram / 1024)} GB` : name];
      }),
    };
    return { ...base, hardwareClass: hardwareClassOf(base) };
  })();
  return cached;
}
