/**
 * Real trials of `speedrun ci`'s rule on this machine (docs/ci.md "Validation"): for each seed three runs of
 * this checkout, one after the other, A1 A2 B, where B carries a test-only slowdown (SPEEDRUN_TEST_SLOWDOWN,
 * default 0.1). (A1, A2) is an A/A pair, (A2, B) an A/B pair. It prints the paired noise of each estimate (time,
 * robust time, steps), the sequential rule's verdict on the pairs in the order they were measured, and its
 * false-alarm rate and power on sequences resampled from the measured pairs (with replacement; A/A differences
 * with random signs, since either run of an A/A pair could have come first).
 *
 *   npm run bench:ci-trials -- --backend native --recipe fused-kernels --pairs 20 [--run-args="--preset micro"]
 *
 * The runs go to results/ci-trials/<time>/, and trials.json there holds every measurement.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import seedrandom from 'seedrandom';
import { CI_METRICS, concreteBackend, runOnce, type CiMetric, type CiRequest, type MeasuredRun } from '../harness/ci.ts';
import { PROJECT_ROOT } from '../harness/environment.ts';
import { describeHardware } from '../harness/hardware.ts';
import { DEFAULT_SEQUENTIAL, sequentialDesign, sequentialLook } from '../harness/regression.ts';
import { std } from '../harness/stats.ts';
import { TEST_SLOWDOWN_ENV } from '../harness/testSlowdown.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'native' },
    recipe: { type: 'string', default: 'fused-kernels' },
    track: { type: 'string', default: 'brown-char' },
    pairs: { type: 'string', default: '20' },
    slowdown: { type: 'string', default: '0.1' },
    'run-args': { type: 'string', default: '' },
    'first-seed': { type: 'string', default: '0' },
    resamples: { type: 'string', default: '4000' },
    analyse: { type: 'string' },
  },
});

interface Trial {
  seed: number;
  a1: MeasuredRun;
  a2: MeasuredRun;
  b: MeasuredRun;
}

const valueOf = (r: MeasuredRun, m: CiMetric) => (m === 'time' ? r.timeToTargetMs : m === 'robust' ? r.robustTimeMs : r.stepsToTarget);

async function measure(): Promise<{ trials: Trial[]; file: string; meta: Record<string, unknown> }> {
  const backend = concreteBackend(values.backend!);
  const outDir = path.join(PROJECT_ROOT, 'results', 'ci-trials', new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, ''));
  const request: CiRequest = {
    recipe: values.recipe!, track: values.track!, backend, baseline: 'HEAD', runs: 3, maxRuns: 3, firstSeed: 0, metric: 'time',
    decision: DEFAULT_SEQUENTIAL, runArgs: values['run-args']!.split(/\s+/).filter(Boolean), outDir,
  };
  const meta = { backend, recipe: values.recipe, track: values.track, runArgs: request.runArgs, slowdown: Number(values.slowdown), cpu: await describeHardware().then((h) => `${h.cpuManufacturer} ${h.cpuBrand} (family ${h.cpuFamily} model ${h.cpuModelNumber}), ${h.cpuCores} cores, ${h.cpuFlags.join(' ')}`), date: new Date().toISOString() };
  const trials: Trial[] = [];
  const file = path.join(outDir, 'trials.json');
  for (let i = 0; i < Number(values.pairs); i++) {
    const seed = Number(values['first-seed']) + i;
    const at = (name: string) => path.join(outDir, `seed-${seed}`, name);
    const a1 = await runOnce(PROJECT_ROOT, request, seed, at('a1'));
    const a2 = await runOnce(PROJECT_ROOT, request, seed, at('a2'));
    const b = await runOnce(PROJECT_ROOT, request, seed, at('b'), { [TEST_SLOWDOWN_ENV]: values.slowdown! });
    trials.push({ seed, a1, a2, b });
    fs.writeFileSync(file, `${JSON.stringify({ meta, trials }, null, 2)}\n`);
    process.stderr.write(`seed ${seed}: A ${(a1.timeToTargetMs! / 1000).toFixed(2)} s, A ${(a2.timeToTargetMs! / 1000).toFixed(2)} s, B ${(b.timeToTargetMs! / 1000).toFixed(2)} s\n`);
  }
  return { trials, file, meta };
}

function analyse(trials: Trial[], meta: Record<string, unknown>): void {
  const design = sequentialDesign(DEFAULT_SEQUENTIAL);
  const random = seedrandom('ci-trials');
  const resamples = Number(values.resamples);
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  process.stdout.write(`\n${trials.length} seeds, ${meta.recipe} on ${meta.track} (${meta.backend}) ${(meta.runArgs as string[]).join(' ')}; B slowed by ${pct(meta.slowdown as number)}; ${String(meta.cpu)}, ${meta.date}\n\n`);
  process.stdout.write('| estimate | A/A paired noise | A/B mean change | rule on the measured A/A pairs | on the A/B pairs | false alarms (resampled) | power (resampled) | pairs A/A, A/B |\n|---|---:|---:|---|---|---:|---:|---:|\n');
  for (const metric of CI_METRICS) {
    const logRatio = (x: MeasuredRun, y: MeasuredRun) => {
      const a = valueOf(x, metric);
      const b = valueOf(y, metric);
      return a !== null && b !== null && a > 0 && b > 0 ? Math.log(b / a) : null;
    };
    const aa = trials.map((t) => logRatio(t.a1, t.a2)).filter((d): d is number => d !== null);
    const ab = trials.map((t) => logRatio(t.a2, t.b)).filter((d): d is number => d !== null);
    if (aa.length < design.looks[0]! || ab.length < design.looks[0]!) continue;
    const inOrder = (d: number[]) => {
      for (let n = design.looks[0]!; n <= Math.min(d.length, design.looks.at(-1)!); n++) {
        const look = sequentialLook(d.slice(0, n), design);
        if (look.verdict !== 'continue') return `${look.verdict} after ${n}`;
      }
      return `undecided after ${d.length}`;
    };
    // Resampled sequences, drawn with replacement. For A/A pairs each drawn difference gets a random sign: the two
    // runs are the same code, so which one came first is arbitrary and d, −d are equally likely (the exact null).
    const resampled = (d: number[], flipSigns: boolean) => {
      let flagged = 0;
      let pairs = 0;
      for (let r = 0; r < resamples; r++) {
        const seq: number[] = [];
        for (;;) {
          const drawn = d[Math.floor(random() * d.length)]!;
          seq.push(flipSigns && random() < 0.5 ? -drawn : drawn);
          if (seq.length < design.looks[0]!) continue;
          const look = sequentialLook(seq, design);
          if (look.verdict === 'continue') continue;
          if (look.verdict === 'regression') flagged++;
          pairs += seq.length;
          break;
        }
      }
      return { rate: flagged / resamples, pairs: pairs / resamples };
    };
    const fa = resampled(aa, true);
    const power = resampled(ab, false);
    const meanChange = Math.exp(ab.reduce((a, b) => a + b, 0) / ab.length) - 1;
    process.stdout.write(`| ${metric} | ${pct(std(aa))} | ${meanChange >= 0 ? '+' : ''}${pct(meanChange)} | ${inOrder(aa)} | ${inOrder(ab)} | ${pct(fa.rate)} | ${pct(power.rate)} | ${fa.pairs.toFixed(1)}, ${power.pairs.toFixed(1)} |\n`);
  }
}

if (values.analyse) {
  const { meta, trials } = JSON.parse(fs.readFileSync(values.analyse, 'utf8')) as { meta: Record<string, unknown>; trials: Trial[] };
  analyse(trials, meta);
} else {
  const { trials, file, meta } = await measure();
  process.stdout.write(`trials: ${file}\n`);
  analyse(trials, meta);
}
