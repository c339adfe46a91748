/**
 * External runs: other trainers' logs in three formats (modded-nanogpt's, MLPerf's :::MLLOG, speedrun's JSON
 * lines), written here, hostile ones included; folders judged with statistics checked against hand-computed values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ResultsStore } from '../harness/store/database.ts';
import { forEachLine, MAX_LINE_BYTES } from '../harness/external/logLines.ts';
import { moddedNanogptParser } from '../harness/external/moddedNanogpt.ts';
import { mllogParser } from '../harness/external/mllog.ts';
import { jsonlParser } from '../harness/external/jsonl.ts';
import { externalHardwareClass, type LogParser, type ParsedLog } from '../harness/external/externalRun.ts';
import { judgeFolders } from '../harness/external/judgeFolders.ts';
import { runMain, tempDir } from './utils.ts';

const SOURCE = ['import torch', 'print0(f"step:{step}/{train_steps} val_loss:{val_loss:.4f} train_time:{t:.0f}ms")'];
const GPU_ROW = (i: number) => `|   ${i}  NVIDIA H100 80GB HBM3          On  |   00000000:8D:00.0 Off |                    0 |`;

/** A modded-nanogpt log: source, separator, versions, an nvidia-smi table, step lines ending at `steps`. */
function moddedLog(finalLoss: number, finalMs: number, options: { steps?: number; lastStep?: number; gpus?: number; extra?: string[] } = {}): string {
  const steps = options.steps ?? 100;
  const last = options.lastStep ?? steps;
  const lines = [...SOURCE, '='.repeat(100), 'Running Python 3.12.3 (main) [GCC 13.3.0]', 'Running PyTorch 2.10.0+cu128 compiled for CUDA 12.8', 'Running Triton version 3.6.0'];
  for (let i = 0; i < (options.gpus ?? 8); i++) lines.push(GPU_ROW(i));
  lines.push('='.repeat(100), `step:0/${steps} val_loss:10.8311 train_time:0ms step_avg:0.03ms`);
  for (let s = 1; s <= last; s++) {
    const t = Math.round((finalMs * s) / steps);
    lines.push(`step:${s}/${steps} train_time:${t}ms step_avg:${(t / s).toFixed(2)}ms`);
    if (s === steps / 2) lines.push(`step:${s}/${steps} val_loss:4.1 train_time:${t}ms step_avg:1ms`);
  }
  if (last === steps) lines.push(`step:${steps}/${steps} val_loss:${finalLoss} train_time:${finalMs}ms step_avg:1ms`);
  lines.push(...(options.extra ?? []), 'peak memory allocated: 30220 MiB reserved: 38672 MiB');
  return `${lines.join('\n')}\n`;
}

const parse = (parser: LogParser, text: string): ParsedLog => {
  for (const line of text.split('\n')) parser.line(line);
  return parser.end();
};

test("modded-nanogpt's log: source hashed, versions, GPUs, evaluations, the clock at the last step", () => {
  const parsed = parse(moddedNanogptParser(), moddedLog(3.2775, 79_532));
  assert.equal(parsed.status, 'read');
  if (parsed.status !== 'read') return;
  const { run } = parsed;
  assert.match(run.codeHash!, /^[0-9a-f]{64}$/);
  assert.deepEqual(run.software, { python: '3.12.3', pytorch: '2.10.0+cu128', cuda: '12.8', triton: '3.6.0' });
  assert.equal(externalHardwareClass(run), 'NVIDIA H100 80GB HBM3 x8');
  assert.deepEqual(run.evals.map((e) => [e.step, e.value, e.trainTimeMs]), [[0, 10.8311, 0], [50, 4.1, 39766], [100, 3.2775, 79532]]);
  assert.equal(run.peakMemoryMiB, 30220);
  // The older form: seconds, the device line, and the clock restarted once after the first steps.
  const older = parse(moddedNanogptParser(), ['step:0/20 val_loss:10.8 train_time:0.000s step_avg:nanms', 'Running on device_name=NVIDIA H100 80GB HBM3 with world_size=8', 'step:10/20 train_time:26.5s step_avg:nanms', 'step:11/20 train_time:1.5s step_avg:nanms', 'step:20/20 val_loss:3.27 train_time:3.25s step_avg:1ms'].join('\n'));
  assert.equal(older.status, 'read');
  if (older.status === 'read') {
    assert.equal(older.run.evals.at(-1)!.trainTimeMs, 3250);
    assert.equal(older.run.codeHash, null);
    assert.equal(externalHardwareClass(older.run), 'NVIDIA H100 80GB HBM3 x8');
  }
});

