/**
 * The results database (SQLite through better-sqlite3): every run from its first second, its evaluation points,
 * submissions and records.
 *
 * No lost data: WAL mode with a busy timeout (several `speedrun` processes can write at once; each write is one
 * short transaction), a run's row is inserted as `running` before training starts and evaluation points land as
 * they are measured, and a `running` row whose process is gone (killed hard) is marked `aborted` the next time
 * anyone opens the database.
 */
import { engineLabel } from '../backends/engineLabel.ts';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { EXIT, UserError } from '../errors.ts';
import { hardwareClassOf, type HardwareFingerprint } from '../hardware.ts';
import type { ComputeFigures, EvalPoint, RunRecord } from '../records.ts';
import type { RunBundle } from './bundle.ts';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.ts';

export type StoredStatus = RunRecord['status'] | 'running';

/** A run as the database holds it (numbers are null while it is running or when never reached). */
export interface StoredRun {
  id: string;
  status: StoredStatus;
  reason: string;
  trackId: string;
  trackName: string;
  trackVersion: number;
  dataHash: string;
  target: number;
  official: boolean;
  recipes: string;
  config: RunRecord['config'];
  seed: number;
  backend: string;
  /** Data-parallel worker threads (1: trained in the run's own thread). */
  workers: number;
  codeHash: string;
  hardwareClass: string;
  host: string;
  startedAt: string;
  finishedAt: string | null;
  trainTimeMs: number | null;
  timeToTargetMs: number | null;
  wallTimeMs: number | null;
  steps: number | null;
  tokens: number | null;
  stepsToTarget: number | null;
  tokensToTarget: number | null;
  finalValLoss: number | null;
  tokensPerSec: number | null;
  bundlePath: string | null;
  /** Compute accounting (null: unknown, e.g. rows from before it was counted). */
  modelFlopsPerStep: number | null;
  executedFlopsPerStep: number | null;
  flopsToTarget: number | null;
  mfu: number | null;
  peakFlops: number | null;
  peakMethod: string | null;
  pricePerHour: number | null;
  costToTarget: number | null;
}

/** What is known when a run starts. */
export interface RunStart {
  runId: string;
  track: RunRecord['track'];
  recipes: string[];
  config: RunRecord['config'];
  backend: RunRecord['backend'];
  environment: RunRecord['environment'];
  hardware: HardwareFingerprint;
  codeHash: string;
  /** Data-parallel worker threads; 1 when absent. */
  workers?: number;
}

export interface StoredRecord {
  id: number;
  submissionId: number;
  createdAt: string;
  trackId: string;
  hardwareClass: string;
  recipes: string;
  description: string;
  contributors: string[];
  codeHash: string;
  backend: string;
  runs: number;
  timeToTargetMs: number;
  timeToTargetStdMs: number;
  olympicMeanMs: number;
  stepsToTarget: number;
  tokensToTarget: number;
  pValue: number;
  runIds: string[];
}

export interface NewSubmission {
  trackId: string;
  recipes: string;
  description: string;
  contributors: string[];
  runIds: string[];
  status: 'accepted' | 'refused';
  checks: unknown;
}

export type NewRecord = Omit<StoredRecord, 'id' | 'submissionId' | 'createdAt'>;

/** An external run (another trainer's, from its log) as it is stored: self-reported, never mixed with runs. */
export interface NewExternalRun {
  id: string;
  format: string;
  track: string;
  target: number;
  file: string;
  folder: string;
  hardwareClass: string;
  codeHash: string | null;
  software: Record<string, string>;
  metric: string;
  steps: number;
  finalValue: number;
  trainTimeMs: number;
  timeToTargetMs: number | null;
  evals: { step: number; value: number; trainTimeMs: number }[];
}

export type StoredExternalRun = Omit<NewExternalRun, 'software' | 'evals'>;

