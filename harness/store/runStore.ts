/**
 * The store stage of a run: its record reaches the database first (so nothing measured is lost), then run.json
 * beside its event log, then the immutable bundle, then the database learns the bundle. A bundle that cannot be
 * written is a one-line error that says the run itself is recorded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { asUserError, UserError } from '../errors.ts';
import { readEventLog } from '../events.ts';
import type { RunRecord } from '../records.ts';
import { createBundle, writeBundle } from './bundle.ts';
import type { ResultsStore } from './database.ts';

export function storeRun(record: RunRecord, files: Record<string, string>, store: ResultsStore | undefined): RunRecord {
  store?.finishRun(record);
  const runDir = path.dirname(record.eventLog);
  fs.writeFileSync(path.join(runDir, 'run.json'), `${JSON.stringify(record, null, 2)}\n`);
  const bundle = createBundle(record, readEventLog(record.eventLog), files);
  try {
    writeBundle(bundle, record.bundle);
  } catch (error) {
    const why = asUserError(error);
    throw new UserError(`run ${record.runId} finished (${record.status}) and is recorded in the database and ${runDir}, but its bundle could not be written: ${why instanceof Error ? why.message : String(why)}`);
  }
  store?.finishRun(record, { path: record.bundle, checksum: bundle.checksum });
  return record;
}