test('hostile logs are refused with one reason each', () => {
  const refused = (text: string, reason: RegExp, parser: LogParser = moddedNanogptParser()) => {
    const parsed = parse(parser, text);
    assert.equal(parsed.status, 'refused', text.slice(0, 80));
    if (parsed.status === 'refused') assert.match(parsed.reason, reason);
  };
  refused('hello\nworld', /no step lines/);
  refused(moddedLog(3.27, 1000, { lastStep: 60 }), /stops at step 60 of 100 \(incomplete run\)/);
  refused(moddedLog(Number.NaN, 1000), /val_loss is NaN at step 100/);
  refused(moddedLog(3.27, 1000, { extra: ['step:3/100 train_time:5ms step_avg:1ms'] }), /step 3 after step 100 \(steps go backwards\)/);
  refused(['step:0/4 val_loss:10 train_time:0ms', 'step:1/4 val_loss:9 train_time:50ms', 'step:2/4 train_time:10ms', 'step:4/4 val_loss:3 train_time:90ms'].join('\n'), /the train clock goes backwards \(10 ms after 50 ms\)/);
  refused('step:0/4 val_loss:10', /a val_loss line without train_time/);
  refused('{"step": 1, "val_loss": null, "train_time_ms": 5}', /val_loss is NaN at step 1/, jsonlParser());
  refused(':::MLLOG {"key": "run_start", "time_ms": 0}', /no run_stop/, mllogParser());
});

test('the line reader: flat memory on long lines, binary files and links refused', () => {
  const dir = tempDir();
  const long = path.join(dir, 'long.txt');
  fs.writeFileSync(long, `a\n${'x'.repeat(3 * MAX_LINE_BYTES)}\nb\n`);
  const lines: string[] = [];
  const read = forEachLine(long, (l) => lines.push(l));
  assert.equal(read.status, 'read');
  assert.deepEqual(lines.map((l) => l.length), [1, MAX_LINE_BYTES, 1]);
  if (read.status === 'read') assert.equal(read.longLines, 1);
  const binary = path.join(dir, 'bin.txt');
  fs.writeFileSync(binary, Buffer.from([0x73, 0x74, 0x00, 0xff, 0x0a]));
  assert.deepEqual(forEachLine(binary, () => {}), { status: 'refused', reason: 'binary (NUL bytes), not a text log' });
  fs.symlinkSync('/etc/passwd', path.join(dir, 'link.txt'));
  assert.deepEqual(forEachLine(path.join(dir, 'link.txt'), () => {}), { status: 'refused', reason: 'a symbolic link (not followed)' });
});

