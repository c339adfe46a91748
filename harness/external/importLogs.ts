/**
 * `speedrun import --from <format> <folders or logs...>`, as an API: every log is read as an external run (one at
 * a time, in flat memory), every folder of logs judged under its track's rules, and the runs stored, self-reported,
 * in their own table. A log that cannot be read is listed with its reason and never half-stored; a second import
 * of the same logs adds nothing (a run's id is its log's sha256). Symbolic links are not followed, so nothing
 * outside the folders given is read, and nothing is written but the database.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../errors.ts';
import type { NewExternalRun, ResultsStore } from '../store/database.ts';
import { externalHardwareClass, finalEval, timeToTargetMs, type LogFormat, type LogParser } from './externalRun.ts';
import { forEachLine } from './logLines.ts';
import { judgeFolders, type FolderJudgement, type JudgedRun } from './judgeFolders.ts';
import { jsonlParser } from './jsonl.ts';
import { mllogParser } from './mllog.ts';
import { moddedNanogptParser } from './moddedNanogpt.ts';
import { externalTrackOf, KNOWN_TRACK_FOLDERS, type ExternalTrack } from './tracks.ts';

export const PARSERS: Record<LogFormat, () => LogParser> = { 'modded-nanogpt': moddedNanogptParser, mllog: mllogParser, jsonl: jsonlParser };

/** Which files of a folder are logs, per format. */
const LOG_FILE: Record<LogFormat, RegExp> = { 'modded-nanogpt': /\.(txt|log)$/, mllog: /\.(txt|log)$/, jsonl: /\.(jsonl|log|txt)$/ };
/** Text files in record folders that are no logs. */
const NOT_LOGS = /^(README|statistics|requirements|metadata|stderr|LICENSE)(\.|$)/i;

export interface LogImport {
  tracks: { track: ExternalTrack; folders: FolderJudgement[] }[];
  read: number;
  added: number;
  refused: { file: string; reason: string }[];
}

/** The log files under the paths given, sorted, never through a symbolic link. */
function logFiles(specs: string[], format: LogFormat): { root: string; file: string }[] {
  const found: { root: string; file: string }[] = [];
  const walk = (root: string, dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(root, full);
      else if (entry.isFile() && LOG_FILE[format].test(entry.name) && !NOT_LOGS.test(entry.name)) found.push({ root, file: full });
      else if (entry.isSymbolicLink() && LOG_FILE[format].test(entry.name)) found.push({ root, file: full }); // refused when read, with its reason
    }
  };
  for (const spec of specs) {
    const stat = fs.lstatSync(spec, { throwIfNoEntry: false });
    if (!stat) throw new UserError(`${spec}: no such log file or folder`);
    if (stat.isDirectory()) walk(path.resolve(spec), path.resolve(spec));
    else found.push({ root: path.dirname(path.resolve(spec)), file: path.resolve(spec) });
  }
  return found;
}

export function importLogs(specs: string[], options: { format: LogFormat; target?: number; track?: string }, store: ResultsStore): LogImport {
  if (options.target !== undefined && !Number.isFinite(options.target)) throw new UserError(`--target must be a number, got ${options.target}`);
  const byTrack = new Map<string, { track: ExternalTrack; runs: JudgedRun[] }>();
  const refused: LogImport['refused'] = [];
  let added = 0;
  const files = logFiles(specs, options.format);
  for (const { root, file } of files) {
    const relative = path.join(path.basename(root), path.relative(root, file));
    const track = externalTrackOf(file, options.target, options.track);
    if (!track) throw new UserError(`${file}: not under a known track's folder (${KNOWN_TRACK_FOLDERS.join(', ')}); give --target (and --track-name)`);
    const parser = PARSERS[options.format]();
    const read = forEachLine(file, (line) => parser.line(line));
    if (read.status === 'refused') {
      refused.push({ file: relative, reason: read.reason });
      continue;
    }
    const parsed = parser.end();
    if (parsed.status === 'refused') {
      refused.push({ file: relative, reason: parsed.reason });
      continue;
    }
    const run = parsed.run;
    const row: NewExternalRun = {
      id: read.sha256,
      format: run.format,
      track: track.id,
      target: track.target,
      file: relative,
      folder: path.dirname(relative),
      hardwareClass: externalHardwareClass(run),
      codeHash: run.codeHash,
      software: run.software,
      metric: run.metric.name,
      steps: run.steps,
      finalValue: finalEval(run).value,
      trainTimeMs: finalEval(run).trainTimeMs,
      timeToTargetMs: timeToTargetMs(run, track.target),
      evals: run.evals,
    };
    // Stored as it is read (one transaction a log), so memory holds only each run's final evaluation.
    added += store.addExternalRuns([row]);
    const entry = byTrack.get(track.id) ?? { track, runs: [] };
    entry.runs.push({ file: relative, finalValue: row.finalValue, trainTimeMs: row.trainTimeMs });
    byTrack.set(track.id, entry);
  }
  if (files.length === 0) throw new UserError(`no ${options.format} log files under ${specs.join(', ')}`);
  const tracks = [...byTrack.values()].map(({ track, runs }) => ({ track, folders: judgeFolders(runs, track.target) }));
  return { tracks, read: files.length - refused.length, added, refused };
}
