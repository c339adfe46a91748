/**
 * The results database's schema, as numbered migrations. SQLite's user_version holds the number applied;
 * opening a database applies the missing ones in one transaction. Never edit a released migration: add one.
 */
import type Database from 'better-sqlite3';
import { hardwareClassOf, type HardwareFingerprint } from '../hardware.ts';

export interface Migration {
  version: number;
  description: string;
  sql: string;
  /** A data step after the SQL, for what SQL cannot compute (in the same transaction). */
  apply?(db: Database.Database): void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'runs and their evaluation points',
    sql: `
      CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,            -- running | success | budget_exhausted | diverged | aborted
        reason TEXT NOT NULL DEFAULT '',
        track_id TEXT NOT NULL,          -- name@version
        track_name TEXT NOT NULL,
        track_version INTEGER NOT NULL,
        data_hash TEXT NOT NULL,
        target REAL NOT NULL,
        official INTEGER NOT NULL,
        recipes TEXT NOT NULL,           -- comma-joined, in composition order
        config TEXT NOT NULL,            -- JSON RunConfig
        seed INTEGER NOT NULL,
        backend TEXT NOT NULL,
        backend_info TEXT NOT NULL,      -- JSON BackendInfo
        environment TEXT NOT NULL,       -- JSON Environment
        code_hash TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        train_time_ms REAL,
        time_to_target_ms REAL,
        wall_time_ms REAL,
        steps INTEGER,
        tokens INTEGER,
        steps_to_target INTEGER,
        tokens_to_target INTEGER,
        final_val_loss REAL,
        best_val_loss REAL,
        tokens_per_sec REAL,
        peak_rss_mib REAL,
        bundle_path TEXT,
        bundle_checksum TEXT
      );
      CREATE TABLE eval_points (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        tokens INTEGER NOT NULL,
        train_time_ms REAL NOT NULL,
        val_loss REAL NOT NULL,
        PRIMARY KEY (run_id, step)
      );
      CREATE INDEX runs_by_track_recipes ON runs(track_id, recipes);
    `,
  },
  {
    version: 2,
    description: 'hardware fingerprint; records and submissions',
    sql: `
      ALTER TABLE runs ADD COLUMN hardware TEXT NOT NULL DEFAULT '{}';      -- JSON HardwareFingerprint
      ALTER TABLE runs ADD COLUMN hardware_class TEXT NOT NULL DEFAULT 'unknown';
      CREATE TABLE submissions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL,
        track_id TEXT NOT NULL,
        recipes TEXT NOT NULL,
        description TEXT NOT NULL,
        contributors TEXT NOT NULL,      -- JSON string[]
        run_ids TEXT NOT NULL,           -- JSON string[]
        status TEXT NOT NULL,            -- accepted | refused
        checks TEXT NOT NULL             -- JSON RuleCheck[]
      );
      CREATE TABLE records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        submission_id INTEGER NOT NULL REFERENCES submissions(id),
        created_at TEXT NOT NULL,
        track_id TEXT NOT NULL,
        hardware_class TEXT NOT NULL,
        recipes TEXT NOT NULL,
        description TEXT NOT NULL,
        contributors TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        backend TEXT NOT NULL,
        runs INTEGER NOT NULL,
        time_to_target_ms REAL NOT NULL,  -- mean over the record's runs
        time_to_target_std_ms REAL NOT NULL,
        olympic_mean_ms REAL NOT NULL,
        steps_to_target REAL NOT NULL,
        tokens_to_target REAL NOT NULL,
        p_value REAL NOT NULL             -- one-sided t-test that the mean final val loss is below the target
      );
      CREATE TABLE record_runs (
        record_id INTEGER NOT NULL REFERENCES records(id),
        run_id TEXT NOT NULL REFERENCES runs(id),
        PRIMARY KEY (record_id, run_id)
      );
      CREATE INDEX records_by_track ON records(track_id, hardware_class, created_at);
    `,
  },
  {
    version: 3,
    description: 'data-parallel worker count of each run',
    // Rows from before keep 1: runs that used workers say so in their bundles, and re-importing one fills it in.
    sql: `ALTER TABLE runs ADD COLUMN workers INTEGER NOT NULL DEFAULT 1;`,
  },
  {
    version: 4,
    description: 'hardware classes that name the CPU generation and ISA (legacy where the fingerprint lacks family/model)',
    sql: '',
    apply(db) {
      const update = db.prepare('UPDATE runs SET hardware_class = ? WHERE id = ?');
      for (const row of db.prepare('SELECT id, hardware, hardware_class FROM runs').all() as { id: string; hardware: string; hardware_class: string }[]) {
        update.run(reclassify(row.hardware, row.hardware_class), row.id);
      }
      db.exec(`UPDATE records SET hardware_class = COALESCE((SELECT r.hardware_class FROM record_runs rr JOIN runs r ON r.id = rr.run_id
                 WHERE rr.record_id = records.id ORDER BY r.id LIMIT 1), hardware_class || ' (legacy)')`);
    },
  },
  {
    version: 5,
    description: 'compute accounting: model and executed FLOPs, FLOPs to target, MFU, peak, price and cost; peaks per class and backend',
    // Rows from before stay null ("unknown"); re-importing a run's bundle fills them in where they can be computed.
    sql: `
      ALTER TABLE runs ADD COLUMN model_flops_per_step REAL;
      ALTER TABLE runs ADD COLUMN executed_flops_per_step REAL;
      ALTER TABLE runs ADD COLUMN flops_to_target REAL;
      ALTER TABLE runs ADD COLUMN mfu REAL;
      ALTER TABLE runs ADD COLUMN peak_flops REAL;
      ALTER TABLE runs ADD COLUMN peak_method TEXT;
      ALTER TABLE runs ADD COLUMN price_per_hour REAL;
      ALTER TABLE runs ADD COLUMN cost_to_target REAL;
      CREATE TABLE peaks (
        hardware_class TEXT NOT NULL,
        backend TEXT NOT NULL,
        flops_per_sec REAL NOT NULL,
        method TEXT NOT NULL,              -- how it was obtained: measured product n³, or a published peak
        measured_at TEXT NOT NULL,
        PRIMARY KEY (hardware_class, backend)
      );
    `,
  },
  {
    version: 6,
    description: 'benchmark suites: which runs belong to which suite run, on which workload, in which role',
    sql: `
      CREATE TABLE suites (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        backend TEXT NOT NULL,
        hardware_class TEXT NOT NULL,
        recipe_sets TEXT NOT NULL,        -- JSON array of recipe specs, baseline first
        heldout TEXT,                     -- JSON: the drawn variant and its reference target
        report TEXT                       -- JSON: the suite's summary once it finished (null while running)
      );
      CREATE TABLE suite_runs (
        suite_id TEXT NOT NULL REFERENCES suites(id),
        run_id TEXT NOT NULL REFERENCES runs(id),
        workload TEXT NOT NULL,           -- the track spec (heldout:<seed> for the held-out variant)
        role TEXT NOT NULL CHECK (role IN ('timed', 'reference')),
        PRIMARY KEY (suite_id, run_id)
      );
    `,
  },
  {
    version: 7,
    description: "external runs: other trainers' runs read from their logs (self-reported), judged per folder",
    sql: `
      CREATE TABLE external_runs (
        id TEXT PRIMARY KEY,              -- sha256 of the log's bytes: the same log is one run
        format TEXT NOT NULL,             -- modded-nanogpt | mllog | jsonl
        track TEXT NOT NULL,              -- e.g. modded-nanogpt/track_1_short
        target REAL NOT NULL,
        file TEXT NOT NULL,               -- the log's path relative to the folder imported
        folder TEXT NOT NULL,             -- the folder of logs it was judged with
        hardware_class TEXT NOT NULL,     -- e.g. NVIDIA H100 80GB HBM3 x8
        code_hash TEXT,                   -- sha256 of the trainer's source embedded in the log
        software TEXT NOT NULL,           -- JSON: the versions the log states
        metric TEXT NOT NULL,             -- val_loss, eval_loss or eval_accuracy
        steps INTEGER NOT NULL,
        final_value REAL NOT NULL,
        train_time_ms REAL NOT NULL,      -- the trainer's clock at the final evaluation
        time_to_target_ms REAL,           -- at the first evaluation at or past the target
        evals TEXT NOT NULL,              -- JSON [{step, value, trainTimeMs}]
        imported_at TEXT NOT NULL
      );
      CREATE INDEX external_runs_track ON external_runs (track, folder);
    `,
  },
  {
    version: 8,
    description: 'runs of any trainer that speedrun launched (run --exec), from launch to their bundle',
    sql: `
      CREATE TABLE exec_runs (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,             -- running | success | budget_exhausted | diverged | failed | aborted
        reason TEXT NOT NULL DEFAULT '',
        command TEXT NOT NULL,
        format TEXT NOT NULL,
        track TEXT NOT NULL,
        target REAL NOT NULL,
        code_hash TEXT NOT NULL,          -- sha256 of the command and the --source files
        started_at TEXT NOT NULL,
        pid INTEGER,                      -- speedrun's, while running: a row whose process is gone is aborted
        wall_time_ms REAL,
        train_time_ms REAL,               -- the trainer's clock at its final evaluation
        time_to_target_ms REAL,
        steps INTEGER,
        final_value REAL,
        hardware_class TEXT,
        software TEXT,
        evals TEXT,
        bundle_path TEXT,
        bundle_checksum TEXT
      );
    `,
  },
];

/** The class of a stored fingerprint; one too incomplete to read keeps its old class, marked legacy. */
function reclassify(hardwareJson: string, oldClass: string): string {
  try {
    const h = JSON.parse(hardwareJson) as Partial<HardwareFingerprint>;
    if (typeof h.cpuManufacturer === 'string' && typeof h.cpuBrand === 'string' && typeof h.cpuCores === 'number' && Array.isArray(h.gpus) && Array.isArray(h.cpuFlags)) {
      return hardwareClassOf(h as HardwareFingerprint);
    }
  } catch {
    // not JSON: fall through
  }
  return oldClass.endsWith(' (legacy)') ? oldClass : `${oldClass} (legacy)`;
}

export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;
