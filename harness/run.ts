/**
 * `speedrun` (run): resolve -> train -> store, each stage handing plain data to the next.
 *  - resolve: recipes, track, data, config and backend, every user mistake caught before anything trains;
 *  - train: harness/train.ts;
 *  - store: the run's directory under results/runs/ with its event log and run.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { useBackend, type BackendInfo, type BackendRequest } from './backends/index.ts';
import { DEFAULT_TRAIN, MODEL_PRESETS, validateRunConfig, type ModelPresetName, type RunConfig } from './config.ts';
import type { TokenData } from './data/tokens.ts';
import { codeFiles, describeEnvironment, hashCodeFiles } from './environment.ts';
import { z } from 'zod';
import { computeFigures, modelFlopsPerStep } from './compute.ts';
import { asUserError, UserError } from './errors.ts';
import { EventLog } from './events.ts';
import { TEST_SLOWDOWN_ENV, testSlowdownFromEnv } from './testSlowdown.ts';
import { ESTIMATE_ABOVE_FLOPS, estimatedFlopsPerStep, MAX_FIRST_EVAL_MS } from './estimate.ts';
import { describeHardware, type HardwareFingerprint } from './hardware.ts';
import { measurePeak, obtainPeak, type Peak } from './peaks.ts';
import { engineLabel } from './backends/engineLabel.ts';
import type { ResultsStore } from './store/database.ts';
import { composeRecipes, type ComposedRecipes } from './recipe.ts';
import { LocalReplica, type ReplicaFactory } from './replica.ts';
import { loadTrackData, resolveTrack, trackId, trackInfo, type Track } from './tracks.ts';
import type { CommsVariant } from './parallel/comms.ts';
import type { RunFacts, RunRecord } from './records.ts';
import { storeRun } from './store/runStore.ts';
import { train, type TrainObserver } from './train.ts';
import { resolveRecipes } from '../recipes/index.ts';

export interface RunRequest {
  recipe: string;
  track: string;
  backend: BackendRequest;
  seed: number;
  threads?: number;
  /** Overrides; any of preset, target, steps, maxTimeSec makes the run unofficial. */
  preset?: string;
  target?: number;
  steps?: number;
  maxTimeSec?: number;
  lr?: number;
  /** Split each step's batch into this many micro-batches (same global batch, less memory). */
  gradAccum?: number;
  /** Data-parallel worker threads, one backend instance (one thread) each; 1 = train in this thread. */
  workers?: number;
  outDir?: string;
  mllog?: boolean;
  /** Start even when the first evaluation is estimated to be more than an hour away. */
  force?: boolean;
  /** Dollars per hour of this machine, for the cost to target (DAWNBench's measure). */
  pricePerHour?: number;
  /** A price table file: JSON { "<hardware class>": dollars per hour, ... } (also $SPEEDRUN_PRICES). */
  prices?: string;
}

/**
 * What the resolve stage hands forward: plain data. The train stage (and each data-parallel worker) loads the
 * track's data and composes the recipes again from `spec` (loadPlan); the data's hash says it is the same data.
 */
export interface RunPlan {
  runId: string;
  /** The track's identity and protocol, and the hash of its data. */
  track: Omit<Track, 'load'> & { dataHash: string };
  config: RunConfig;
  /** Recipe labels in order (name plus options): the run's recipe identity. */
  recipes: string[];
  /** How data-parallel workers exchange gradients (from the recipes). */
  comms: CommsVariant;
  backend: BackendInfo;
  official: boolean;
  overrides: string[];
  notes: string[];
  workers: number;
  /** The run as names: what the train stage and each worker resolve for themselves. */
  spec: { recipe: string; track: string; backend: BackendRequest };
  /** Test only: the fraction each step is stretched by (harness/testSlowdown.ts); 0 for every real run. */
  testSlowdown: number;
  /** Prices for the cost to target: one for this run, or a table by hardware class (the class is known at train time). */
  price: { perHour?: number; table?: Record<string, number> };
}

