/**
 * A mistake the user can fix (bad flag, unknown recipe, corrupt shard...). The CLI prints its message as one
 * line and exits with EXIT.badInput; anything else is a bug and keeps its stack trace.
 */
export class UserError extends Error {
  override name = 'UserError';

  /** The exit code the CLI leaves with: EXIT.badInput unless the error says otherwise (a bad bundle: rejected). */
  constructor(
    message: string,
    readonly exitCode?: number,
  ) {
    super(message);
  }
}

/** Filesystem errors that a user can fix (a path under a regular file, no permission, no space), by code. */
const FS_PROBLEMS: Record<string, string> = {
  ENOTDIR: 'a part of the path is a file, not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EEXIST: 'already exists',
  EISDIR: 'is a directory',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOENT: 'no such file or directory',
  ENAMETOOLONG: 'file name too long',
};

/** SQLite's errors that a user can fix (a full disk, a read-only or unopenable database), by better-sqlite3's code. */
const SQLITE_PROBLEMS: Record<string, string> = {
  SQLITE_FULL: 'database or disk is full',
  SQLITE_READONLY: 'the database is read-only',
  SQLITE_CANTOPEN: 'the database cannot be opened',
  SQLITE_IOERR: 'disk I/O error',
  SQLITE_NOTADB: 'not a database',
  SQLITE_CORRUPT: 'the database file is malformed',
};

/**
 * A filesystem or SQLite error as a one-line UserError (the one place they are mapped); anything else unchanged.
 * SQLite's extended codes (SQLITE_IOERR_WRITE) are read by their primary code.
 */
export function asUserError(error: unknown): unknown {
  const e = error as NodeJS.ErrnoException | null;
  if (e !== null && typeof e === 'object' && e.name === 'SqliteError' && typeof e.code === 'string') {
    const primary = Object.keys(SQLITE_PROBLEMS).find((code) => e.code === code || e.code!.startsWith(`${code}_`));
    if (primary) return new UserError(`results database: ${SQLITE_PROBLEMS[primary]} (${e.code}); nothing was lost from what was already stored`);
  }
  if (e === null || typeof e !== 'object' || e instanceof UserError || typeof e.code !== 'string' || !(e.code in FS_PROBLEMS)) return error;
  const where = typeof e.path === 'string' ? e.path : undefined;
  const problem = e.code === 'EEXIST' && e.syscall === 'mkdir' ? 'exists and is not a directory' : FS_PROBLEMS[e.code];
  return new UserError(`cannot ${e.syscall ?? 'use'} ${where ?? 'a path'}: ${problem} (${e.code})`);
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
  /** A trainer launched with `run --exec` failed: it crashed, could not start, or printed no readable log. */
  trainerFailed: 6,
  aborted: 130,
} as const;

/** Exit codes of `speedrun ci`, the convention CI systems act on. */
export const CI_EXIT = {
  noRegression: 0,
  regression: 1,
  error: 2,
  inconclusive: 3,
} as const;
