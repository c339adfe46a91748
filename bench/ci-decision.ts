/**
 * The sequential CI rule's operating characteristics by noise, simulated (t-tests on log-normal pairs, as
 * `speedrun ci` decides) beside what normal theory says: false alarms (A/A), power against a 10 % slowdown and
 * the pairs it takes. docs/ci.md's table.
 */
import { DEFAULT_SEQUENTIAL, operatingCharacteristics, sequentialDesign, simulateSequential } from '../harness/regression.ts';

const trials = Number(process.argv[2] ?? 10_000);
const o = DEFAULT_SEQUENTIAL;
const design = sequentialDesign(o);
process.stdout.write(`rule: sequential, pairs ${o.minPairs}-${o.maxPairs}, alpha ${o.alpha} (O'Brien-Fleming spending), min effect ${o.minEffect * 100} %, detect ${o.detect * 100} % with beta ${o.beta} (Pocock spending); ${trials} simulated trials each\n`);
process.stdout.write('| noise (CV per run) | false alarms (A/A) | pairs (A/A) | power (10 % slower) | pairs (A/B) | inconclusive (A/B) | power, normal theory |\n|---:|---:|---:|---:|---:|---:|---:|\n');
for (const [i, noiseCv] of [0.02, 0.03, 0.04, 0.06, 0.08, 0.1].entries()) {
  const aa = simulateSequential({ noiseCv, slowdown: 0, trials, seed: 1 + i, design });
  const ab = simulateSequential({ noiseCv, slowdown: 0.1, trials, seed: 101 + i, design });
  const theory = operatingCharacteristics(design, noiseCv * Math.SQRT2, 0.1);
  const p = (x: number) => `${(x * 100).toFixed(2)} %`;
  process.stdout.write(`| ${(noiseCv * 100).toFixed(0)} % | ${p(aa.regression)} | ${aa.meanPairs.toFixed(1)} | ${p(ab.regression)} | ${ab.meanPairs.toFixed(1)} | ${p(ab.inconclusive)} | ${p(theory.regression)} |\n`);
}
