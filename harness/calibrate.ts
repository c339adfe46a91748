/**
 * `speedrun calibrate`: measures the peak an MFU is relative to on this machine and backend (a large fp32
 * product, or a GPU's published peak) and stores it for this hardware class in the results database, where every
 * later run of the class and backend finds it. A run that finds none measures it once itself (outside the clock).
 */
import { useBackend, type BackendRequest } from './backends/index.ts';
import { describeHardware } from './hardware.ts';
import { obtainPeak, type Peak } from './peaks.ts';
import { engineLabel } from './backends/engineLabel.ts';
import type { ResultsStore } from './store/database.ts';

export interface Calibration {
  hardwareClass: string;
  backend: string;
  peak: Peak;
  /** The peak stored before, if any. */
  previous?: Peak;
}

export async function calibrate(request: { backend: BackendRequest; threads?: number }, store: ResultsStore): Promise<Calibration> {
  const backend = await useBackend(request.backend, { threads: request.threads });
  const hardware = await describeHardware();
  const previous = store.peak(hardware.hardwareClass, engineLabel(backend));
  const peak = await obtainPeak(backend, hardware.gpus);
  store.savePeak(hardware.hardwareClass, engineLabel(backend), peak);
  return { hardwareClass: hardware.hardwareClass, backend: backend.name, peak, ...(previous ? { previous: { flopsPerSec: previous.flopsPerSec, method: previous.method } } : {}) };
}
