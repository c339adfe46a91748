/**
 * modded-nanogpt's training logs (the .txt and .log files of its records/ folders). A recent log holds the trainer's whole
 * source, a line of '=' signs, the software versions (`Running PyTorch 2.10.0+cu128 compiled for CUDA 12.8`), an
 * nvidia-smi table, another '=' line, then step lines:
 *
 *   step:0/1390 val_loss:10.8311 train_time:0ms step_avg:0.03ms
 *   step:1/1390 train_time:94ms step_avg:94.04ms
 *   step:1390/1390 val_loss:3.2775 train_time:79532ms step_avg:57.22ms
 *   peak memory allocated: 30220 MiB reserved: 38672 MiB
 *
 * Older logs give the clock in seconds (`train_time:22.151s`), name the GPUs as `Running on device_name=... with
 * world_size=8`, or have no source. The train clock is paused during validation; the track judges the validation
 * loss at the last step of a fixed step count.
 */
import { createHash } from 'node:crypto';
import { ExternalRunBuilder, type LogParser } from './externalRun.ts';

const SEPARATOR = /^={50,}\s*$/;
const STEP = /^step:(\d+)\/(\d+)\s(.*)$/;
const FIELD = /(\w+):(\S+)/g;
const NVIDIA_SMI_GPU = /^\|\s+(\d+)\s+(NVIDIA\s.+?)\s{2,}(?:On|Off)\s+\|/;
const DEVICE_NAME = /^Running on device_name=(.+?) with world_size=(\d+)\s*$/;

/** `94ms` or `22.151s` in milliseconds; NaN for anything else. */
function millis(text: string): number {
  const m = /^(-?[\d.]+(?:e[-+]?\d+)?)(ms|s)$/.exec(text);
  if (!m) return Number.NaN;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

export function moddedNanogptParser(): LogParser {
  const run = new ExternalRunBuilder('modded-nanogpt', { name: 'val_loss', lowerIsBetter: true });
  const source = createHash('sha256');
  let sourceLines = 0;
  let separators = 0;
  let stepLines = 0;
  let lineNumber = 0;
  return {
    line(text) {
      lineNumber++;
      if (SEPARATOR.test(text)) {
        separators++;
        return;
      }
      // Before the first separator: the trainer's source, hashed as it comes (never kept).
      if (separators === 0) {
        source.update(`${text}\n`);
        sourceLines++;
      }
      const step = STEP.exec(text);
      if (step) {
        stepLines++;
        const where = `line ${lineNumber}`;
        const [at, planned] = [Number(step[1]), Number(step[2])];
        run.plannedSteps = planned;
        const fields = Object.fromEntries([...step[3]!.matchAll(FIELD)].map((m) => [m[1]!, m[2]!]));
        const clock = fields.train_time === undefined ? null : millis(fields.train_time);
        if (fields.val_loss !== undefined) {
          if (clock === null) return run.refuse(`${where}: a val_loss line without train_time`);
          run.evaluation(at, Number(fields.val_loss), clock, where);
        } else {
          run.step(at, clock, where);
        }
        return;
      }
      const version = /^Running (Python|PyTorch|pytorch|Triton version) (\S+)(?: compiled for CUDA (\S+))?/.exec(text);
      if (version) {
        const name = version[1]!.toLowerCase().replace(' version', '');
        run.software[name] = version[2]!;
        if (version[3]) run.software.cuda = version[3];
        return;
      }
      const gpu = NVIDIA_SMI_GPU.exec(text);
      if (gpu) {
        run.gpus.push(gpu[2]!.trim());
        return;
      }
      const device = DEVICE_NAME.exec(text);
      if (device && run.gpus.length === 0) {
        for (let i = 0; i < Math.min(Number(device[2]), 1024); i++) run.gpus.push(device[1]!.trim());
        return;
      }
      const memory = /^peak memory allocated: (\d+) MiB/.exec(text);
      if (memory) run.peakMemoryMiB = Number(memory[1]);
    },
    progress: () => run.progress(),
    end() {
      if (stepLines === 0) return { status: 'refused', reason: "no step lines in modded-nanogpt's format (step:N/M val_loss:... train_time:...)" };
      // A log with a separator carries its source above it; one without carries none (older logs).
      if (separators > 0 && sourceLines > 0) run.codeHash = source.digest('hex');
      return run.end();
    },
  };
}
