/** Statistics against textbook values (R's `sleep` data), and the CI decision rule validated by simulation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CI_RUNS, MEASURED_NOISE_CV } from '../harness/ci.ts';
import { compareRuns, DEFAULT_DECISION, noiseFromPairs, simulateDecisionRule } from '../harness/regression.ts';
import { mean, median, olympicMean, oneSampleTTest, std, twoSampleTTest } from '../harness/stats.ts';

// Student's sleep data (R: datasets::sleep), extra hours of sleep under two drugs, same 10 patients.
const drug1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
const drug2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];
const near = (actual: number, expected: number, digits: number) => assert.ok(Math.abs(actual - expected) < 10 ** -digits, `${actual} vs ${expected}`);

test('descriptive statistics: mean, std, median, olympic mean', () => {
  near(mean(drug1), 0.75, 12);
  near(std(drug1), 1.78901, 5);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(olympicMean([10, 1, 5, 6, 100]), 7); // drops 1 and 100
  assert.equal(olympicMean([4, 6]), 5);
});

test('one-sample t-test matches R: t.test(sleep$extra[1:10]) t = 1.3257, df = 9, p = 0.2176 two-sided', () => {
  const greater = oneSampleTTest(drug1, 0, 'greater');
  near(greater.statistic, 1.3257, 4);
  assert.equal(greater.df, 9);
  near(greater.pValue, 0.2176 / 2, 4);
  near(oneSampleTTest(drug1, 0, 'less').pValue, 1 - 0.2176 / 2, 4);
});

test('paired t-test (one-sample on differences) matches R: t = -4.0621, df = 9, p = 0.002833 two-sided', () => {
  const r = oneSampleTTest(drug1.map((x, i) => x - drug2[i]!), 0, 'less');
  near(r.statistic, -4.0621, 4);
  near(r.pValue, 0.002833 / 2, 5);
});

test("Welch and pooled two-sample t-tests match R's t.test(extra ~ group)", () => {
  const welch = twoSampleTTest(drug1, drug2, 'less');
  near(welch.statistic, -1.8608, 4);
  near(welch.df, 17.776, 3);
  near(welch.pValue, 0.07939 / 2, 5);
  const pooled = twoSampleTTest(drug1, drug2, 'less', true);
  assert.equal(pooled.df, 18);
  near(pooled.pValue, 0.07919 / 2, 5);
});

test('samples without spread are decided without dividing by zero', () => {
  assert.equal(oneSampleTTest([2.4, 2.4, 2.4], 2.46, 'less').pValue, 0);
  assert.equal(oneSampleTTest([2.5, 2.5], 2.46, 'less').pValue, 1);
  assert.equal(twoSampleTTest([300, 300], [300, 300], 'greater').pValue, 1);
  assert.throws(() => oneSampleTTest([1], 0, 'less'), /at least two/);
});

test('compareRuns: identical runs pass, a large consistent slowdown fails, a small significant one passes', () => {
  assert.equal(compareRuns([300, 350], [300, 350], true).verdict, 'no-regression');
  const slow = compareRuns([110, 121, 99, 132], [100, 110, 90, 120], true);
  assert.equal(slow.verdict, 'regression');
  near(slow.ratio, 1.1, 9);
  const tiny = compareRuns([102, 112.2, 91.8, 122.4], [100, 110, 90, 120], true);
  assert.equal(tiny.verdict, 'no-regression');
  assert.ok(tiny.pValue < DEFAULT_DECISION.alpha, 'significant, but below the minimum effect');
  assert.match(tiny.reason, /below the 5 % threshold/);
});

test('decision rule at the default run count and the measured noise: false alarms <= 1 %, power >= 90 % for a 10 % slowdown', () => {
  const common = { noiseCv: MEASURED_NOISE_CV, runs: DEFAULT_CI_RUNS, trials: 4000 };
  const falseAlarms = simulateDecisionRule({ ...common, slowdown: 0, seed: 11 });
  const power = simulateDecisionRule({ ...common, slowdown: 0.1, seed: 12 });
  assert.ok(falseAlarms <= 0.01, `false-alarm rate ${falseAlarms}`);
  assert.ok(power >= 0.9, `power ${power}`);
  // And the simulation is not vacuous: with too few runs the same noise leaves the rule underpowered.
  assert.ok(simulateDecisionRule({ ...common, runs: 2, slowdown: 0.1, seed: 13 }) < 0.9);
});

test('noiseFromPairs recovers the per-run noise of paired measurements', () => {
  assert.equal(noiseFromPairs([100, 100, 100], [100, 100, 100]), 0);
  assert.ok(noiseFromPairs([104, 97, 101, 99], [100, 100, 100, 100]) > 0.01);
});
