/**
 * A mistake the user can fix (bad flag, unknown recipe, corrupt shard...). The CLI prints its message as one
 * line and exits with EXIT.badInput; anything else is a bug and keeps its stack trace.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** Exit codes of `speedrun` (documented in the README). */
export const EXIT = {
  success: 0,
  bug: 1,
  badInput: 2,
  targetNotReached: 3,
  diverged: 4,
  /** `submit` refused the runs, or `verify` found an edited bundle. */
  rejected: 5,
  aborted: 130,
} as const;

/** Exit codes of `speedrun ci`, the convention CI systems act on. */
export const CI_EXIT = {
  noRegression: 0,
  regression: 1,
  error: 2,
} as const;
