/**
 * The command line (yargs). Each command parses flags and calls a function the tests can call too.
 * UserError -> one line on stderr and exit 2; any other error is a bug and keeps its stack trace.
 */
import yargs from 'yargs';
import { BACKEND_NAMES, describeBackends, type BackendRequest } from './backends/index.ts';
import { MODEL_PRESETS } from './config.ts';
import { EXIT, UserError } from './errors.ts';
import { prepareShards } from './data/prepare.ts';
import { executeRun, resolveRun, type RunRecord, type RunRequest } from './run.ts';
import { formatSummary, progressObserver } from './progress.ts';
import { BUILTIN_TRACKS, trackId } from './tracks.ts';
import { RECIPE_FACTORIES } from '../recipes/index.ts';

export const STATUS_EXIT: Record<RunRecord['status'], number> = {
  success: EXIT.success,
  budget_exhausted: EXIT.targetNotReached,
  diverged: EXIT.diverged,
  aborted: EXIT.aborted,
};

async function runCommand(request: RunRequest, quiet: boolean): Promise<number> {
  const plan = await resolveRun(request);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(
    `speedrun: ${plan.recipes.names.join(',')} on ${trackId(plan.track)}${plan.official ? '' : ' (unofficial)'}, ` +
      `target val loss ${plan.config.train.target}, backend ${plan.backend.name} (${plan.backend.threads} thread${plan.backend.threads === 1 ? '' : 's'}), seed ${plan.config.train.seed}`,
  );
  for (const note of plan.notes) log(`note: ${note}`);
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(EXIT.aborted); // second Ctrl-C: leave now
    controller.abort();
    log('\ninterrupted: finishing the current step and writing what was measured (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSigint);
  const progress = quiet ? undefined : progressObserver(plan);
  let record: RunRecord;
  try {
    record = await executeRun(plan, request, { observer: progress?.observer, signal: controller.signal });
  } finally {
    progress?.stop();
    process.off('SIGINT', onSigint);
  }
  process.stderr.write(`\n${formatSummary(record)}\n`);
  return STATUS_EXIT[record.status];
}

function listCommand(): number {
  const out: string[] = ['Recipes:'];
  for (const [name, factory] of Object.entries(RECIPE_FACTORIES)) {
    const r = factory();
    out.push(`  ${name.padEnd(16)} ${r.description}`, `  ${''.padEnd(16)} source: ${r.source}`);
  }
  out.push('', 'Tracks:');
  for (const t of BUILTIN_TRACKS) {
    out.push(`  ${trackId(t).padEnd(16)} ${t.description}; preset ${t.preset}, batch ${t.batchSize}, target ${t.target}, eval every ${t.evalInterval} steps on ${t.evalTokens} tokens`);
  }
  out.push(`  ${'text:<file>'.padEnd(16)} any UTF-8 text, char level, first 90% train / last 10% val (unofficial)`);
  out.push(`  ${'shards:<dir>'.padEnd(16)} modded-nanogpt .bin GPT-2 token shards (*_train_*.bin, *_val_*.bin) (unofficial)`);
  out.push('', 'Model presets:');
  for (const [name, p] of Object.entries(MODEL_PRESETS)) {
    out.push(`  ${name.padEnd(16)} ${p.nLayer} layers, ${p.nHead} heads, width ${p.nEmbd}, context ${p.blockSize}, batch ${p.batchSize}`);
  }
  out.push('', 'Backends (auto picks the first available of tensorflow-gpu, tensorflow, wasm):');
  for (const b of describeBackends()) out.push(`  ${b.name.padEnd(16)} ${b.available ? 'available' : 'not installed'}: ${b.how}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return EXIT.success;
}

export async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.success;
  const parser = yargs(argv)
    .scriptName('speedrun')
    .usage('$0 [run] --recipe <a,b,...> [options]\n\nTime how long a recipe takes to train a GPT to a track\'s target validation loss.')
    .command(
      ['run', '$0'],
      'train until the target validation loss (the default command)',
      (y) =>
        y
          .option('recipe', { alias: 'r', type: 'string', default: 'baseline', describe: 'recipes to compose, in order: a,b,c' })
          .option('track', { alias: 't', type: 'string', default: 'brown-char', describe: 'brown-char | text:<file> | shards:<dir>' })
          .option('backend', { alias: 'b', type: 'string', default: 'auto', describe: `engine: ${BACKEND_NAMES.join(' | ')}` })
          .option('seed', { type: 'number', default: 0, describe: 'seed of the initialization and the data order' })
          .option('steps', { type: 'number', describe: 'step budget (override: run becomes unofficial)' })
          .option('max-time', { type: 'number', describe: 'train-clock budget in seconds (override: unofficial)' })
          .option('target', { type: 'number', describe: 'target validation loss (override: unofficial)' })
          .option('preset', { type: 'string', describe: `model preset: ${Object.keys(MODEL_PRESETS).join(' | ')} (override: unofficial)` })
          .option('lr', { type: 'number', describe: 'peak learning rate (min lr scales with it)' })
          .option('threads', { type: 'number', describe: 'wasm threads (default: all cores)' })
          .option('grad-accum', { type: 'number', describe: 'split each batch into N micro-batches (same global batch, less memory)' })
          .option('out', { type: 'string', describe: 'results directory (default: $SPEEDRUN_RESULTS, else ./results)' })
          .option('mllog', { type: 'boolean', default: false, describe: 'also print :::MLLOG lines to stdout' })
          .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress bar' }),
      async (args) => {
        exitCode = await runCommand(
          {
            recipe: args.recipe,
            track: args.track,
            backend: args.backend as BackendRequest,
            seed: args.seed,
            steps: args.steps,
            maxTimeSec: args['max-time'],
            target: args.target,
            preset: args.preset,
            lr: args.lr,
            threads: args.threads,
            gradAccum: args['grad-accum'],
            outDir: args.out,
            mllog: args.mllog,
          },
          args.quiet,
        );
      },
    )
    .command('list', 'show recipes, tracks, presets and the backends that load here', {}, () => {
      exitCode = listCommand();
    })
    .command('data', 'data tools: `data prepare` writes GPT-2 BPE .bin shards from text', (data) =>
      data
        .command(
          'prepare',
          'tokenize text files with GPT-2 BPE into modded-nanogpt .bin shards',
          (y) =>
            y
              .option('input', { alias: 'i', type: 'string', array: true, demandOption: true, describe: 'UTF-8 text file(s)' })
              .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'output directory' })
              .option('name', { type: 'string', default: 'data', describe: 'shard name prefix' })
              .option('val-fraction', { type: 'number', default: 0.1 })
              .option('shard-tokens', { type: 'number', default: 100_000_000 }),
          (args) => {
            const result = prepareShards({
              inputs: args.input,
              outDir: args.out,
              name: args.name,
              valFraction: args['val-fraction'],
              shardTokens: args['shard-tokens'],
            });
            process.stdout.write(`wrote ${result.files.length} shard(s): ${result.trainTokens} train + ${result.valTokens} val tokens\n${result.files.join('\n')}\n`);
          },
        )
        .demandCommand(1, 'choose a data command: prepare'),
    )
    .strict()
    .help()
    .epilogue('Exit codes: 0 target reached, 2 bad input, 3 target not reached within the budget, 4 diverged, 130 interrupted.')
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new UserError(message);
    });
  try {
    await parser.parseAsync();
  } catch (error) {
    if (error instanceof UserError) {
      process.stderr.write(`speedrun: ${error.message}\n`);
      return EXIT.badInput;
    }
    throw error;
  }
  return exitCode;
}
