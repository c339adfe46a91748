/**
 * The shape of a run bundle, checked once when a bundle is read: every field the harness reads from a bundle
 * (verify, import, submit, the leaderboard) is here with its type, and every name that becomes a path (the run
 * id) matches the one safe-name pattern. A file that fails is a one-line error naming the first bad field; code
 * after `parseBundle` may trust the types. Unknown extra fields are kept (newer writers may add some); the
 * checksum covers them.
 */
import { z } from 'zod';
import { runConfigSchema } from '../config.ts';
import { SAFE_NAME, SAFE_NAME_RULE } from '../names.ts';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const count = z.number().int().nonnegative();
const nullableFinite = finite.nullable();
/** Losses may be NaN/Infinity in a diverged run; JSON writes those as null. */
const loss = z.number().nullable();

const evalPointShape = z.looseObject({ step: count, tokens: count, trainTimeMs: finite, valLoss: loss });

const trackShape = z.looseObject({
  id: z.string().min(1).max(200),
  name: z.string().min(1).max(200),
  version: count,
  dataHash: z.string().regex(/^[0-9a-f]{16,128}$/, 'must be a hex digest'),
  target: finite,
  official: z.boolean(),
  overrides: z.array(z.string()),
});

const hardwareShape = z.looseObject({
  cpuManufacturer: z.string(),
  cpuBrand: z.string(),
  cpuCores: count,
  cpuPhysicalCores: count.optional(),
  cpuFlags: z.array(z.string()),
  memoryGiB: finite.optional(),
  gpus: z.array(z.string()),
  hardwareClass: z.string().min(1),
  cpuFamily: z.string().optional(),
  cpuModelNumber: z.string().optional(),
});

const backendShape = z.looseObject({ name: z.string().min(1), threads: count });

const nonNegative = finite.refine((v) => v >= 0, 'must not be negative');

/** Compute figures: absent in bundles written before they were counted. */
const computeShape = z.looseObject({
  modelFlopsPerStep: nonNegative,
  executedFlopsPerStep: nonNegative.nullable(),
  flopsToTarget: nonNegative.nullable(),
  mfu: nonNegative.nullable(),
  peak: z.looseObject({ flopsPerSec: finite.refine((v) => v > 0, 'must be positive'), method: z.string().min(1).max(200) }).nullable(),
  pricePerHour: nonNegative.optional(),
  costToTarget: nonNegative.nullable().optional(),
});

const runRecordShape = z.looseObject({
  runId: z.string().regex(SAFE_NAME, `run id: ${SAFE_NAME_RULE}`),
  status: z.enum(['success', 'budget_exhausted', 'diverged', 'aborted']),
  reason: z.string(),
  createdAt: z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO date'),
  track: trackShape,
  recipes: z.array(z.string().min(1).max(200)).min(1),
  notes: z.array(z.string()),
  config: runConfigSchema,
  backend: backendShape,
  environment: z.looseObject({ hostname: z.string() }),
  hardware: hardwareShape,
  codeHash: z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 hex digest'),
  trainTimeMs: finite,
  timeToTargetMs: nullableFinite,
  wallTimeMs: finite,
  steps: count,
  tokens: count,
  stepsToTarget: count.nullable(),
  tokensToTarget: count.nullable(),
  finalValLoss: loss,
  bestValLoss: loss,
  tokensPerSec: finite,
  peakRssMiB: finite,
  parallel: z.looseObject({ workers: count, comms: z.string() }).optional(),
  evals: z.array(evalPointShape),
  executedFlopsPerStep: nonNegative.nullable().optional(),
  compute: computeShape.optional(),
});

const eventShape = z.looseObject({
  time_ms: finite,
  event_type: z.enum(['INTERVAL_START', 'INTERVAL_END', 'POINT_IN_TIME']),
  key: z.string(),
  value: z.unknown(),
  metadata: z.record(z.string(), z.unknown()),
});

const bundleShape = z.looseObject({
  kind: z.literal('speedrun-run-bundle'),
  version: z.literal(1),
  run: runRecordShape,
  events: z.array(eventShape),
  code: z.looseObject({ hash: z.string(), files: z.record(z.string(), z.string()) }),
  checksum: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<hex>'),
});

/** The bundle, or the first problem as "field.path: message". */
export function parseBundleShape(value: unknown): { ok: true; bundle: z.infer<typeof bundleShape> } | { ok: false; problem: string } {
  const parsed = bundleShape.safeParse(value);
  if (parsed.success) return { ok: true, bundle: parsed.data };
  const issue = parsed.error.issues[0]!;
  return { ok: false, problem: `${issue.path.join('.') || 'bundle'}: ${issue.message}` };
}
