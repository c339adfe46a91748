// How speedrun's TypeScript runs. `npm ci` compiles harness/ and recipes/ to dist/ (tsc), and the CLI and its
// worker threads load that JavaScript while it matches the sources (a hash of them is stored beside it). Otherwise
// (a source edited since, or no compiler installed) they run the sources through tsx. Same code either way; the
// compiled path saves tsx's loader thread and per-module transforms: ~75 MiB of peak memory on a nano run.
//   node bin/runtime.mjs build    compile (never fails an install: prints why and falls back to tsx)
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const distOf = (root) => path.join(root, 'dist');
const hashFileOf = (root) => path.join(root, 'dist', '.source-hash');
const SOURCE_DIRS = ['harness', 'recipes'];
const CONFIGS = ['tsconfig.json', 'tsconfig.build.json'];

/** sha256 over the compiled sources (path and content, sorted) and the compiler configuration. */
export function sourceHash(root = ROOT) {
  const hash = createHash('sha256');
  const files = SOURCE_DIRS.flatMap((dir) =>
    fs
      .readdirSync(path.join(root, dir), { recursive: true })
      .map((f) => path.join(dir, String(f)))
      .filter((f) => f.endsWith('.ts')),
  );
  for (const file of [...files.sort(), ...CONFIGS]) {
    hash.update(`${file}\0`);
    hash.update(fs.readFileSync(path.join(root, file)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** The file URL of the compiled module for `relative` (e.g. 'harness/cli.ts'), or null when dist/ is absent or stale. */
export function compiledModule(relative, root = ROOT) {
  try {
    if (fs.readFileSync(hashFileOf(root), 'utf8').trim() !== sourceHash(root)) return null;
  } catch {
    return null;
  }
  const file = path.join(distOf(root), relative.replace(/\.ts$/, '.js'));
  return fs.existsSync(file) ? pathToFileURL(file).href : null;
}

/** Imports the compiled module if fresh, else registers tsx in this thread and imports the source. */
export async function importSource(relative) {
  const compiled = compiledModule(relative);
  if (compiled) return import(compiled);
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(path.join(ROOT, relative)).href);
}

function build() {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!fs.existsSync(tsc)) {
    console.log('speedrun: TypeScript not installed (production install); the CLI runs its sources through tsx');
    return;
  }
  // Already current: nothing to redo (and a process running from dist/, such as `speedrun ci`, keeps its files).
  if (compiledModule('harness/cli.ts')) {
    console.log('speedrun: dist/ is up to date with harness/ and recipes/');
    return;
  }
  const hash = sourceHash();
  fs.rmSync(distOf(ROOT), { recursive: true, force: true });
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) {
    const why = `${result.stdout}${result.stderr}`.trim().split('\n').slice(0, 2).join(' | ');
    console.log(`speedrun: compiling to dist/ failed (${why}); the CLI runs its sources through tsx`);
    return;
  }
  fs.writeFileSync(hashFileOf(ROOT), `${hash}\n`);
  console.log('speedrun: compiled harness/ and recipes/ to dist/');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.argv[2] === 'build') build();
