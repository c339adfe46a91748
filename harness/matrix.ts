/**
 * `speedrun matrix`: recipes x seeds x tracks as jobs for an engine that already schedules jobs, rather than a
 * home-made cluster scheduler — a Kubernetes Indexed Job (completionMode: Indexed; each pod gets
 * JOB_COMPLETION_INDEX) or a Slurm job array (#SBATCH --array; each task gets SLURM_ARRAY_TASK_ID).
 * Every job runs `speedrun matrix run --index <i>` with the same matrix flags: the expansion is deterministic,
 * so job i knows its track, recipes and seed without any file shipped to it. Jobs write run bundles that
 * `speedrun import` merges afterwards.
 */
import { stringify } from 'yaml';
import { UserError } from './errors.ts';
import { MAX_SEEDS } from './units.ts';


export interface MatrixSpec {
  recipes: string[]; // recipe sets, each "a,b,c"
  tracks: string[];
  seeds: number; // seeds firstSeed .. firstSeed + seeds - 1
  firstSeed: number;
  backend: string;
  /** Extra `speedrun run` flags for every job (overrides such as --steps). */
  runArgs: string[];
}

export interface MatrixJob {
  index: number;
  track: string;
  recipe: string;
  seed: number;
}

/** Tracks, then recipes, then seeds: consecutive indices are the seeds of one configuration. */
export function expandMatrix(spec: MatrixSpec): MatrixJob[] {
  if (spec.recipes.length === 0 || spec.tracks.length === 0) throw new UserError('matrix: needs at least one --recipe and one --track');
  if (!Number.isInteger(spec.seeds) || spec.seeds < 1 || spec.seeds > MAX_SEEDS) throw new UserError(`matrix: --seeds must be an integer from 1 to ${MAX_SEEDS}, got ${spec.seeds}`);
  if (!Number.isInteger(spec.firstSeed) || spec.firstSeed < 0) throw new UserError(`matrix: --first-seed must be a non-negative integer, got ${spec.firstSeed}`);
  const jobs: MatrixJob[] = [];
  for (const track of spec.tracks) {
    for (const recipe of spec.recipes) {
      for (let s = 0; s < spec.seeds; s++) jobs.push({ index: jobs.length, track, recipe, seed: spec.firstSeed + s });
    }
  }
  return jobs;
}

export function jobAt(spec: MatrixSpec, index: number): MatrixJob {
  const jobs = expandMatrix(spec);
  const job = Number.isInteger(index) ? jobs[index] : undefined;
  if (!job) throw new UserError(`matrix: --index ${index} is outside the matrix of ${jobs.length} jobs (0-${jobs.length - 1})`);
  return job;
}

/** The `speedrun run` arguments of one job. */
export function runArgsOf(spec: MatrixSpec, job: MatrixJob): string[] {
  return ['run', '--recipe', job.recipe, '--track', job.track, '--seed', String(job.seed), '--backend', spec.backend, '--quiet', ...spec.runArgs];
}

/** `speedrun matrix run` with this matrix's flags and the index left to the scheduler's variable. */
export function matrixRunArgs(spec: MatrixSpec, index: string): string[] {
  const args = ['matrix', 'run', '--index', index];
  for (const r of spec.recipes) args.push('--recipe', r);
  for (const t of spec.tracks) args.push('--track', t);
  args.push('--seeds', String(spec.seeds), '--first-seed', String(spec.firstSeed), '--backend', spec.backend);
  if (spec.runArgs.length > 0) args.push(`--run-args=${spec.runArgs.join(' ')}`);
  return args;
}

export interface ClusterOptions {
  name: string;
  /** Kubernetes: container image with the project installed in workdir. */
  image: string;
  /** Where the project is inside the image / on the cluster's shared filesystem. */
  workdir: string;
  /** Where jobs write results (a shared volume / filesystem); bundles land in <results>/bundles. */
  results: string;
  parallelism: number;
  cpus: number;
  /**
   * A speedrun kit (`speedrun pack`, unpacked on the cluster's shared filesystem): its launcher runs the jobs, so
   * the nodes need no npm, no Node.js and no network. Absent: `npx speedrun` in workdir.
   */
  kit?: string;
}

const shellQuote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The command that starts speedrun in a job: the kit's launcher, or npx in the project directory. */
const launcher = (options: ClusterOptions): string[] => (options.kit ? [`${options.kit.replace(/\/+$/, '')}/speedrun`] : ['npx', 'speedrun']);

/**
 * Every value a generated job file embeds is checked here first. Control characters are refused everywhere: a
 * newline would end a `#SBATCH` line or a comment and start a command of its own. The job name must be a
 * Kubernetes name (DNS-1123 label), which Slurm also accepts verbatim.
 */
