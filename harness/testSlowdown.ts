/**
 * A slowdown injected on purpose, to measure whether `speedrun ci` catches one (docs/ci.md, "Validation"): with
 * SPEEDRUN_TEST_SLOWDOWN=0.1 every optimizer step takes 10 % longer, the extra time spent asleep inside the
 * train clock. A run made with it is an override like --steps: unofficial, noted, never a record.
 */
import { UserError } from './errors.ts';

export const TEST_SLOWDOWN_ENV = 'SPEEDRUN_TEST_SLOWDOWN';

/** The fraction asked for in the environment (0 when unset); a bad value is bad input. */
export function testSlowdownFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[TEST_SLOWDOWN_ENV];
  if (raw === undefined || raw === '') return 0;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 10) throw new UserError(`${TEST_SLOWDOWN_ENV} must be a fraction from 0 to 10 (0.1 = every step 10 % slower), got "${raw}"`);
  return value;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Blocks this thread asleep for fraction × the step's measured time. Asleep rather than spinning: a busy loop on
 * a 2-core machine also slows the backend's own threads (one trial, 2026-12-01: a 10 % spin stretched the run by
 * 28 %); asleep, 20 trials of 10 % measured +9.7 % in time to target (docs/ci.md "Validation").
 */
export function stretch(stepMs: number, fraction: number): void {
  const ms = stepMs * fraction;
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}
