/**
 * The CI decision rule's false-alarm rate (A/A) and power (10 % slowdown) by number of runs, at the noise
 * measured on this machine (harness/ci.ts MEASURED_NOISE_CV) and at twice that: the README's table.
 */
import { DEFAULT_CI_RUNS, MEASURED_NOISE_CV } from '../harness/ci.ts';
import { DEFAULT_DECISION, simulateDecisionRule } from '../harness/regression.ts';

const trials = 20_000;
process.stdout.write(`rule: one-sided paired t-test on log times p < ${DEFAULT_DECISION.alpha} AND slowdown > ${DEFAULT_DECISION.minEffect * 100} %; ${trials} simulated trials each\n`);
process.stdout.write('| noise (CV per run) | runs per side | false alarms (A/A) | power (10 % slower) |\n|---:|---:|---:|---:|\n');
for (const noiseCv of [MEASURED_NOISE_CV, 2 * MEASURED_NOISE_CV]) {
  for (const runs of [3, 4, 5, 6, 8, 10]) {
    const falseAlarms = simulateDecisionRule({ noiseCv, runs, slowdown: 0, trials, seed: 1 });
    const power = simulateDecisionRule({ noiseCv, runs, slowdown: 0.1, trials, seed: 2 });
    const mark = runs === DEFAULT_CI_RUNS && noiseCv === MEASURED_NOISE_CV ? ' (default)' : '';
    process.stdout.write(`| ${(noiseCv * 100).toFixed(1)} % | ${runs}${mark} | ${(falseAlarms * 100).toFixed(2)} % | ${(power * 100).toFixed(1)} % |\n`);
  }
}