/** A launched trainer's run as the exec stage hands it to the store (harness/external/execRun.ts's ExecRecord). */
export interface ExecRunRow {
  runId: string;
  status: string;
  reason: string;
  command: string;
  format: string;
  track: string;
  target: number;
  codeHash: string;
  startedAt: string;
  wallTimeMs: number;
  trainTimeMs: number | null;
  timeToTargetMs: number | null;
  steps: number | null;
  finalValue: number | null;
  hardwareClass: string;
  software: Record<string, string>;
  evals: { step: number; value: number; trainTimeMs: number }[];
}

export interface StoredExecRun {
  id: string;
  status: string;
  reason: string;
  command: string;
  format: string;
  track: string;
  target: number;
  wallTimeMs: number | null;
  trainTimeMs: number | null;
  timeToTargetMs: number | null;
  steps: number | null;
  finalValue: number | null;
  hardwareClass: string | null;
  bundlePath: string | null;
}

/** Default database: $SPEEDRUN_DB, else speedrun.db in the results directory. */
export function defaultDatabasePath(resultsDir: string): string {
  return path.resolve(process.env.SPEEDRUN_DB || path.join(resultsDir, 'speedrun.db'));
}

type Row = Record<string, unknown>;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A row's columns under their camelCase names (the SQL names are snake_case): the one row -> object mapping. */
function columns<K extends string>(row: Row, keys: readonly K[]): Record<K, unknown> {
  return Object.fromEntries(keys.map((key) => [key, row[key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)]])) as Record<K, unknown>;
}

const RUN_COLUMNS = [
  'id', 'status', 'reason', 'trackId', 'trackName', 'trackVersion', 'dataHash', 'target', 'recipes', 'seed', 'backend', 'workers', 'codeHash',
  'hardwareClass', 'host', 'startedAt', 'finishedAt', 'trainTimeMs', 'timeToTargetMs', 'wallTimeMs', 'steps', 'tokens', 'stepsToTarget',
  'tokensToTarget', 'finalValLoss', 'tokensPerSec', 'bundlePath', 'modelFlopsPerStep', 'executedFlopsPerStep', 'flopsToTarget', 'mfu',
  'peakFlops', 'peakMethod', 'pricePerHour', 'costToTarget',
] as const satisfies readonly (keyof StoredRun)[];

const EXTERNAL_RUN_COLUMNS = [
  'id', 'format', 'track', 'target', 'file', 'folder', 'hardwareClass', 'codeHash', 'metric', 'steps', 'finalValue', 'trainTimeMs', 'timeToTargetMs',
] as const satisfies readonly (keyof StoredExternalRun)[];

const EXEC_RUN_COLUMNS = [
  'id', 'status', 'reason', 'command', 'format', 'track', 'target', 'wallTimeMs', 'trainTimeMs', 'timeToTargetMs', 'steps', 'finalValue', 'hardwareClass', 'bundlePath',
] as const satisfies readonly (keyof StoredExecRun)[];

const RECORD_COLUMNS = [
  'id', 'submissionId', 'createdAt', 'trackId', 'hardwareClass', 'recipes', 'description', 'codeHash', 'backend', 'runs', 'timeToTargetMs',
  'timeToTargetStdMs', 'olympicMeanMs', 'stepsToTarget', 'tokensToTarget', 'pValue',
] as const satisfies readonly (keyof StoredRecord)[];

// Every field is mapped: a field added to StoredRun or StoredRecord without its column fails to compile here.
type Unmapped<T, K> = Exclude<keyof T, K>;
const _runsMapped: [Unmapped<StoredRun, (typeof RUN_COLUMNS)[number] | 'official' | 'config'>] extends [never] ? true : never = true;
const _recordsMapped: [Unmapped<StoredRecord, (typeof RECORD_COLUMNS)[number] | 'contributors' | 'runIds'>] extends [never] ? true : never = true;
void _runsMapped;
void _recordsMapped;

