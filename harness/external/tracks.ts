/**
 * The external tracks speedrun knows: what a folder of logs is judged against. modded-nanogpt's rules (its
 * README): the mean validation loss at the last step must be below the target with p < 0.01
 * (scipy.stats.ttest_1samp(losses, target, alternative="less")), on 8x H100.
 */
export interface ExternalTrack {
  id: string;
  title: string;
  target: number;
}

const KNOWN: readonly (ExternalTrack & { folder: string })[] = [
  { folder: 'track_1_short', id: 'modded-nanogpt/track_1_short', title: 'modded-nanogpt track 1: FineWeb val loss 3.28, 8x H100', target: 3.28 },
  { folder: 'track_2_medium', id: 'modded-nanogpt/track_2_medium', title: 'modded-nanogpt track 2: FineWeb val loss 2.92, 8x H100', target: 2.92 },
];

/** The folder names that identify a known track. */
export const KNOWN_TRACK_FOLDERS: readonly string[] = KNOWN.map((t) => t.folder);

/** The track a path of logs belongs to, by a known folder name in it; `target` names another (a custom track). */
export function externalTrackOf(logPath: string, target: number | undefined, name: string | undefined): ExternalTrack | undefined {
  const known = KNOWN.find((t) => logPath.split(/[\\/]/).includes(t.folder));
  if (target === undefined) return known;
  const id = name ?? known?.id ?? 'external';
  return { id, title: `${id}: target ${target}`, target };
}

/** A stored external track's title: the known one, or its id and target. */
export function externalTrackTitle(id: string, target: number): string {
  return KNOWN.find((t) => t.id === id)?.title ?? `${id}: target ${target}`;
}
