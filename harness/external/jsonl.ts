/**
 * speedrun's JSON-lines log format, for any trainer: one JSON object a line, printed as the trainer goes. Lines
 * that are not JSON objects are ignored, so a trainer can print it among its other output.
 *
 *   {"step": 0, "val_loss": 10.83, "train_time_ms": 0}
 *   {"step": 1, "train_time_ms": 94}
 *   {"step": 1390, "val_loss": 3.2775, "train_time_ms": 79532}
 *
 * Optional, on any line: "planned_steps" (the step count the run is judged at), "gpus" (one name per GPU),
 * "software" ({"pytorch": "2.10.0", ...}), "code_sha256" (the trainer source's hash), "peak_memory_mib".
 */
import { ExternalRunBuilder, type LogParser } from './externalRun.ts';

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export function jsonlParser(): LogParser {
  const run = new ExternalRunBuilder('jsonl', { name: 'val_loss', lowerIsBetter: true });
  let lineNumber = 0;
  let objects = 0;
  return {
    line(text) {
      lineNumber++;
      const trimmed = text.trim();
      if (!trimmed.startsWith('{')) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(trimmed);
      } catch {
        return; // a line of the trainer's own output that happens to start with a brace
      }
      if (!isRecord(parsed)) return;
      objects++;
      const where = `line ${lineNumber}`;
      if (typeof parsed.planned_steps === 'number' && Number.isInteger(parsed.planned_steps)) run.plannedSteps = parsed.planned_steps;
      if (Array.isArray(parsed.gpus)) run.gpus.splice(0, run.gpus.length, ...parsed.gpus.filter((g): g is string => typeof g === 'string').slice(0, 1024).map((g) => g.slice(0, 200)));
      if (isRecord(parsed.software)) {
        for (const [k, v] of Object.entries(parsed.software).slice(0, 50)) if (typeof v === 'string') run.software[k.slice(0, 50)] = v.slice(0, 200);
      }
      if (typeof parsed.code_sha256 === 'string' && /^[0-9a-f]{64}$/.test(parsed.code_sha256)) run.codeHash = parsed.code_sha256;
      if (typeof parsed.peak_memory_mib === 'number') run.peakMemoryMiB = parsed.peak_memory_mib;
      if (parsed.step === undefined) return;
      if (typeof parsed.step !== 'number') return run.refuse(`${where}: step is not a number`);
      const clock = parsed.train_time_ms === undefined ? null : typeof parsed.train_time_ms === 'number' ? parsed.train_time_ms : Number.NaN;
      if (parsed.val_loss !== undefined) {
        if (clock === null) return run.refuse(`${where}: a val_loss without train_time_ms`);
        // JSON has no NaN: a trainer writes null or a string for it.
        run.evaluation(parsed.step, typeof parsed.val_loss === 'number' ? parsed.val_loss : Number.NaN, clock, where);
      } else {
        run.step(parsed.step, clock, where);
      }
    },
    progress: () => run.progress(),
    end() {
      if (objects === 0) return { status: 'refused', reason: 'no JSON-lines records ({"step": ..., "val_loss": ..., "train_time_ms": ...})' };
      return run.end();
    },
  };
}
