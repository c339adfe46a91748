/** What the user watches: a progress bar on a terminal (cli-progress), one line per evaluation otherwise. */
import { formatFlops } from './units.ts';
import cliProgress from 'cli-progress';
import type { RunPlan, RunRecord } from './run.ts';
import { mean, oneSampleTTest, summarizeTimes, twoSampleTTest } from './stats.ts';
import { RULES } from './submit.ts';
import type { TrainObserver } from './train.ts';

const fmt = (v: number | null | undefined, digits = 4): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));

export function progressObserver(plan: RunPlan, stream: NodeJS.WriteStream = process.stderr): { observer: TrainObserver; stop(): void } {
  const total = plan.config.train.maxSteps;
  if (!stream.isTTY) {
    return {
      observer: {
        onEval: (e) => stream.write(`step ${e.step}/${total}  val ${fmt(e.valLoss)}  train time ${(e.trainTimeMs / 1000).toFixed(1)} s\n`),
      },
      stop: () => {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: 'step {value}/{total} {bar} loss {loss} | val {val} (target {target}) | {tps} tok/s | ETA {eta_formatted} (budget)',
      barsize: 24,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { loss: '-', val: '-', target: plan.config.train.target, tps: '-' });
  return {
    observer: {
      onStep: (s, last) => bar.update(s.step, { loss: fmt(s.trainLoss), val: fmt(last.valLoss), tps: Math.round(last.tokensPerSec) }),
      onEvalStart: () => bar.update({ val: 'evaluating…' }),
      onEval: (e) => bar.update({ val: fmt(e.valLoss) }),
    },
    stop: () => bar.stop(),
  };
}

export function formatSummary(record: RunRecord): string {
  const s = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);
  const rows: [string, string][] = [
    ['status', `${record.status} (${record.reason})`],
    ['track', `${record.track.id}${record.track.official ? '' : ` (unofficial: ${record.track.overrides.join(', ') || 'uncalibrated track'})`}`],
    ['recipes', record.recipes.join(',')],
    ['time to target', s(record.timeToTargetMs)],
    ['train time', `${s(record.trainTimeMs)} (steps only; init ${s(record.initMs)}, warm-up ${s(record.warmupMs)}, eval ${s(record.evalMs)} outside)`],
    ['wall time', s(record.wallTimeMs)],
    ['steps', `${record.steps}${record.stepsToTarget !== null ? ` (target at ${record.stepsToTarget})` : ''}`],
    ['tokens', record.tokens.toLocaleString('en-US')],
    ['final val loss', `${fmt(record.finalValLoss)} (target ${record.track.target})`],
    ['tokens/s', `${Math.round(record.tokensPerSec).toLocaleString('en-US')} (${record.msPerStep.toFixed(1)} ms/step)`],
    ['backend', `${record.backend.name} (${record.backend.package} ${record.backend.version}, ${record.backend.threads} thread${record.backend.threads === 1 ? '' : 's'})`],
    ['peak memory', `${record.peakRssMiB.toFixed(0)} MiB resident`],
    ...computeRows(record),
    ...(record.parallel
      ? [['workers', `${record.parallel.workers} (${record.parallel.comms}): gradient exchange ${record.parallel.commMsPerStep.toFixed(1)} ms and ${Math.round(record.parallel.commBytesPerStep).toLocaleString('en-US')} bytes per step and worker (median)`] as [string, string]]
      : []),
    ['run', record.eventLog.replace(/events\.jsonl$/, '')],
    ['bundle', record.bundle],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

/** FLOPs, MFU and cost, as the summary shows them (nothing for records made before they were counted). */
function computeRows(record: RunRecord): [string, string][] {
  const c = record.compute;
  if (!c) return [];
  const executed = c.executedFlopsPerStep === null ? 'not counted (workers)' : `${formatFlops(c.executedFlopsPerStep)} executed`;
  const rows: [string, string][] = [
    ['FLOPs', `${formatFlops(c.modelFlopsPerStep)} a step (model), ${executed}; ${c.flopsToTarget === null ? 'target not reached' : `${formatFlops(c.flopsToTarget)} to target`}`],
    ['MFU', c.mfu === null || !c.peak ? 'unknown' : `${(100 * c.mfu).toFixed(1)} % of ${formatFlops(c.peak.flopsPerSec, 'FLOP/s')} (${c.peak.method})`],
  ];
  if (c.pricePerHour !== undefined) rows.push(['cost', `${c.costToTarget === null || c.costToTarget === undefined ? 'target not reached' : `$${c.costToTarget.toPrecision(3)} to target`} at $${c.pricePerHour}/h`]);
  return rows;
}

/** What `--seeds N` prints after the last seed: the statistics a record would be judged on. */
export function formatSeedsSummary(records: RunRecord[], record?: { id: number; recipes: string; timesMs: number[] }): string {
  const reached = records.filter((r) => r.timeToTargetMs !== null);
  const lines = [`${records.length} seeds (${records.map((r) => r.config.train.seed).join(', ')}): ${reached.length} reached the target ${records[0]?.track.target}`];
  if (reached.length > 0) {
    const t = summarizeTimes(reached.map((r) => r.timeToTargetMs!));
    const steps = reached.map((r) => r.stepsToTarget!);
    lines.push(
      `time to target  ${(t.meanMs / 1000).toFixed(1)} ± ${(t.stdMs / 1000).toFixed(1)} s (mean ± std; olympic mean ${(t.olympicMeanMs / 1000).toFixed(1)} s, median ${(t.medianMs / 1000).toFixed(1)} s)`,
      `steps to target ${mean(steps).toFixed(0)} (min ${Math.min(...steps)}, max ${Math.max(...steps)})`,
    );
  }
  const losses = records.map((r) => r.finalValLoss).filter((l): l is number => l !== null && Number.isFinite(l));
  if (losses.length >= 2 && losses.length === records.length) {
    const { pValue } = oneSampleTTest(losses, records[0]!.track.target, 'less');
    lines.push(`final val loss  ${mean(losses).toFixed(4)}: one-sided t-test below the target p = ${pValue.toPrecision(3)} (a record needs p < ${RULES.targetAlpha})`);
  }
  const times = reached.map((r) => r.timeToTargetMs!);
  if (record && times.length >= 2 && record.timesMs.length >= 2) {
    const { pValue } = twoSampleTTest(times, record.timesMs, 'less');
    lines.push(`vs record #${record.id} (${record.recipes}, ${(mean(record.timesMs) / 1000).toFixed(1)} s): Welch one-sided p = ${pValue.toPrecision(3)} that these are faster (a record needs p < ${RULES.recordAlpha})`);
  } else if (!record) {
    lines.push('no record yet on this track and hardware class');
  }
  return lines.join('\n');
}