/** The plan's data and composed recipes, loaded again from its spec (the track's data is cached per process). */
export function loadPlan(plan: RunPlan): { data: TokenData; recipes: ComposedRecipes } {
  const data = loadTrackData(plan.spec.track);
  if (data.dataHash !== plan.track.dataHash) throw new UserError(`track ${plan.track.name}: its data changed since the run was planned (data hash)`);
  return { data, recipes: composeRecipes(resolveRecipes(plan.spec.recipe)) };
}

export type { RunRecord } from './records.ts';

/** Where runs go unless --out says otherwise: $SPEEDRUN_RESULTS, else ./results in the working directory. */
export function defaultResultsDir(): string {
  return path.resolve(process.env.SPEEDRUN_RESULTS || 'results');
}

function isPreset(name: string): name is ModelPresetName {
  return Object.hasOwn(MODEL_PRESETS, name);
}

function checkNumber(flag: string, value: number | undefined, ok: (v: number) => boolean, expect: string): void {
  if (value !== undefined && (!Number.isFinite(value) || !ok(value))) throw new UserError(`--${flag} must be ${expect}, got ${value}`);
}

export async function resolveRun(request: RunRequest): Promise<RunPlan> {
  checkNumber('seed', request.seed, (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer');
  checkNumber('steps', request.steps, (v) => Number.isInteger(v) && v > 0, 'a positive integer');
  checkNumber('max-time', request.maxTimeSec, (v) => v > 0, 'a positive number of seconds');
  checkNumber('target', request.target, (v) => v > 0, 'a positive loss');
  checkNumber('lr', request.lr, (v) => v > 0, 'a positive number');
  checkNumber('threads', request.threads, (v) => Number.isInteger(v) && v > 0, 'a positive integer');
  checkNumber('grad-accum', request.gradAccum, (v) => Number.isInteger(v) && v > 0, 'a positive integer');
  checkNumber('workers', request.workers, (v) => Number.isInteger(v) && v > 0 && v <= 64, 'an integer from 1 to 64');
  checkNumber('price-per-hour', request.pricePerHour, (v) => v >= 0, 'a non-negative number of dollars');
  const priceFile = request.prices ?? (process.env.SPEEDRUN_PRICES || undefined);
  const priceTable = priceFile ? readPriceTable(priceFile) : undefined;
  const recipes = composeRecipes(resolveRecipes(request.recipe));
  const track = resolveTrack(request.track);
  if (request.preset !== undefined && !isPreset(request.preset)) {
    throw new UserError(`unknown preset '${request.preset}' (choose one of: ${Object.keys(MODEL_PRESETS).join(', ')})`);
  }
  const presetName = request.preset ?? track.preset;
  const shape = request.preset !== undefined ? MODEL_PRESETS[request.preset as ModelPresetName] : track.model;
  const data = loadTrackData(request.track);

  const overrides: string[] = [];
  if (request.preset !== undefined && request.preset !== track.preset) overrides.push(`preset=${request.preset}`);
  if (request.target !== undefined) overrides.push(`target=${request.target}`);
  if (request.steps !== undefined) overrides.push(`steps=${request.steps}`);
  if (request.maxTimeSec !== undefined) overrides.push(`max-time=${request.maxTimeSec}s`);
  const testSlowdown = testSlowdownFromEnv();
  if (testSlowdown > 0) overrides.push(`test-slowdown=${testSlowdown}`);

  const base: RunConfig = {
    model: { vocabSize: data.vocabSize, blockSize: shape.blockSize, nLayer: shape.nLayer, nHead: shape.nHead, nEmbd: shape.nEmbd },
    train: {
      ...DEFAULT_TRAIN,
      seed: request.seed,
      batchSize: presetName === track.preset ? track.batchSize : MODEL_PRESETS[request.preset as ModelPresetName].batchSize,
      evalInterval: track.evalInterval,
      evalTokens: track.evalTokens,
      target: track.target,
      maxSteps: track.maxSteps,
      maxTimeMs: track.maxTimeMs,
    },
  };
  const recipeTuned = recipes.config(base);
  // A held-out variant's learning-rate multiplier applies to whatever rate the recipes chose (AdamW's; Muon's own stays).
  const tuned = { ...recipeTuned, train: { ...recipeTuned.train, lr: recipeTuned.train.lr * track.lrScale, minLr: recipeTuned.train.minLr * track.lrScale } };
  const lr = request.lr ?? tuned.train.lr;
  const accum = request.gradAccum ?? 1;
  const globalBatch = tuned.train.batchSize * tuned.train.gradAccumSteps;
  if (globalBatch % accum !== 0) {
    throw new UserError(`--grad-accum ${accum} does not divide the batch of ${globalBatch} sequences`);
  }
  const config = validateRunConfig({
    model: tuned.model,
    train: {
      ...tuned.train,
      lr,
      ...(request.gradAccum !== undefined ? { batchSize: globalBatch / accum, gradAccumSteps: accum } : {}),
      minLr: request.lr !== undefined ? (tuned.train.minLr / tuned.train.lr) * lr : tuned.train.minLr,
      target: request.target ?? tuned.train.target,
      maxSteps: request.steps ?? tuned.train.maxSteps,
      maxTimeMs: request.maxTimeSec !== undefined ? request.maxTimeSec * 1000 : tuned.train.maxTimeMs,
    },
  });
  if (data.train.length < config.model.blockSize + 1) {
    throw new UserError(`track ${track.name}: the train split has ${data.train.length} tokens, fewer than one context of ${config.model.blockSize + 1}`);
  }
  if (data.val.length < config.model.blockSize + 1) {
    throw new UserError(`track ${track.name}: the validation split has ${data.val.length} tokens, fewer than one context of ${config.model.blockSize + 1}`);
  }

  const backend = await useBackend(request.backend, { threads: request.threads });
  const notes = recipes.notes(backend);
  const flopsPerStep = estimatedFlopsPerStep(config);
  if (flopsPerStep * config.train.evalInterval > ESTIMATE_ABOVE_FLOPS) {
    const stepMs = (flopsPerStep / (await measurePeak(backend)).flopsPerSec) * 1000;
    const firstEvalMs = stepMs * config.train.evalInterval;
    const hours = (firstEvalMs / 3_600_000).toFixed(1);
    if (firstEvalMs > MAX_FIRST_EVAL_MS && !request.force) {
      throw new UserError(`this run needs about ${(stepMs / 1000).toFixed(0)} s a step on ${backend.name} here, so its first evaluation (step ${config.train.evalInterval}) would come after about ${hours} h; use a smaller --preset or a GPU backend, or pass --force to start anyway`);
    }
    notes.push(`estimated ${(stepMs / 1000).toFixed(1)} s a step on ${backend.name} (first evaluation after about ${hours} h)`);
  }
  if (backend.note) notes.unshift(`backend: ${backend.note}`);
  if (testSlowdown > 0) notes.push(`test only: every step made ${(testSlowdown * 100).toFixed(0)} % slower on purpose (${TEST_SLOWDOWN_ENV}); never a record`);
  if (presetName === 'gpt2-small' && (backend.name === 'wasm' || backend.name === 'cpu')) {
    notes.push(`preset gpt2-small on ${backend.name} is very slow; it is meant for GPU backends`);
  }
  const recipeSpec = recipes.names.join(',');
  if ((request.workers ?? 1) > 1 && config.train.batchSize % request.workers! !== 0) {
    throw new UserError(`--workers ${request.workers} does not divide the batch of ${config.train.batchSize} sequences`);
  }
  if ((request.workers ?? 1) > 1 && config.train.gradAccumSteps > 1) throw new UserError('--workers cannot be combined with --grad-accum');
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const slug = `${track.name.replace(/[^a-zA-Z0-9-]+/g, '_').slice(0, 40)}-${recipes.names.join('+').replace(/[^a-zA-Z0-9+.-]+/g, '_')}-s${request.seed}`;
  return {
    runId: `${stamp}-${slug}-${randomBytes(3).toString('hex')}`,
    track: { ...trackInfo(track), dataHash: data.dataHash },
    config,
    recipes: recipes.names,
    comms: recipes.comms,
    backend,
    official: track.calibrated && overrides.length === 0,
    overrides,
    notes,
    workers: request.workers ?? 1,
    testSlowdown,
    spec: { recipe: recipeSpec, track: request.track, backend: backend.name },
    price: { ...(request.pricePerHour !== undefined ? { perHour: request.pricePerHour } : {}), ...(priceTable ? { table: priceTable } : {}) },
  };
}

const priceTableShape = z.record(z.string().min(1), z.number().nonnegative());

/** A price table file, validated: one line naming the file and the problem otherwise. */
function readPriceTable(file: string): Record<string, number> {
  let text: string;
  try {
    if (fs.statSync(file).size > 1 << 20) throw new UserError(`price table ${file}: over 1 MiB; expected { "<hardware class>": dollars per hour }`);
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw asUserError(error);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UserError(`price table ${file}: not JSON (expected { "<hardware class>": dollars per hour })`);
  }
  const table = priceTableShape.safeParse(parsed);
  if (!table.success) throw new UserError(`price table ${file}: expected { "<hardware class>": dollars per hour }, ${table.error.issues[0]!.path.join('.') || 'the file'}: ${table.error.issues[0]!.message}`);
  return Object.fromEntries(Object.entries(table.data)); // own properties only, whatever the keys
}

/**
 * The peak this run's MFU is relative to: the one stored for its hardware class and backend (speedrun
 * calibrate, or the first run's measurement), a GPU's published peak, or measured now (outside the clock) and
 * stored for the next runs.
 */
async function peakFor(plan: RunPlan, hardware: HardwareFingerprint, store: ResultsStore | undefined): Promise<Peak> {
  const stored = store?.peak(hardware.hardwareClass, engineLabel(plan.backend));
  if (stored) return { flopsPerSec: stored.flopsPerSec, method: stored.method };
  const peak = await obtainPeak(plan.backend, hardware.gpus);
  store?.savePeak(hardware.hardwareClass, engineLabel(plan.backend), peak);
  return peak;
}

export interface RunHooks {
  observer?: TrainObserver;
  /** The results database: the run's row exists from its start and evaluation points land as measured. */
  store?: ResultsStore;
  signal?: AbortSignal;
  /** Called with the run directory before training starts. */
  onStart?(plan: RunPlan, runDir: string): void;
  /** Recipes composed by the caller instead of from the plan's spec (tests that spy on or poison a run). */
  recipes?: ComposedRecipes;
}

/** One replica in this thread, or a pool of data-parallel workers, each resolving the plan's spec for itself. */
function replicaFactory(plan: RunPlan): ReplicaFactory {
  if (plan.workers <= 1) return LocalReplica.factory;
  return async (input) => (await import('./parallel/pool.ts')).WorkerPool.start(input, { workers: plan.workers, comms: plan.comms, ...plan.spec });
}

/**
 * The train stage of a run: its directory and event log, the database row from its first second (and each
 * evaluation as it is measured), training, and the run's record as plain data. Writing run.json, the bundle and
 * the final row is the store stage's (harness/store/runStore.ts).
 */
export async function trainRun(plan: RunPlan, request: Pick<RunRequest, 'outDir' | 'mllog'>, hooks: RunHooks = {}): Promise<{ record: RunRecord; files: Record<string, string> }> {
  const wallStart = performance.now();
  const resultsDir = request.outDir ?? defaultResultsDir();
  const runDir = path.join(resultsDir, 'runs', plan.runId);
  const bundlePath = path.join(resultsDir, 'bundles', `${plan.runId}.json`);
  fs.mkdirSync(runDir, { recursive: true });
  const files = codeFiles();
  const codeHash = hashCodeFiles(files);
  const environment = describeEnvironment();
  const hardware = await describeHardware();
  const track: RunRecord['track'] = {
    id: trackId(plan.track),
    name: plan.track.name,
    version: plan.track.version,
    dataHash: plan.track.dataHash,
    target: plan.config.train.target,
    official: plan.official,
    overrides: plan.overrides,
  };
  const { store } = hooks;
  store?.startRun({ runId: plan.runId, track, recipes: plan.recipes, config: plan.config, backend: plan.backend, environment, hardware, codeHash, workers: plan.workers });

  const events = new EventLog(path.join(runDir, 'events.jsonl'), request.mllog ?? false);
  events.emit('POINT_IN_TIME', 'submission_benchmark', track.id, {
    data_hash: plan.track.dataHash,
    official: plan.official,
    overrides: plan.overrides,
  });
  events.emit('POINT_IN_TIME', 'recipes', plan.recipes, { notes: plan.notes });
  events.emit('POINT_IN_TIME', 'backend', plan.backend);
  events.emit('POINT_IN_TIME', 'hardware', hardware);
  events.emit('POINT_IN_TIME', 'seed', plan.config.train.seed);
  hooks.onStart?.(plan, runDir);
  const observer: TrainObserver = {
    ...hooks.observer,
    onEval(point) {
      store?.addEval(plan.runId, point);
      hooks.observer?.onEval?.(point);
    },
  };
  let outcome;
  let modelFlops: number;
  let peak: Peak;
  try {
    const loaded = loadPlan(plan);
    const recipes = hooks.recipes ?? loaded.recipes;
    // Both outside the clock, before it starts.
    modelFlops = await modelFlopsPerStep(plan.config, recipes);
    peak = await peakFor(plan, hardware, store);
    outcome = await train({
      config: plan.config,
      data: loaded.data,
      recipes,
      backend: plan.backend,
      events,
      observer,
      signal: hooks.signal,
      replica: replicaFactory(plan),
      testSlowdown: plan.testSlowdown,
    });
  } catch (error) {
    store?.abandonRun(plan.runId, `crashed: ${(error as Error).message}`);
    throw error;
  } finally {
    events.close();
  }
  const wallTimeMs = performance.now() - wallStart;
  const facts: RunFacts = {
    schema: 2,
    runId: plan.runId,
    createdAt: new Date().toISOString(),
    track,
    recipes: plan.recipes,
    notes: plan.notes,
    config: plan.config,
    backend: plan.backend,
    environment,
    hardware,
    codeHash,
    wallTimeMs,
    tokensPerSec: outcome.trainTimeMs > 0 ? outcome.tokens / (outcome.trainTimeMs / 1000) : 0,
    msPerStep: outcome.steps > 0 ? outcome.trainTimeMs / outcome.steps : 0,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    eventLog: path.join(runDir, 'events.jsonl'),
    bundle: bundlePath,
    compute: computeFigures({
      modelFlopsPerStep: modelFlops,
      executedFlopsPerStep: outcome.executedFlopsPerStep ?? null,
      steps: outcome.steps,
      trainTimeMs: outcome.trainTimeMs,
      stepsToTarget: outcome.stepsToTarget,
      timeToTargetMs: outcome.timeToTargetMs,
      peak,
      pricePerHour: plan.price.perHour ?? (plan.price.table && Object.hasOwn(plan.price.table, hardware.hardwareClass) ? plan.price.table[hardware.hardwareClass] : undefined),
    }),
  };
  return { record: { ...facts, ...outcome }, files };
}

/** resolve's plan -> train -> store: the whole run, returning its record (the CLI's and the tests' entry). */
export async function executeRun(plan: RunPlan, request: Pick<RunRequest, 'outDir' | 'mllog'>, hooks: RunHooks = {}): Promise<RunRecord> {
  const { record, files } = await trainRun(plan, request, hooks);
  return storeRun(record, files, hooks.store);
}