function checkInputs(spec: MatrixSpec, options: ClusterOptions): void {
  const values: [string, string][] = [
    ['--name', options.name],
    ['--image', options.image],
    ['--workdir', options.workdir],
    ['--results', options.results],
    ['--backend', spec.backend],
    ...spec.recipes.map((r): [string, string] => ['--recipe', r]),
    ...spec.tracks.map((t): [string, string] => ['--track', t]),
    ...spec.runArgs.map((a): [string, string] => ['--run-args', a]),
  ];
  for (const [flag, value] of values) {
    if (/[\u0000-\u001f\u007f]/.test(value)) throw new UserError(`matrix: ${flag} holds a control character (a newline would break out of the generated file): ${JSON.stringify(value)}`);
  }
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(options.name)) throw new UserError(`matrix: --name must be lowercase letters, digits and '-' (at most 63, a Kubernetes name), got ${JSON.stringify(options.name)}`);
}

/** Scheduler numbers must be what the scheduler accepts: a job array throttle of 0 or a CPU count of NaN is not. */
function checkCluster(spec: MatrixSpec, options: ClusterOptions): void {
  checkInputs(spec, options);
  if (!Number.isInteger(options.parallelism) || options.parallelism < 1) throw new UserError(`matrix: --parallelism must be a positive integer, got ${options.parallelism}`);
  if (!Number.isFinite(options.cpus) || options.cpus <= 0) throw new UserError(`matrix: --cpus must be a positive number, got ${options.cpus}`);
  if (options.kit !== undefined && !/^\/[\w@%+=:,./-]*$/.test(options.kit)) throw new UserError(`matrix: --kit must be an absolute path on the cluster (letters, digits and ._-/), got ${JSON.stringify(options.kit)}`);
}

export function kubernetesJob(spec: MatrixSpec, options: ClusterOptions): string {
  checkCluster(spec, options);
  const jobs = expandMatrix(spec);
  const manifest = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: options.name, labels: { app: 'speedrun' } },
    spec: {
      completionMode: 'Indexed',
      completions: jobs.length,
      parallelism: Math.min(options.parallelism, jobs.length),
      backoffLimitPerIndex: 1, // a failed run is retried once on its own; the others go on
      template: {
        metadata: { labels: { app: 'speedrun' } },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'speedrun',
              image: options.image,
              workingDir: options.workdir,
              // Kubernetes expands $(JOB_COMPLETION_INDEX), which the Indexed Job sets in every pod.
              command: [...launcher(options), ...matrixRunArgs(spec, '$(JOB_COMPLETION_INDEX)')],
              env: [{ name: 'SPEEDRUN_RESULTS', value: options.results }],
              resources: { requests: { cpu: String(options.cpus) }, limits: { cpu: String(options.cpus) } },
              volumeMounts: [{ name: 'results', mountPath: options.results }],
            },
          ],
          volumes: [{ name: 'results', persistentVolumeClaim: { claimName: `${options.name}-results` } }],
        },
      },
    },
  };
  const header = `# ${jobs.length} speedrun jobs (${spec.tracks.length} track(s) x ${spec.recipes.length} recipe set(s) x ${spec.seeds} seed(s)).\n# Afterwards: speedrun import ${shellQuote(`${options.results}/bundles`)}\n`;
  return header + stringify(manifest);
}

export function slurmScript(spec: MatrixSpec, options: ClusterOptions): string {
  checkCluster(spec, options);
  const jobs = expandMatrix(spec);
  const command = [...launcher(options), ...matrixRunArgs(spec, 'INDEX')].map((a) => (a === 'INDEX' ? '"$SLURM_ARRAY_TASK_ID"' : shellQuote(a)));
  return [
    '#!/bin/bash',
    `#SBATCH --job-name=${options.name}`,
    `#SBATCH --array=0-${jobs.length - 1}%${Math.min(options.parallelism, jobs.length)}`,
    '#SBATCH --ntasks=1',
    `#SBATCH --cpus-per-task=${options.cpus}`,
    `#SBATCH --output=${options.name}-%A_%a.log`,
    `# ${jobs.length} speedrun jobs (${spec.tracks.length} track(s) x ${spec.recipes.length} recipe set(s) x ${spec.seeds} seed(s)).`,
    `# Afterwards: speedrun import ${shellQuote(`${options.results}/bundles`)}`,
    'set -euo pipefail',
    `cd ${shellQuote(options.workdir)}`,
    `export SPEEDRUN_RESULTS=${shellQuote(options.results)}`,
    command.join(' '),
    '',
  ].join('\n');
}
