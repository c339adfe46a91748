/**
 * A folder of logs judged as one submission, under the track's rules: the mean final validation loss below the
 * target with p < 0.01 (one-sided one-sample t-test), and, where a sibling folder named baseline* holds the
 * baseline of the same comparison, the train times compared with a one-sided Welch test (modded-nanogpt's
 * statistics.md files do both by hand). Pure: the numbers in, a table out.
 */
import * as path from 'node:path';
import { mean, oneSampleTTest, std, twoSampleTTest } from '../stats.ts';
import { RULES } from '../submit.ts';

/** What judging needs of a run: where its log is, and its final evaluation. */
export interface JudgedRun {
  /** The log's path, relative to the folder the import was given. */
  file: string;
  finalValue: number;
  trainTimeMs: number;
}

export type FolderVerdict = 'meets the target' | 'misses the target' | 'too few runs';

export interface FolderJudgement {
  folder: string;
  runs: number;
  meanLoss: number;
  lossStd: number;
  /** One-sided p that the mean final loss is below the target; null with fewer than two runs. */
  pValue: number | null;
  meanTimeMs: number;
  timeStdMs: number;
  verdict: FolderVerdict;
  /** Against the sibling baseline folder, where there is one. */
  versusBaseline: { folder: string; ratio: number; pValue: number; faster: boolean } | null;
}

const isBaselineFolder = (folder: string) => /^baseline/i.test(path.basename(folder));

export function judgeFolders(runs: readonly JudgedRun[], target: number): FolderJudgement[] {
  const byFolder = new Map<string, JudgedRun[]>();
  for (const r of runs) {
    const folder = path.dirname(r.file);
    byFolder.set(folder, [...(byFolder.get(folder) ?? []), r]);
  }
  const stats = [...byFolder.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([folder, members]) => {
    const losses = members.map((m) => m.finalValue);
    const times = members.map((m) => m.trainTimeMs);
    const pValue = losses.length >= 2 ? oneSampleTTest(losses, target, 'less').pValue : null;
    const verdict: FolderVerdict = pValue === null ? 'too few runs' : pValue < RULES.targetAlpha ? 'meets the target' : 'misses the target';
    return { folder, runs: members.length, meanLoss: mean(losses), lossStd: std(losses), pValue, meanTimeMs: mean(times), timeStdMs: std(times), verdict, times };
  });
  return stats.map(({ times, ...s }) => {
    const siblings = stats.filter((o) => o.folder !== s.folder && path.dirname(o.folder) === path.dirname(s.folder) && isBaselineFolder(o.folder));
    const baseline = isBaselineFolder(s.folder) || siblings.length !== 1 ? undefined : siblings[0]!;
    if (!baseline || times.length < 2 || baseline.times.length < 2) return { ...s, versusBaseline: null };
    const welch = twoSampleTTest(times, baseline.times, 'less');
    return { ...s, versusBaseline: { folder: baseline.folder, ratio: s.meanTimeMs / baseline.meanTimeMs, pValue: welch.pValue, faster: welch.pValue < RULES.recordAlpha } };
  });
}

/** The judgement as a table: folder, runs, mean loss, p, mean time ± sd, verdict. */
export function formatFolders(judged: readonly FolderJudgement[], target: number): string {
  const rows = judged.map((j) => [
    j.folder,
    String(j.runs),
    j.meanLoss.toFixed(4),
    j.pValue === null ? '-' : j.pValue.toPrecision(3),
    `${(j.meanTimeMs / 1000).toFixed(3)} ± ${(j.timeStdMs / 1000).toFixed(3)} s`,
    `${j.verdict}${j.versusBaseline ? `; ${j.versusBaseline.faster ? 'faster than' : 'not shown faster than'} ${path.basename(j.versusBaseline.folder)} (${j.versusBaseline.ratio.toFixed(4)}x, Welch p = ${j.versusBaseline.pValue.toPrecision(3)})` : ''}`,
  ]);
  const header = ['folder', 'runs', 'mean loss', `p (< ${target})`, 'mean time', 'verdict'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
