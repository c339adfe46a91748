/**
 * MLPerf Training's logs (mlperf_logging): `:::MLLOG {json}` lines with a key, a value, time_ms and metadata. The
 * clock is MLPerf's: from run_start to each evaluation (MLPerf times run_start to run_stop, evaluations included);
 * the evaluations are eval_accuracy (higher is better) or eval_loss, at metadata.epoch_num or samples_count.
 * The GPUs are what submission_platform names (e.g. "8xNVIDIA H100"), where it does.
 */
import { ExternalRunBuilder, type LogParser } from './externalRun.ts';

const PREFIX = ':::MLLOG ';

export function mllogParser(): LogParser {
  let run: ExternalRunBuilder | undefined;
  let startMs: number | null = null;
  let lineNumber = 0;
  let records = 0;
  let evalIndex = 0;
  let platform: string | undefined;
  let stopped: string | undefined;
  const builder = (key: string) =>
    (run ??= new ExternalRunBuilder('mllog', key === 'eval_accuracy' ? { name: 'eval_accuracy', lowerIsBetter: false } : { name: 'eval_loss', lowerIsBetter: true }));
  return {
    line(text) {
      lineNumber++;
      const at = text.indexOf(PREFIX);
      if (at < 0) return;
      let entry: { key?: unknown; value?: unknown; time_ms?: unknown; metadata?: Record<string, unknown> };
      try {
        entry = JSON.parse(text.slice(at + PREFIX.length)) as typeof entry;
      } catch {
        return builder('eval_loss').refuse(`line ${lineNumber}: a :::MLLOG line that is not JSON`);
      }
      records++;
      const key = typeof entry.key === 'string' ? entry.key : '';
      const time = typeof entry.time_ms === 'number' ? entry.time_ms : Number.NaN;
      const where = `line ${lineNumber}`;
      if (key === 'run_start') startMs = time;
      else if (key === 'submission_platform' && typeof entry.value === 'string') platform = entry.value.slice(0, 200);
      else if (key === 'run_stop') stopped = typeof entry.metadata?.status === 'string' ? entry.metadata.status : 'unknown';
      else if (key === 'eval_accuracy' || key === 'eval_loss') {
        const b = builder(key);
        if (startMs === null) return b.refuse(`${where}: ${key} before run_start`);
        const meta = entry.metadata ?? {};
        const step = typeof meta.epoch_num === 'number' ? meta.epoch_num : typeof meta.samples_count === 'number' ? meta.samples_count : evalIndex;
        evalIndex++;
        b.evaluation(Math.round(step), typeof entry.value === 'number' ? entry.value : Number.NaN, time - startMs, where);
      }
    },
    progress: () => (run ? run.progress() : { step: -1, evals: 0 }),
    end() {
      if (records === 0) return { status: 'refused', reason: 'no :::MLLOG lines' };
      const b = builder('eval_loss');
      if (startMs === null) b.refuse('no run_start');
      if (stopped === undefined) b.refuse('no run_stop (the run did not finish)');
      if (platform) {
        const m = /^(\d+)\s*x\s*(.+)$/i.exec(platform);
        const [count, name] = m ? [Math.min(Number(m[1]), 1024), m[2]!.trim()] : [1, platform];
        for (let i = 0; i < count; i++) b.gpus.push(name);
      }
      return b.end();
    },
  };
}