function toRun(r: Row): StoredRun {
  return { ...columns(r, RUN_COLUMNS), official: r.official === 1, config: JSON.parse(r.config as string) as RunRecord['config'] } as StoredRun;
}

function toRecord(r: Row, runIds: string[]): StoredRecord {
  return { ...columns(r, RECORD_COLUMNS), contributors: JSON.parse(r.contributors as string) as string[], runIds } as StoredRecord;
}

export class ResultsStore {
  readonly db: Database.Database;
  /** Problems found on opening that do not stop its use (the CLI prints them). */
  readonly warnings: string[] = [];

  private constructor(readonly file: string, maxVersion: number) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    try {
      this.db = new Database(file, { timeout: 30_000 }); // busy timeout: wait for other writers, never fail
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('foreign_keys = ON');
      this.migrate(maxVersion);
      const check = this.db.pragma('quick_check', { simple: true });
      if (check !== 'ok') {
        this.warnings.push(`results database ${file} fails SQLite's quick_check (${String(check).split('\n')[0]}): copy it aside and rebuild it with \`speedrun import results/bundles results/records\``);
      }
    } catch (error) {
      if (error instanceof UserError) throw error;
      if (error instanceof Database.SqliteError) throw new UserError(`results database ${file}: ${error.message}`);
      throw error;
    }
  }

  /** Opens (creating and migrating) a database; `maxVersion` exists so tests can build an older one. */
  static open(file: string, options: { maxVersion?: number; reconcile?: boolean } = {}): ResultsStore {
    const store = new ResultsStore(path.resolve(file), options.maxVersion ?? SCHEMA_VERSION);
    if (options.reconcile ?? true) store.reconcileAbandoned();
    return store;
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  private migrate(maxVersion: number): void {
    // IMMEDIATE: two processes opening a fresh database at once must not both apply migration 1.
    this.db.transaction(() => {
      const current = this.schemaVersion;
      if (current > SCHEMA_VERSION) {
        throw new UserError(`results database ${this.file} has schema version ${current}, newer than this speedrun (${SCHEMA_VERSION}): upgrade speedrun`);
      }
      for (const m of MIGRATIONS) {
        if (m.version > current && m.version <= maxVersion) {
          this.db.exec(m.sql);
          m.apply?.(this.db);
          this.db.pragma(`user_version = ${m.version}`);
        }
      }
    }).immediate();
  }

  /** Runs left `running` by a process that no longer exists on this host were killed: mark them aborted. */
  reconcileAbandoned(): number {
    const host = os.hostname();
    const rows = this.db.prepare("SELECT id, pid FROM runs WHERE status = 'running' AND host = ?").all(host) as { id: string; pid: number }[];
    const dead = rows.filter((r) => r.pid !== process.pid && !isAlive(r.pid));
    const mark = this.db.prepare(
      "UPDATE runs SET status = 'aborted', reason = ?, finished_at = ? WHERE id = ? AND status = 'running'",
    );
    for (const r of dead) mark.run(`process ${r.pid} ended without finishing the run (killed)`, new Date().toISOString(), r.id);
    // Launched trainers (run --exec) whose speedrun was killed hard: the same rule (this host's pids only).
    const execRows = this.schemaVersion >= 8 ? (this.db.prepare("SELECT id, pid FROM exec_runs WHERE status = 'running' AND pid IS NOT NULL").all() as { id: string; pid: number }[]) : [];
    const deadExec = execRows.filter((r) => r.pid !== process.pid && !isAlive(r.pid));
    for (const r of deadExec) {
      this.db.prepare("UPDATE exec_runs SET status = 'aborted', reason = ?, pid = NULL WHERE id = ? AND status = 'running'").run(`process ${r.pid} ended without finishing the run (killed)`, r.id);
    }
    return dead.length + deadExec.length;
  }

  startRun(start: RunStart): void {
    this.db
      .prepare(
        `INSERT INTO runs (id, status, track_id, track_name, track_version, data_hash, target, official, recipes, config, seed,
           backend, backend_info, environment, code_hash, host, pid, started_at, hardware, hardware_class, workers)
         VALUES (@id, 'running', @trackId, @trackName, @trackVersion, @dataHash, @target, @official, @recipes, @config, @seed,
           @backend, @backendInfo, @environment, @codeHash, @host, @pid, @startedAt, @hardware, @hardwareClass, @workers)`,
      )
      .run({
        id: start.runId,
        trackId: start.track.id,
        trackName: start.track.name,
        trackVersion: start.track.version,
        dataHash: start.track.dataHash,
        target: start.track.target,
        official: start.track.official ? 1 : 0,
        recipes: start.recipes.join(','),
        config: JSON.stringify(start.config),
        seed: start.config.train.seed,
        backend: engineLabel(start.backend), // native's kernels-only build is its own engine
        backendInfo: JSON.stringify(start.backend),
        environment: JSON.stringify(start.environment),
        codeHash: start.codeHash,
        host: os.hostname(),
        pid: process.pid,
        startedAt: new Date().toISOString(),
        hardware: JSON.stringify(start.hardware),
        // Recomputed from the fingerprint, never taken from the stored string: a class cannot be claimed.
        hardwareClass: hardwareClassOf(start.hardware),
        workers: start.workers ?? 1,
      });
  }

  /** A run that ended in a crash (a bug): keep its row and points, say why. */
  abandonRun(runId: string, reason: string): void {
    this.db.prepare("UPDATE runs SET status = 'aborted', reason = ?, finished_at = ? WHERE id = ? AND status = 'running'").run(reason, new Date().toISOString(), runId);
  }

  addEval(runId: string, point: EvalPoint): void {
    this.db
      .prepare('INSERT OR REPLACE INTO eval_points (run_id, step, tokens, train_time_ms, val_loss) VALUES (?, ?, ?, ?, ?)')
      .run(runId, point.step, point.tokens, point.trainTimeMs, point.valLoss);
  }

  /** Fills in a run's outcome (and its bundle); inserts the row first when it came from elsewhere (import). */
  finishRun(record: RunRecord, bundle?: { path: string; checksum: string }): void {
    const write = this.db.transaction(() => {
      const exists = this.db.prepare('SELECT 1 FROM runs WHERE id = ?').get(record.runId) !== undefined;
      if (!exists) {
        this.startRun({ ...record, hardware: record.hardware, workers: record.parallel?.workers ?? 1 });
        this.db.prepare('UPDATE runs SET host = ?, pid = 0, started_at = ? WHERE id = ?').run(record.environment.hostname, record.createdAt, record.runId);
      }
      this.db
        .prepare(
          `UPDATE runs SET status = @status, reason = @reason, finished_at = @finishedAt, train_time_ms = @trainTimeMs,
             time_to_target_ms = @timeToTargetMs, wall_time_ms = @wallTimeMs, steps = @steps, tokens = @tokens,
             steps_to_target = @stepsToTarget, tokens_to_target = @tokensToTarget, final_val_loss = @finalValLoss,
             best_val_loss = @bestValLoss, tokens_per_sec = @tokensPerSec, peak_rss_mib = @peakRssMiB,
             bundle_path = @bundlePath, bundle_checksum = @bundleChecksum, workers = @workers
           WHERE id = @runId`,
        )
        .run({
          runId: record.runId,
          status: record.status,
          reason: record.reason,
          finishedAt: record.createdAt,
          trainTimeMs: record.trainTimeMs,
          timeToTargetMs: record.timeToTargetMs,
          wallTimeMs: record.wallTimeMs,
          steps: record.steps,
          tokens: record.tokens,
          stepsToTarget: record.stepsToTarget,
          tokensToTarget: record.tokensToTarget,
          finalValLoss: record.finalValLoss,
          bestValLoss: record.bestValLoss,
          tokensPerSec: record.tokensPerSec,
          peakRssMiB: record.peakRssMiB,
          bundlePath: bundle?.path ?? null,
          bundleChecksum: bundle?.checksum ?? null,
          workers: record.parallel?.workers ?? 1,
        });
      // Compute columns exist from migration 5 (a store opened at an older version, as tests of migrations do, has none).
      if (this.schemaVersion >= 5) {
        this.db
          .prepare(
            `UPDATE runs SET model_flops_per_step = @modelFlopsPerStep, executed_flops_per_step = @executedFlopsPerStep,
               flops_to_target = @flopsToTarget, mfu = @mfu, peak_flops = @peakFlops, peak_method = @peakMethod,
               price_per_hour = @pricePerHour, cost_to_target = @costToTarget
             WHERE id = @runId`,
          )
          .run({
            runId: record.runId,
            modelFlopsPerStep: record.compute?.modelFlopsPerStep ?? null,
            executedFlopsPerStep: record.compute?.executedFlopsPerStep ?? null,
            flopsToTarget: record.compute?.flopsToTarget ?? null,
            mfu: record.compute?.mfu ?? null,
            peakFlops: record.compute?.peak?.flopsPerSec ?? null,
            peakMethod: record.compute?.peak?.method ?? null,
            pricePerHour: record.compute?.pricePerHour ?? null,
            costToTarget: record.compute?.costToTarget ?? null,
          });
      }
      for (const point of record.evals) this.addEval(record.runId, point);
    });
    write.immediate();
  }

  /** A suite run's row, from its start (its runs are added as they finish). */
  startSuite(suite: { id: string; backend: string; hardwareClass: string; recipeSets: string[]; heldout: unknown }): void {
    this.db
      .prepare('INSERT INTO suites (id, created_at, backend, hardware_class, recipe_sets, heldout) VALUES (?, ?, ?, ?, ?, ?)')
      .run(suite.id, new Date().toISOString(), suite.backend, suite.hardwareClass, JSON.stringify(suite.recipeSets), JSON.stringify(suite.heldout ?? null));
  }

  addSuiteRun(suiteId: string, runId: string, workload: string, role: 'timed' | 'reference'): void {
    this.db.prepare('INSERT OR REPLACE INTO suite_runs (suite_id, run_id, workload, role) VALUES (?, ?, ?, ?)').run(suiteId, runId, workload, role);
  }

  finishSuite(suiteId: string, report: unknown): void {
    this.db.prepare('UPDATE suites SET report = ? WHERE id = ?').run(JSON.stringify(report), suiteId);
  }

  /** Finished suites' reports as stored (JSON text: the reader validates them), oldest first. */
  suiteReports(): { id: string; report: string }[] {
    return this.db.prepare('SELECT id, report FROM suites WHERE report IS NOT NULL ORDER BY created_at, id').all() as { id: string; report: string }[];
  }

  suiteRuns(suiteId: string): { runId: string; workload: string; role: string }[] {
    return (this.db.prepare('SELECT run_id, workload, role FROM suite_runs WHERE suite_id = ? ORDER BY run_id').all(suiteId) as Row[]).map((r) => ({ runId: r.run_id as string, workload: r.workload as string, role: r.role as string }));
  }

  /** The peak stored for a hardware class and backend (speedrun calibrate, or a run's first measurement). */
  peak(hardwareClass: string, backend: string): { flopsPerSec: number; method: string; measuredAt: string } | undefined {
    const row = this.db.prepare('SELECT flops_per_sec, method, measured_at FROM peaks WHERE hardware_class = ? AND backend = ?').get(hardwareClass, backend) as Row | undefined;
    return row ? (columns(row, ['flopsPerSec', 'method', 'measuredAt'] as const) as { flopsPerSec: number; method: string; measuredAt: string }) : undefined;
  }

  savePeak(hardwareClass: string, backend: string, peak: { flopsPerSec: number; method: string }, measuredAt = new Date().toISOString()): void {
    this.db
      .prepare('INSERT INTO peaks (hardware_class, backend, flops_per_sec, method, measured_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (hardware_class, backend) DO UPDATE SET flops_per_sec = excluded.flops_per_sec, method = excluded.method, measured_at = excluded.measured_at')
      .run(hardwareClass, backend, peak.flopsPerSec, peak.method, measuredAt);
  }

  /** Merges a bundle's run: added, or unchanged when the same bundle is already there. */
  /**
   * `compute`: figures computed at import for a bundle written before they were counted (the bundle file itself
   * is not changed); they also fill in a row imported before, whose figures are still unknown.
   */
  importBundle(bundle: RunBundle, bundlePath: string, compute?: ComputeFigures): 'added' | 'unchanged' | 'replaced' {
    const flopsColumn = this.schemaVersion >= 5 ? 'model_flops_per_step' : '0 AS model_flops_per_step';
    const existing = this.db.prepare(`SELECT status, bundle_checksum, ${flopsColumn} FROM runs WHERE id = ?`).get(bundle.run.runId) as
      | { status: string; bundle_checksum: string | null; model_flops_per_step: number | null }
      | undefined;
    if (existing?.bundle_checksum === bundle.checksum) {
      if (compute && existing.model_flops_per_step === null) this.finishRun({ ...bundle.run, compute } as RunRecord, { path: path.resolve(bundlePath), checksum: bundle.checksum });
      return 'unchanged';
    }
    if (existing && existing.bundle_checksum !== null) {
      throw new UserError(`run ${bundle.run.runId} is already in the database with a different bundle (${existing.bundle_checksum})`, EXIT.rejected);
    }
    this.finishRun(compute ? ({ ...bundle.run, compute } as RunRecord) : bundle.run, { path: path.resolve(bundlePath), checksum: bundle.checksum });
    return existing ? 'replaced' : 'added';
  }

  run(id: string): StoredRun | undefined {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Row | undefined;
    return row ? toRun(row) : undefined;
  }

  /** The JSON details a run page shows: environment, hardware fingerprint, backend. */
  runDetails(id: string): { environment: unknown; hardware: unknown; backend: unknown } | undefined {
    const row = this.db.prepare('SELECT environment, hardware, backend_info FROM runs WHERE id = ?').get(id) as Record<string, string> | undefined;
    return row && { environment: JSON.parse(row.environment!), hardware: JSON.parse(row.hardware!), backend: JSON.parse(row.backend_info!) };
  }

  runs(filter: { trackId?: string; recipes?: string; status?: StoredStatus } = {}): StoredRun[] {
    const where: string[] = [];
    const values: unknown[] = [];
    if (filter.trackId) (where.push('track_id = ?'), values.push(filter.trackId));
    if (filter.recipes) (where.push('recipes = ?'), values.push(filter.recipes));
    if (filter.status) (where.push('status = ?'), values.push(filter.status));
    const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at, id`;
    return (this.db.prepare(sql).all(...values) as Row[]).map(toRun);
  }

  evals(runId: string): EvalPoint[] {
    return (this.db.prepare('SELECT step, tokens, train_time_ms, val_loss FROM eval_points WHERE run_id = ? ORDER BY step').all(runId) as Row[]).map((r) => ({
      step: r.step as number,
      tokens: r.tokens as number,
      trainTimeMs: r.train_time_ms as number,
      valLoss: r.val_loss as number,
    }));
  }

  /** Records, oldest first; of one track (and hardware class) when given. */
  records(filter: { trackId?: string; hardwareClass?: string } = {}): StoredRecord[] {
    const where: string[] = [];
    const values: unknown[] = [];
    if (filter.trackId) (where.push('track_id = ?'), values.push(filter.trackId));
    if (filter.hardwareClass) (where.push('hardware_class = ?'), values.push(filter.hardwareClass));
    const rows = this.db.prepare(`SELECT * FROM records ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id`).all(...values) as Row[];
    const runsOf = this.db.prepare('SELECT run_id FROM record_runs WHERE record_id = ? ORDER BY run_id');
    return rows.map((r) => toRecord(r, (runsOf.all(r.id) as { run_id: string }[]).map((x) => x.run_id)));
  }

  /** The record to beat: the latest on this track and hardware class. */
  currentRecord(trackId: string, hardwareClass: string): StoredRecord | undefined {
    return this.records({ trackId, hardwareClass }).at(-1);
  }

  /**
   * Stores a submission and, when accepted, its record; one transaction. Returns the record id if any.
   * `createdAt`: now, or the original time of a record judged again from its claim file.
   */
  addSubmission(submission: NewSubmission, record?: NewRecord, createdAt = new Date().toISOString()): number | undefined {
    return this.db.transaction(() => {
      const { lastInsertRowid: submissionId } = this.db
        .prepare('INSERT INTO submissions (created_at, track_id, recipes, description, contributors, run_ids, status, checks) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(createdAt, submission.trackId, submission.recipes, submission.description, JSON.stringify(submission.contributors), JSON.stringify(submission.runIds), submission.status, JSON.stringify(submission.checks));
      if (!record) return undefined;
      const { lastInsertRowid: recordId } = this.db
        .prepare(
          `INSERT INTO records (submission_id, created_at, track_id, hardware_class, recipes, description, contributors, code_hash, backend,
             runs, time_to_target_ms, time_to_target_std_ms, olympic_mean_ms, steps_to_target, tokens_to_target, p_value)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(submissionId, createdAt, record.trackId, record.hardwareClass, record.recipes, record.description, JSON.stringify(record.contributors), record.codeHash, record.backend,
          record.runs, record.timeToTargetMs, record.timeToTargetStdMs, record.olympicMeanMs, record.stepsToTarget, record.tokensToTarget, record.pValue);
      const link = this.db.prepare('INSERT INTO record_runs (record_id, run_id) VALUES (?, ?)');
      for (const runId of record.runIds) link.run(recordId, runId);
      return Number(recordId);
    }).immediate();
  }

  /** External runs (other trainers' logs), one transaction; a log already stored is left as it is. Returns how many were new. */
  addExternalRuns(runs: readonly NewExternalRun[]): number {
    const insert = this.db.prepare(
      `INSERT OR IGNORE INTO external_runs (id, format, track, target, file, folder, hardware_class, code_hash, software, metric, steps, final_value, train_time_ms, time_to_target_ms, evals, imported_at)
       VALUES (@id, @format, @track, @target, @file, @folder, @hardwareClass, @codeHash, @software, @metric, @steps, @finalValue, @trainTimeMs, @timeToTargetMs, @evals, @importedAt)`,
    );
    const importedAt = new Date().toISOString();
    return this.atomically(() => runs.reduce((added, r) => added + insert.run({ ...r, software: JSON.stringify(r.software), evals: JSON.stringify(r.evals), importedAt }).changes, 0));
  }

  /** External runs as stored, by track and folder. */
  externalRuns(track?: string): StoredExternalRun[] {
    const rows = (track === undefined ? this.db.prepare('SELECT * FROM external_runs ORDER BY track, folder, file') .all() : this.db.prepare('SELECT * FROM external_runs WHERE track = ? ORDER BY folder, file').all(track)) as Row[];
    return rows.map((r) => columns(r, EXTERNAL_RUN_COLUMNS) as StoredExternalRun);
  }

  /** A launched trainer's row, from its first second (status running). */
  startExecRun(run: { id: string; command: string; format: string; track: string; target: number; startedAt: string; codeHash: string }): void {
    this.db
      .prepare("INSERT INTO exec_runs (id, status, command, format, track, target, code_hash, started_at, pid) VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?)")
      .run(run.id, run.command, run.format, run.track, run.target, run.codeHash, run.startedAt, process.pid);
  }

  /** A launched trainer's outcome and its bundle (inserted whole when it comes from an imported bundle). */
  finishExecRun(run: ExecRunRow, bundle: { path: string; checksum: string }): 'added' | 'unchanged' {
    const existing = this.db.prepare('SELECT bundle_checksum FROM exec_runs WHERE id = ?').get(run.runId) as { bundle_checksum: string | null } | undefined;
    if (existing?.bundle_checksum === bundle.checksum) return 'unchanged';
    if (existing?.bundle_checksum) throw new UserError(`exec run ${run.runId} is already in the database with a different bundle`, EXIT.rejected);
    this.db
      .prepare(
        `INSERT INTO exec_runs (id, status, reason, command, format, track, target, code_hash, started_at, pid, wall_time_ms, train_time_ms, time_to_target_ms, steps, final_value, hardware_class, software, evals, bundle_path, bundle_checksum)
         VALUES (@runId, @status, @reason, @command, @format, @track, @target, @codeHash, @startedAt, NULL, @wallTimeMs, @trainTimeMs, @timeToTargetMs, @steps, @finalValue, @hardwareClass, @software, @evals, @bundlePath, @bundleChecksum)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, reason = excluded.reason, pid = NULL, wall_time_ms = excluded.wall_time_ms, train_time_ms = excluded.train_time_ms,
           time_to_target_ms = excluded.time_to_target_ms, steps = excluded.steps, final_value = excluded.final_value, hardware_class = excluded.hardware_class,
           software = excluded.software, evals = excluded.evals, bundle_path = excluded.bundle_path, bundle_checksum = excluded.bundle_checksum`,
      )
      .run({
        runId: run.runId, status: run.status, reason: run.reason, command: run.command, format: run.format, track: run.track, target: run.target, codeHash: run.codeHash,
        startedAt: run.startedAt, wallTimeMs: run.wallTimeMs, trainTimeMs: run.trainTimeMs, timeToTargetMs: run.timeToTargetMs, steps: run.steps, finalValue: run.finalValue,
        hardwareClass: run.hardwareClass, software: JSON.stringify(run.software), evals: JSON.stringify(run.evals), bundlePath: bundle.path, bundleChecksum: bundle.checksum,
      });
    return 'added';
  }

  execRuns(): StoredExecRun[] {
    return (this.db.prepare('SELECT * FROM exec_runs ORDER BY started_at, id').all() as Row[]).map((r) => columns(r, EXEC_RUN_COLUMNS) as StoredExecRun);
  }

  /** Runs `write` as one transaction: every row it writes lands, or none does (nested calls become savepoints). */
  atomically<T>(write: () => T): T {
    return this.db.transaction(write).immediate();
  }

  /** The suites (other than `exceptSuite`) that already time any of these runs. */
  suitesTiming(runIds: string[], exceptSuite: string): string[] {
    const query = this.db.prepare("SELECT DISTINCT suite_id FROM suite_runs WHERE run_id = ? AND role = 'timed' AND suite_id != ?");
    return [...new Set(runIds.flatMap((id) => (query.all(id, exceptSuite) as { suite_id: string }[]).map((r) => r.suite_id)))];
  }

  /**
   * Removes a suite row that never got its report (its process was killed) and its links, so the suite can be
   * imported or run again under its id. A finished suite is never removed.
   */
  dropUnfinishedSuite(suiteId: string): void {
    this.atomically(() => {
      const row = this.db.prepare('SELECT report FROM suites WHERE id = ?').get(suiteId) as { report: string | null } | undefined;
      if (!row || row.report !== null) return;
      this.db.prepare('DELETE FROM suite_runs WHERE suite_id = ?').run(suiteId);
      this.db.prepare('DELETE FROM suites WHERE id = ?').run(suiteId);
    });
  }

  close(): void {
    this.db.close();
  }
}