test('MLPerf and JSON-lines logs: the same run read from each', () => {
  const mllog = [
    ':::MLLOG {"namespace": "", "time_ms": 1000, "event_type": "INTERVAL_START", "key": "run_start", "value": null, "metadata": {}}',
    ':::MLLOG {"time_ms": 1000, "key": "submission_platform", "value": "8xNVIDIA H100", "metadata": {}}',
    'other output',
    ':::MLLOG {"time_ms": 61000, "key": "eval_accuracy", "value": 0.71, "metadata": {"epoch_num": 1}}',
    ':::MLLOG {"time_ms": 121000, "key": "eval_accuracy", "value": 0.76, "metadata": {"epoch_num": 2}}',
    ':::MLLOG {"time_ms": 121500, "key": "run_stop", "value": null, "metadata": {"status": "success"}}',
  ].join('\n');
  const m = parse(mllogParser(), mllog);
  assert.equal(m.status, 'read');
  if (m.status === 'read') {
    assert.deepEqual(m.run.metric, { name: 'eval_accuracy', lowerIsBetter: false });
    assert.deepEqual(m.run.evals.map((e) => [e.step, e.value, e.trainTimeMs]), [[1, 0.71, 60000], [2, 0.76, 120000]]);
    assert.equal(externalHardwareClass(m.run), 'NVIDIA H100 x8');
  }
  const jsonl = ['{"planned_steps": 4, "gpus": ["NVIDIA H200", "NVIDIA H200"]}', 'loading...', '{"step": 0, "val_loss": 10.8, "train_time_ms": 0}', '{"step": 2, "train_time_ms": 40}', '{"step": 4, "val_loss": 3.1, "train_time_ms": 80}'].join('\n');
  const j = parse(jsonlParser(), jsonl);
  assert.equal(j.status, 'read');
  if (j.status === 'read') {
    assert.equal(externalHardwareClass(j.run), 'NVIDIA H200 x2');
    assert.equal(j.run.evals.at(-1)!.trainTimeMs, 80);
  }
});

test('a folder is judged like a submission: one-sided t-test on the losses, Welch on the times against its baseline', () => {
  // Hand-computed: losses 3.27, 3.275, 3.272 -> mean 3.2723333, sd 0.0025166, t = (3.2723333 - 3.28) / (0.0025166 / sqrt 3)
  // = -5.2766, df 2, one-sided p = 0.017045 (scipy.stats.ttest_1samp(..., 3.28, alternative="less")).
  const run = (loss: number, ms: number) => ({ finalValue: loss, trainTimeMs: ms });
  const judged = judgeFolders(
    [
      { file: 'r/base/a.txt', ...run(3.27, 80_000) },
      { file: 'r/base/b.txt', ...run(3.275, 80_100) },
      { file: 'r/base/c.txt', ...run(3.272, 80_200) },
      { file: 'r/this_pr/a.txt', ...run(3.271, 79_000) },
      { file: 'r/this_pr/b.txt', ...run(3.272, 79_100) },
      { file: 'r/this_pr/c.txt', ...run(3.273, 79_200) },
    ].map((r) => ({ ...r, file: r.file.replace('base', 'baseline') })),
    3.28,
  );
  const [baseline, candidate] = judged;
  assert.equal(baseline!.folder, 'r/baseline');
  assert.ok(Math.abs(baseline!.pValue! - 0.017045) < 1e-6, String(baseline!.pValue));
  assert.equal(baseline!.verdict, 'misses the target');
  assert.equal(baseline!.meanTimeMs, 80_100);
  assert.ok(Math.abs(baseline!.timeStdMs - 100) < 1e-9);
  // this_pr: losses 3.271..3.273, mean 3.272, sd 0.001, t = -13.856, p = 0.0025840; times 1,000 ms faster, same sd:
  // Welch t = -1000 / sqrt(2 * 100² / 3) = -12.247, df 4, p = 1.2761e-4.
  assert.ok(Math.abs(candidate!.pValue! - 0.002584) < 1e-6, String(candidate!.pValue));
  assert.equal(candidate!.verdict, 'meets the target');
  assert.equal(candidate!.versusBaseline!.folder, 'r/baseline');
  assert.ok(Math.abs(candidate!.versusBaseline!.pValue - 1.2761e-4) < 1e-8, String(candidate!.versusBaseline!.pValue));
  assert.equal(candidate!.versusBaseline!.faster, true);
});

