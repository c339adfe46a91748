/**
 * The leaderboard's view of external runs (other trainers' logs, speedrun import --from): per external track, its
 * folders judged again from the stored runs, dated by their record folder (modded-nanogpt names them
 * YYYY-MM-DD_Description), and the record history chart. Never mixed with speedrun's own tracks: these runs are
 * self-reported, and every page that shows them says so.
 */
import * as path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { judgeFolders, type FolderJudgement } from '../external/judgeFolders.ts';
import { externalTrackTitle } from '../external/tracks.ts';
import type { ResultsStore } from '../store/database.ts';

export interface ExternalFolderView extends FolderJudgement {
  date: string | null;
  hardwareClass: string;
}

export interface ExternalTrackView {
  id: string;
  title: string;
  target: number;
  runs: number;
  folders: ExternalFolderView[];
}

export function externalTracks(store: ResultsStore): ExternalTrackView[] {
  const byTrack = new Map<string, ReturnType<ResultsStore['externalRuns']>>();
  for (const run of store.externalRuns()) byTrack.set(run.track, [...(byTrack.get(run.track) ?? []), run]);
  return [...byTrack.entries()].map(([id, runs]) => {
    const target = runs[0]!.target;
    const judged = judgeFolders(runs.map((r) => ({ file: r.file, finalValue: r.finalValue, trainTimeMs: r.trainTimeMs })), target);
    const folders = judged.map((j) => {
      const date = /(?:^|\/)(\d{4}-\d{2}-\d{2})/.exec(j.folder)?.[1] ?? null;
      const classes = [...new Set(runs.filter((r) => path.dirname(r.file) === j.folder).map((r) => r.hardwareClass))];
      return { ...j, date, hardwareClass: classes.join(' / ') };
    });
    return { id, title: externalTrackTitle(id, target), target, runs: runs.length, folders };
  });
}

/** Mean train time of each dated folder against its date, coloured by its verdict. */
export function externalHistorySpec(track: ExternalTrackView): TopLevelSpec | null {
  const values = track.folders.filter((f) => f.date !== null).map((f) => ({ date: f.date, minutes: f.meanTimeMs / 60_000, verdict: f.verdict, folder: f.folder }));
  if (values.length === 0) return null;
  return {
    width: 560,
    height: 220,
    data: { values },
    mark: { type: 'point', filled: true, size: 40 },
    encoding: {
      x: { field: 'date', type: 'temporal', title: 'record folder date', axis: { format: '%Y-%m', labelAngle: 0 } },
      y: { field: 'minutes', type: 'quantitative', title: 'mean train time (min)', scale: { type: 'log' } },
      color: { field: 'verdict', type: 'nominal', title: 'verdict', legend: { orient: 'bottom' } },
      tooltip: [{ field: 'folder' }, { field: 'minutes', format: '.2f' }],
    },
  };
}
