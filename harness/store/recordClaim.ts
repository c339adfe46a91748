/**
 * An accepted record as a file in the repository, the way modded-nanogpt keeps its records in git: `speedrun
 * submit` writes one to records/ beside the results database, and `speedrun import` takes it back in. The
 * database is a cache (git ignores it); the run bundles and these claims are the source of truth.
 *
 * A claim holds what the submitter said (description, contributors, runs) and when, never the verdict or the
 * statistics: import judges the runs again under the same rules, oldest claim first, so an edited claim (say, a
 * run dropped to improve the mean) is refused with its reason instead of entering the leaderboard.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../errors.ts';

export const CLAIM_KIND = 'speedrun-record-claim';
export const CLAIM_VERSION = 1;

export interface RecordClaim {
  kind: typeof CLAIM_KIND;
  version: typeof CLAIM_VERSION;
  /** ISO time of the accepted submission: the record's date on the leaderboard, and the order of re-judging. */
  submittedAt: string;
  trackId: string;
  recipes: string;
  description: string;
  contributors: string[];
  runIds: string[];
  /** `--min-runs` when the submission set it. */
  minRuns?: number;
}

/** The records/ folder that belongs to a results database. */
export const claimsDirFor = (databaseFile: string): string => path.join(path.dirname(databaseFile), 'records');

/** Writes the claim once (never overwrites) as `<time>-<track>-<recipes>.json`; returns its path. */
export function writeClaim(dir: string, claim: RecordClaim): string {
  const slug = `${claim.submittedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${claim.trackId}-${claim.recipes}`.replace(/[^A-Za-z0-9.+-]+/g, '_');
  const file = path.join(dir, `${slug}.json`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(claim, null, 2)}\n`, { flag: 'wx' });
  return file;
}

/** The claim in a parsed JSON file, or undefined when the file is something else (a run bundle). */
export function asClaim(parsed: unknown, file: string): RecordClaim | undefined {
  if (typeof parsed !== 'object' || parsed === null || (parsed as { kind?: unknown }).kind !== CLAIM_KIND) return undefined;
  const c = parsed as Partial<RecordClaim>;
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string');
  const valid =
    c.version === CLAIM_VERSION && typeof c.submittedAt === 'string' && !Number.isNaN(Date.parse(c.submittedAt)) && typeof c.trackId === 'string' &&
    typeof c.recipes === 'string' && typeof c.description === 'string' && strings(c.contributors) && strings(c.runIds) && c.runIds!.length > 0 &&
    (c.minRuns === undefined || (Number.isInteger(c.minRuns) && c.minRuns > 0));
  if (!valid) throw new UserError(`${file}: not a valid record claim (kind ${CLAIM_KIND}, version ${CLAIM_VERSION})`);
  return c as RecordClaim;
}