test('import --from modded-nanogpt: a folder of logs read, judged and stored once; bad logs listed, nothing outside read', async () => {
  const root = path.join(tempDir(), 'track_1_short');
  const record = path.join(root, '2026-07-17_Test');
  fs.mkdirSync(path.join(record, 'baseline'), { recursive: true });
  fs.mkdirSync(path.join(record, 'this_pr'));
  [3.276, 3.277, 3.278].forEach((loss, i) => fs.writeFileSync(path.join(record, 'baseline', `${i}.txt`), moddedLog(loss, 80_000 + i * 50)));
  [3.271, 3.272, 3.27].forEach((loss, i) => fs.writeFileSync(path.join(record, 'this_pr', `${i}.txt`), moddedLog(loss, 79_000 + i * 50)));
  fs.writeFileSync(path.join(record, 'this_pr', 'README.md'), 'not a log');
  fs.writeFileSync(path.join(record, 'this_pr', 'statistics.md'), 'not a log');
  fs.writeFileSync(path.join(record, 'garbage.txt'), Buffer.from([1, 2, 0, 3]));
  fs.writeFileSync(path.join(record, 'cut.txt'), moddedLog(3.27, 1000, { lastStep: 40 }));
  const outside = path.join(tempDir(), 'secret.txt');
  fs.writeFileSync(outside, moddedLog(3.1, 1));
  fs.symlinkSync(outside, path.join(record, 'link.txt'));
  const db = path.join(tempDir(), 'db.sqlite');
  const result = await runMain(['import', '--from', 'modded-nanogpt', root, '--db', db]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /modded-nanogpt track 1: FineWeb val loss 3\.28, 8x H100 \(external runs, self-reported\)/);
  assert.match(result.stdout, /track_1_short\/2026-07-17_Test\/this_pr\s+3\s+3\.2710\s+0\.00204\s+79\.050 ± 0\.050 s\s+meets the target; faster than baseline/);
  assert.match(result.stdout, /6 logs read, 6 new external runs, 3 refused/);
  assert.match(result.stderr, /refused: track_1_short\/2026-07-17_Test\/garbage\.txt: binary/);
  assert.match(result.stderr, /refused: track_1_short\/2026-07-17_Test\/cut\.txt: stops at step 40 of 100/);
  assert.match(result.stderr, /refused: track_1_short\/2026-07-17_Test\/link\.txt: a symbolic link \(not followed\)/);
  const again = await runMain(['import', '--from', 'modded-nanogpt', root, '--db', db]);
  assert.match(again.stdout, /6 logs read, 0 new external runs/);
  const store = ResultsStore.open(db);
  try {
    const runs = store.externalRuns('modded-nanogpt/track_1_short');
    assert.equal(runs.length, 6);
    assert.ok(runs.every((r) => r.hardwareClass === 'NVIDIA H100 80GB HBM3 x8' && r.timeToTargetMs !== null && r.codeHash !== null));
  } finally {
    store.close();
  }
  // The leaderboard shows them on a page of their own, saying they are self-reported; speedrun's tracks stay apart.
  const { renderSite } = await import('../harness/leaderboard/render.ts');
  const site = tempDir();
  const siteStore = ResultsStore.open(db);
  try {
    const { pages, data } = await renderSite(siteStore, site);
    assert.ok(pages.includes('external.html'));
    assert.equal(data.tracks.length, 0, 'no speedrun track made of external runs');
  } finally {
    siteStore.close();
  }
  const page = fs.readFileSync(path.join(site, 'external.html'), 'utf8');
  assert.match(page, /Self-reported/);
  assert.match(page, /modded-nanogpt track 1: FineWeb val loss 3\.28, 8x H100/);
  assert.match(page, /track_1_short\/2026-07-17_Test\/this_pr/);
  assert.match(fs.readFileSync(path.join(site, 'index.html'), 'utf8'), /href="external\.html"/);
  // Outside a known track's folder, the target must be given.
  const elsewhere = tempDir();
  fs.writeFileSync(path.join(elsewhere, 'a.log'), moddedLog(3.2, 100));
  const unknown = await runMain(['import', '--from', 'modded-nanogpt', elsewhere, '--db', db]);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /not under a known track's folder .*give --target/);
  const custom = await runMain(['import', '--from', 'modded-nanogpt', elsewhere, '--target', '3.5', '--track-name', 'mine', '--db', db]);
  assert.equal(custom.status, 0, custom.stderr);
  assert.match(custom.stdout, /mine: target 3\.5/);
});
