/**
 * One backend's nano training benchmark, run in its own process (a backend is per process):
 * a real `speedrun` run of the nano preset on brown-char for a few steps; prints JSON on stdout.
 */
import { readEventLog } from '../harness/events.ts';
import type { BackendRequest } from '../harness/backends/index.ts';
import { executeRun, resolveRun } from '../harness/run.ts';
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';

const [backend = 'wasm', stepsArg = '30', accumArg = '1', workersArg = '1', threadsArg = '', recipe = 'baseline'] = process.argv.slice(2);
const plan = await resolveRun({
  recipe,
  track: 'brown-char',
  backend: backend as BackendRequest,
  seed: 0,
  steps: Number(stepsArg),
  target: 0.01,
  gradAccum: Number(accumArg) > 1 ? Number(accumArg) : undefined,
  workers: Number(workersArg),
  threads: threadsArg ? Number(threadsArg) : undefined,
});
plan.config.train.evalTokens = plan.config.train.batchSize * plan.config.model.blockSize; // one eval batch
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'speedrun-bench-'));
const record = await executeRun(plan, { outDir: out });
const steps = readEventLog(record.eventLog).filter((e) => e.key === 'train_loss');
const stepMs = steps.map((e) => (e.metadata as { step_ms: number }).step_ms).sort((a, b) => a - b);
const median = stepMs[Math.floor(stepMs.length / 2)]!;
const tokensPerStep = plan.config.train.batchSize * plan.config.train.gradAccumSteps * plan.config.model.blockSize;
process.stdout.write(
  `${JSON.stringify({
    backend: record.backend,
    gradAccum: plan.config.train.gradAccumSteps,
    workers: plan.workers,
    parallel: record.parallel ?? null,
    steps: stepMs.length,
    medianStepMs: median,
    tokensPerSec: (tokensPerStep / median) * 1000,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    // MFU of this step rate: model FLOPs a step at the median step time, against the run's peak.
    mfu: record.compute?.peak ? record.compute.modelFlopsPerStep / (median / 1000) / record.compute.peak.flopsPerSec : null,
    peak: record.compute?.peak ?? null,
  })}\n`,
);
fs.rmSync(out, { recursive: true, force: true });
process.exit(0);
