/** Statistics against textbook values (R's `sleep` data), and the CI decision rule validated by simulation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decidePairs, robustTime, stepTimesOf, type MeasuredRun } from '../harness/ci.ts';
import {
  compareRuns,
  DEFAULT_DECISION,
  DEFAULT_SEQUENTIAL,
  noiseFromPairs,
  operatingCharacteristics,
  sequentialDesign,
  sequentialLook,
  simulateDecisionRule,
  simulateSequential,
} from '../harness/regression.ts';
import { crossingProbabilities, obrienFlemingSpending, pocockSpending, spendingBoundaries } from '../harness/sequential.ts';
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

test('fixed decision rule (bundle baselines) at 6 runs and 2.2 % noise: false alarms <= 1 %, power >= 90 % for a 10 % slowdown', () => {
  const common = { noiseCv: 0.022, runs: 6, trials: 4000 };
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

test('repeated significance tests at 1.96: the crossing probabilities of Armitage, McPherson and Rowe (1969)', () => {
  // One-sided first-crossing probability of |Z_k| >= 1.96 over K equally spaced looks: 0.042, 0.063, 0.097, 0.124
  // (the two-sided 0.083, 0.126, 0.193, 0.248 halved; gsDesign's unit test "test.Deming.gsProb").
  const z = 1.959963984540054;
  for (const [looks, expected] of [[2, 0.042], [4, 0.063], [10, 0.097], [20, 0.124]] as const) {
    const info = Array.from({ length: looks }, (_, i) => i + 1);
    const p = crossingProbabilities(info, info.map(() => -z), info.map(() => z));
    near(p.upper.reduce((a, b) => a + b, 0), expected, 3);
    near(p.lower.reduce((a, b) => a + b, 0), expected, 3);
  }
  // With drift the upper crossings grow: a one-look design's power is the normal tail, 1 - Phi(0.96).
  near(crossingProbabilities([1], [-Infinity], [1.96], 1).upper[0]!, 0.1685, 3);
});

test('error-spending boundaries match the published Lan-DeMets values', () => {
  // gsDesign(k = 5, test.type = 1, alpha = 0.025, sfu = sfLDOF): 4.877 3.357 2.680 2.290 2.031; k = 3: 3.710 2.511 1.993.
  const round = (xs: number[]) => xs.map((x) => Math.round(x * 1000) / 1000);
  assert.deepEqual(round(spendingBoundaries([1, 2, 3, 4, 5], obrienFlemingSpending(0.025))), [4.877, 3.357, 2.68, 2.29, 2.031]);
  assert.deepEqual(round(spendingBoundaries([1, 2, 3], obrienFlemingSpending(0.025))), [3.71, 2.511, 1.993]);
  // Pocock-type spending: nearly flat boundaries, and each look first-crosses with exactly its increment.
  const info = [1, 2, 3, 4, 5];
  const flat = spendingBoundaries(info, pocockSpending(0.025));
  assert.ok(flat.every((b) => b > 2.3 && b < 2.5), String(flat));
  const crossings = crossingProbabilities(info, info.map(() => -Infinity), flat).upper;
  crossings.forEach((p, k) => near(p, pocockSpending(0.025)(info[k]! / 5) - pocockSpending(0.025)(k / 5), 6));
  // Unequal spacing spends by information fraction: the last boundary of any OBF design sits near 1.96-2.05.
  const uneven = spendingBoundaries([1, 1.5, 4], obrienFlemingSpending(0.025));
  assert.ok(uneven[0]! > uneven[1]! && uneven[1]! > uneven[2]! && uneven[2]! > 1.96 && uneven[2]! < 2.05, String(uneven));
});

test('sequential ci rule: <= alpha false alarms and >= 90 % power against a 10 % slowdown at 2-8 % noise per run', () => {
  const design = sequentialDesign(DEFAULT_SEQUENTIAL);
  for (const [i, noiseCv] of [0.02, 0.04, 0.06, 0.08].entries()) {
    const aa = simulateSequential({ noiseCv, slowdown: 0, trials: 2000, seed: 100 + i, design });
    const ab = simulateSequential({ noiseCv, slowdown: 0.1, trials: 2000, seed: 200 + i, design });
    assert.ok(aa.regression <= DEFAULT_SEQUENTIAL.alpha, `false alarms ${aa.regression} at ${noiseCv}`);
    assert.ok(ab.regression >= 0.9, `power ${ab.regression} at ${noiseCv}`);
    // A quiet machine decides in a few pairs; a noisy one takes more, within the cap.
    if (noiseCv === 0.02) assert.ok(aa.meanPairs < 5, `mean pairs ${aa.meanPairs}`);
    assert.ok(aa.meanPairs <= DEFAULT_SEQUENTIAL.maxPairs && ab.meanPairs > aa.meanPairs);
    // The power it states (normal theory) is close to what it does (t-tests on simulated pairs).
    const stated = operatingCharacteristics(design, noiseCv * Math.SQRT2, 0.1).regression;
    assert.ok(Math.abs(stated - ab.regression) < 0.04, `stated ${stated} vs simulated ${ab.regression}`);
  }
  // Not vacuous: capped at too few pairs, 8 % noise leaves the rule underpowered and often inconclusive.
  const short = sequentialDesign({ ...DEFAULT_SEQUENTIAL, maxPairs: 6 });
  const weak = simulateSequential({ noiseCv: 0.08, slowdown: 0.1, trials: 1000, seed: 300, design: short });
  assert.ok(weak.regression < 0.6 && weak.inconclusive > 0.3, JSON.stringify(weak));
});

test('sequential looks: no spread, a clear slowdown, a small real change, and inconclusive at the cap', () => {
  const design = sequentialDesign({ ...DEFAULT_SEQUENTIAL, maxPairs: 6 });
  assert.equal(sequentialLook([0, 0, 0, 0], design).verdict, 'no-regression');
  assert.equal(sequentialLook([0.2, 0.2, 0.2, 0.2], design).verdict, 'regression');
  assert.equal(sequentialLook([0.01, -0.01, 0.02, 0], design).verdict, 'no-regression');
  const small = sequentialLook([0.03, 0.031, 0.029, 0.03, 0.03, 0.0305], design);
  assert.equal(small.verdict, 'no-regression');
  assert.match(small.reason, /small change \(significant, below the 5 % threshold\)/);
  const noisy = [0.15, -0.1, 0.2, -0.05];
  assert.equal(sequentialLook(noisy, design).verdict, 'continue');
  const capped = sequentialLook([...noisy, 0.12, -0.02], design);
  assert.equal(capped.verdict, 'inconclusive');
  assert.match(capped.reason, /noise too high for a 10 % effect with 6 pairs/);
  assert.throws(() => sequentialLook([0, 0], design), /not one of the design's looks/);
});

test('ci decides pairs sequentially: outright regression on a missed target, an error on a missed baseline', () => {
  const run = (seed: number, ms: number | null, steps: number | null = 100): MeasuredRun => ({
    seed, status: ms === null ? 'budget_exhausted' : 'success', timeToTargetMs: ms, robustTimeMs: ms, stepsToTarget: ms === null ? null : steps, trainTimeMs: ms ?? 1000, runId: `r${seed}`,
  });
  const options = { ...DEFAULT_SEQUENTIAL, maxPairs: 8 };
  const pairs = (n: number, c: (i: number) => number | null) => Array.from({ length: n }, (_, i) => ({ seed: i, baseline: run(i, 1000 + i), candidate: run(i, c(i)) }));
  assert.equal(decidePairs(pairs(3, (i) => 1000 + i), 'time', options).verdict, 'continue');
  assert.equal(decidePairs(pairs(4, (i) => 1000 + i), 'time', options).verdict, 'no-regression');
  assert.equal(decidePairs(pairs(4, (i) => 1500 + i), 'time', options).verdict, 'regression'); // no spread: certain
  assert.equal(decidePairs(pairs(4, (i) => [1150, 1050, 1180, 1040][i]!), 'time', options).verdict, 'continue'); // early looks are strict
  assert.equal(decidePairs(pairs(8, (i) => 1500 + i * 1.5), 'time', options).verdict, 'regression');
  assert.match(decidePairs(pairs(2, (i) => (i === 1 ? null : 1000)), 'time', options).reason, /did not reach the target in 1 of 2 runs/);
  const missedBaseline = [{ seed: 0, baseline: run(0, null), candidate: run(0, 1000) }];
  assert.throws(() => decidePairs(missedBaseline, 'time', options), /the baseline did not reach the target/);
});

test('robust time is steps to target x the median step time; step times are read from the event log, hostile lines refused', () => {
  assert.equal(robustTime([10, 10, 500, 10, 12], 4), 40); // one slow step barely moves it
  assert.equal(robustTime([10, 10], 4), null);
  assert.equal(robustTime([10, 10], null), null);
  const line = (step: number, ms: unknown) => JSON.stringify({ key: 'train_loss', value: 1, metadata: { step, step_ms: ms } });
  assert.deepEqual(stepTimesOf(['{"key":"eval_loss"}', line(1, 5), `:::MLLOG ${line(2, 6)}`]), [5, 6]);
  assert.deepEqual(stepTimesOf([line(1, 5), line(3, 6)]), [], 'a gap in the steps');
  assert.deepEqual(stepTimesOf([line(1, 'x')]), [], 'not a number');
  assert.deepEqual(stepTimesOf(['{"key":"train_loss", bad json']), []);
});
