/**
 * Names that become file names (run ids, shard prefixes, record slugs). Every path the harness builds from a
 * name read from a file, a database or the command line goes through `checkName` first: one pattern, no
 * separators, no leading dot, so `path.join(dir, name)` stays inside `dir`.
 */
import { UserError } from './errors.ts';

export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9+._-]{0,199}$/;
export const SAFE_NAME_RULE = 'letters, digits and + . _ - only, starting with a letter or digit, at most 200 characters';

export const isSafeName = (name: unknown): name is string => typeof name === 'string' && SAFE_NAME.test(name);

/** The name itself, or a one-line UserError saying what `what` must look like. */
export function checkName(what: string, name: string, exitCode?: number): string {
  if (!isSafeName(name)) throw new UserError(`${what} ${JSON.stringify(name)} is not a safe name (${SAFE_NAME_RULE})`, exitCode);
  return name;
}
