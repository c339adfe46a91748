/** `speedrun matrix`: Kubernetes Indexed Job and Slurm array generation, and one generated job run locally. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { fixtureTextFile, ROOT, runCli, tempDir } from './utils.ts';

const MATRIX = ['-r', 'baseline', '-r', 'muon,relu2', '--seeds', '3', '--first-seed', '10', '--backend', 'cpu'];

test('k8s: an Indexed Job whose completion index reaches each job its recipe and seed', () => {
  const result = runCli(['matrix', 'k8s', ...MATRIX, '--parallelism', '2', '--run-args=--steps 100']);
  assert.equal(result.status, 0, result.stderr);
  const job = parse(result.stdout) as {
    kind: string;
    spec: { completionMode: string; completions: number; parallelism: number; template: { spec: { containers: { command: string[] }[] } } };
  };
  assert.equal(job.kind, 'Job');
  assert.equal(job.spec.completionMode, 'Indexed');
  assert.equal(job.spec.completions, 6);
  assert.equal(job.spec.parallelism, 2);
  const command = job.spec.template.spec.containers[0]!.command;
  assert.deepEqual(command.slice(0, 2), ['npx', 'speedrun']);
  assert.ok(command.includes('$(JOB_COMPLETION_INDEX)'));
  const expected = [['baseline', 10], ['baseline', 11], ['baseline', 12], ['muon,relu2', 10], ['muon,relu2', 11], ['muon,relu2', 12]];
  for (let index = 0; index < 6; index++) {
    // What Kubernetes does: substitute the pod's index, then run the command (here with --dry-run).
    const args = command.slice(2).map((a) => (a === '$(JOB_COMPLETION_INDEX)' ? String(index) : a));
    const dry = runCli([...args, '--dry-run']);
    assert.equal(dry.status, 0, dry.stderr);
    const runArgs = JSON.parse(dry.stdout) as string[];
    assert.equal(runArgs[runArgs.indexOf('--recipe') + 1], expected[index]![0]);
    assert.equal(runArgs[runArgs.indexOf('--seed') + 1], String(expected[index]![1]));
    assert.ok(runArgs.includes('--steps'), 'the matrix run flags reach every job');
  }
  assert.equal(runCli(['matrix', 'run', ...MATRIX, '--index', '6']).status, 2, 'an index outside the matrix is an error');
  const typo = runCli(['matrix', 'k8s', '-r', 'baseline', '-r', 'muonn']);
  assert.equal(typo.status, 2, 'a recipe typo is caught before any job is generated');
  assert.match(typo.stderr, /unknown recipe 'muonn'/);
});

test('slurm: a job array whose task id selects the job; one generated job runs here end to end', () => {
  const results = tempDir();
  const track = `text:${fixtureTextFile()}`;
  const result = runCli(['matrix', 'slurm', '-r', 'baseline', '-t', track, '--seeds', '2', '--backend', 'wasm', '--workdir', ROOT, '--results', results, '--run-args=--preset micro --steps 20']);
  assert.equal(result.status, 0, result.stderr);
  const script = result.stdout;
  assert.match(script, /^#SBATCH --array=0-1%2$/m);
  assert.match(script, /--index "\$SLURM_ARRAY_TASK_ID"/);
  const file = path.join(tempDir(), 'job.sh');
  fs.writeFileSync(file, script);
  // What Slurm does for array task 1.
  const run = spawnSync('bash', [file], { encoding: 'utf8', env: { ...process.env, SLURM_ARRAY_TASK_ID: '1', CI: '1' }, timeout: 180_000 });
  assert.equal(run.status, 3, run.stderr); // the 20-step budget ends the micro run before the target
  assert.match(run.stderr, /matrix job 1: baseline on text:.*, seed 1/);
  const db = path.join(tempDir(), 'merged.db');
  const imported = runCli(['import', path.join(results, 'bundles'), '--db', db]);
  assert.match(imported.stdout, /1 added/);
  const runs = JSON.parse(runCli(['runs', '--db', db, '--json']).stdout) as { seed: number; steps: number }[];
  assert.deepEqual(runs.map((r) => [r.seed, r.steps]), [[1, 20]]);
});
