/**
 * `speedrun pack`: one relocatable archive with everything a run needs, for machines without npm or internet
 * (HPC compute nodes, air-gapped GPU boxes): the Node.js binary that is running, speedrun as compiled here (dist/,
 * with its sources, which every run bundle embeds), its production dependencies pruned to what Node loads, the
 * native modules built here (better-sqlite3, Dawn's dawn.node for linux-x64, the native backend's addon with the
 * OpenBLAS it links), the embedded corpus, and a launcher that checks the machine first.
 *   tar xf speedrun-kit.tar.xz && ./speedrun-kit/speedrun --recipe baseline
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROJECT_ROOT } from './environment.ts';
import { UserError } from './errors.ts';
import { onInterrupt, runChild } from './interrupt.ts';
import { ADDON_PATH, KERNELS_ADDON_PATH } from './backends/nativeBlas.ts';

/** The project's own files a kit carries (beside dist/): sources for the code hash and bundles, templates. */
const APP_FILES = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'bin', 'dist', 'harness', 'recipes', 'site'];
/** Dependencies only the install or the sources path needs (the kit runs dist/, compiled and current). */
const NOT_AT_RUNTIME = new Set(['tsx', 'esbuild', 'get-tsconfig', 'resolve-pkg-maps', 'typescript']);
/** Libraries the native addon links that a bare glibc system may lack (glibc's own are always there). */
const CARRIED_LIBRARIES = /^lib(openblas|gfortran|quadmath|dnnl|gomp|OpenCL)\b/;

export interface PackResult {
  archive: string | null;
  directory: string;
  bytes: number;
  /** What went in, for the report. */
  contents: { node: string; packages: number; native: string[]; glibc: string };
}

interface PackageJson {
  name: string;
  main?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** The production dependency closure of the project: the packages' directories (optional ones if installed). */
export function productionPackages(root = PROJECT_ROOT): Set<string> {
  const found = new Set<string>();
  const visit = (fromDir: string, name: string, optional: boolean) => {
    if (NOT_AT_RUNTIME.has(name) || name.startsWith('@esbuild/')) return;
    let manifest: string;
    try {
      manifest = createRequire(path.join(fromDir, 'package.json')).resolve(`${name}/package.json`);
    } catch {
      // Packages whose exports hide package.json: find the directory on the node_modules path.
      const dir = nodeModulesPath(fromDir).map((d) => path.join(d, name)).find((d) => fs.existsSync(path.join(d, 'package.json')));
      if (!dir) {
        if (optional) return;
        throw new UserError(`speedrun pack: dependency ${name} is not installed (run npm ci first)`);
      }
      manifest = path.join(dir, 'package.json');
    }
    const dir = path.dirname(manifest);
    if (found.has(dir)) return;
    found.add(dir);
    const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8')) as PackageJson;
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dir, dep, false);
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) visit(dir, dep, true);
  };
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as PackageJson;
  for (const dep of Object.keys(pkg.dependencies ?? {})) visit(root, dep, false);
  for (const dep of Object.keys(pkg.optionalDependencies ?? {})) visit(root, dep, true);
  return found;
}

function nodeModulesPath(dir: string): string[] {
  const out: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    out.push(path.join(d, 'node_modules'));
    if (path.dirname(d) === d) return out;
  }
}

/**
 * Which files of a package Node never loads: source maps, type declarations, docs and tests, the browser and
 * ES-module builds of TF.js beside the Node bundle its `main` names, and Dawn's builds for other platforms.
 */
export function isPrunable(packageName: string, relative: string, main: string | undefined): boolean {
  const file = relative.split(path.sep).join('/');
  if (/\.(map|d\.ts|d\.mts|d\.cts|tsbuildinfo)$/.test(file)) return true;
  if (/(^|\/)(test|tests|__tests__|docs?|examples?|\.github|benchmark)(\/|$)/.test(file)) return true;
  if (/\.(md|markdown)$/i.test(file) && !/^licen[cs]e/i.test(path.basename(file))) return true;
  if (packageName.startsWith('@tensorflow/')) {
    // The Node bundle (`main`, e.g. dist/tf-core.node.js) is self-contained, and loads the wasm binaries beside it
    // (dist/*.wasm; wasm-out/ holds the same builds for bundlers).
    const keep = main ? path.posix.normalize(main) : '';
    if (file === keep || file === 'package.json' || /^dist\/[^/]+\.wasm$/.test(file) || /^licen[cs]e/i.test(file)) return false;
    return true;
  }
  if (packageName === 'webgpu') return file.startsWith('dist/') && !file.startsWith('dist/linux-x64/');
  if (packageName === 'better-sqlite3') return file.startsWith('deps/') || file.startsWith('src/') || (file.startsWith('build/') && !file.endsWith('.node'));
  if (packageName === 'gpt-tokenizer') return file.startsWith('src/') || file.startsWith('cjs/');
  return false;
}

function copyTree(from: string, to: string, skip: (relative: string) => boolean): void {
  for (const entry of fs.readdirSync(from, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() && !entry.isSymbolicLink()) continue;
    const source = path.join(entry.parentPath, entry.name);
    const relative = path.relative(from, source);
    if (relative.split(path.sep).includes('node_modules') || skip(relative)) continue;
    const target = path.join(to, relative);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(fs.realpathSync(source), target);
    fs.chmodSync(target, fs.statSync(source).mode & 0o777);
  }
}

/** The newest GLIBC_2.x symbol version any of these binaries asks for: the kit's glibc floor. */
export function glibcFloor(binaries: string[]): string {
  let best = [2, 17];
  for (const file of binaries) {
    const text = fs.readFileSync(file).toString('latin1');
    for (const m of text.matchAll(/GLIBC_2\.(\d+)(?:\.(\d+))?/g)) {
      const version = [2, Number(m[1])];
      if (version[1]! > best[1]!) best = version;
    }
  }
  return best.join('.');
}

/** The launcher: refuses clearly on another architecture or an older (or no) glibc, then runs the kit's node. */
/**
 * Written into the kit last, and packed as the archive's last member: a kit cut short (a truncated download or
 * copy) lacks it, and the launcher says so instead of running a truncated binary.
 */
export const KIT_MARKER = '.kit-complete';

export function launcherScript(glibc: string): string {
  return `#!/bin/sh
# speedrun kit launcher (made by \`speedrun pack\`): the kit's own Node.js runs speedrun; nothing is installed.
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$here/${KIT_MARKER}" ]; then
  echo "speedrun kit: this kit is incomplete ($here/${KIT_MARKER} is missing: the archive was cut short); copy the whole archive and extract it again" >&2
  exit 2
fi
arch=$(uname -m)
if [ "$arch" != x86_64 ]; then
  echo "speedrun kit: built for x86_64 Linux; this machine is $arch (pack a kit on a machine like this one)" >&2
  exit 2
fi
need=${glibc}
have=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc //p')
if [ -z "$have" ]; then
  echo "speedrun kit: needs glibc $need or newer; this system's C library is not glibc" >&2
  exit 2
fi
if [ "$(printf '%s\\n%s\\n' "$need" "$have" | sort -t. -k1,1n -k2,2n | head -n 1)" != "$need" ]; then
  echo "speedrun kit: needs glibc $need or newer; this system has $have" >&2
  exit 2
fi
export LD_LIBRARY_PATH="$here/lib\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$here/node" "$here/app/bin/speedrun.js" "$@"
`;
}

/** The shared libraries `ldd` resolves for a binary that the kit carries (OpenBLAS and its Fortran runtime). */
function carriedLibraries(binary: string): string[] {
  const ldd = spawnSync('ldd', [binary], { encoding: 'utf8' });
  if (ldd.status !== 0) return [];
  return ldd.stdout
    .split('\n')
    .map((line) => /^\s*(\S+) => (\S+)/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && CARRIED_LIBRARIES.test(m[1]!))
    .map((m) => m[2]!);
}

/** The CPU level a kit's native addons are compiled for: AVX2 and FMA, which every x86 server since about 2015 has. */
export const KIT_MARCH = 'x86-64-v3';

/**
 * The native addons for a kit: built from native/ in a scratch copy for KIT_MARCH; where that build fails (no
 * compiler), the host's own builds, with a warning, since they may use instructions the kit's machine lacks.
 */
async function portableAddons(staging: string, log: (line: string) => void): Promise<string[]> {
  const hostBuilt = [ADDON_PATH, KERNELS_ADDON_PATH].filter((file) => fs.existsSync(file));
  if (hostBuilt.length === 0) return [];
  const source = path.join(staging, 'native-build');
  fs.cpSync(path.join(PROJECT_ROOT, 'native'), source, { recursive: true, filter: (from) => path.basename(from) !== 'build' });
  const built = await runChild(process.execPath, [path.join(source, 'build.mjs')], { cwd: source, env: { ...process.env, SPEEDRUN_MARCH: KIT_MARCH } });
  const release = path.join(source, 'build', 'Release');
  const portable = [path.basename(ADDON_PATH), path.basename(KERNELS_ADDON_PATH)].map((name) => path.join(release, name)).filter((file) => fs.existsSync(file));
  if (built.status === 0 && portable.length >= hostBuilt.length) return portable;
  log(`warning: the native addons could not be rebuilt for ${KIT_MARCH} (${built.stdout.trim().split('\n').at(-1) ?? 'node-gyp failed'}); the kit carries this machine's -march=native builds`);
  return hostBuilt;
}

/**
 * Builds the kit in a staging folder and writes the archive under a temporary name, renamed last: an interrupted
 * or failed pack leaves neither the staging folder nor a partial archive at the final path (harness/interrupt.ts).
 */
export async function pack(options: { out: string; compress: boolean; log?: (line: string) => void }): Promise<PackResult> {
  const log = options.log ?? (() => {});
  const stamp = path.join(PROJECT_ROOT, 'dist', '.source-hash');
  if (!fs.existsSync(stamp)) throw new UserError('speedrun pack: dist/ is missing; run `npm run build` (or npm ci) first');
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'speedrun-pack-'));
  const kit = path.join(staging, 'speedrun-kit');
  const app = path.join(kit, 'app');
  const out = path.resolve(options.out);
  const partial = `${out}.partial-${process.pid}`;
  const cleanup = () => {
    fs.rmSync(staging, { recursive: true, force: true });
    fs.rmSync(partial, { recursive: true, force: true });
  };
  const forget = onInterrupt(cleanup);
  try {
    fs.mkdirSync(path.join(kit, 'lib'), { recursive: true });
    fs.copyFileSync(process.execPath, path.join(kit, 'node'));
    fs.chmodSync(path.join(kit, 'node'), 0o755);
    for (const item of APP_FILES) {
      const from = path.join(PROJECT_ROOT, item);
      if (!fs.existsSync(from)) continue;
      if (fs.statSync(from).isDirectory()) copyTree(from, path.join(app, item), () => false);
      else fs.cpSync(from, path.join(app, item));
    }
    const native: string[] = [];
    // Both builds of the native addon where they exist (OpenBLAS's, with the libraries it links, and the
    // kernels-only one), compiled again for x86-64-v3: the host's are -march=native, and a kit runs elsewhere.
    for (const addon of await portableAddons(staging, log)) {
      fs.mkdirSync(path.join(app, 'native', 'build', 'Release'), { recursive: true });
      fs.copyFileSync(addon, path.join(app, 'native', 'build', 'Release', path.basename(addon)));
      native.push(`native backend addon ${path.basename(addon)}`);
      for (const lib of carriedLibraries(addon)) {
        fs.copyFileSync(fs.realpathSync(lib), path.join(kit, 'lib', path.basename(lib)));
        if (!native.includes(path.basename(lib))) native.push(path.basename(lib));
      }
    }
    const packages = productionPackages();
    for (const dir of packages) {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as PackageJson;
      const target = path.join(app, path.relative(PROJECT_ROOT, dir));
      copyTree(dir, target, (relative) => isPrunable(pkg.name, relative, pkg.main));
      if (pkg.name === 'better-sqlite3' || pkg.name === 'webgpu') native.push(pkg.name);
    }
    // The floor is what every run needs: node and the database's addon. The native backend's addon and Dawn are
    // optional (a machine with an older glibc falls back to wasm, and `speedrun list` says why).
    const required = [path.join(kit, 'node'), ...fs.readdirSync(app, { recursive: true }).map(String).filter((f) => f.endsWith('better_sqlite3.node')).map((f) => path.join(app, f))];
    const glibc = glibcFloor(required);
    fs.writeFileSync(path.join(kit, 'speedrun'), launcherScript(glibc), { mode: 0o755 });
    log(`packed node ${process.version}, ${packages.size} packages, ${native.join(', ')}; needs glibc ${glibc}`);
    const members = fs.readdirSync(kit, { recursive: true, encoding: 'utf8' }).sort().map((f) => path.join('speedrun-kit', f));
    fs.writeFileSync(path.join(kit, KIT_MARKER), `speedrun kit, node ${process.version}, ${members.length} files\n`);
    if (!options.compress) {
      fs.rmSync(out, { recursive: true, force: true });
      fs.renameSync(kit, out);
      return { archive: null, directory: out, bytes: directoryBytes(out), contents: { node: process.version, packages: packages.size, native, glibc } };
    }
    fs.mkdirSync(path.dirname(out), { recursive: true });
    // The members in a fixed order with the marker last, so that any truncation takes the marker first.
    const list = path.join(staging, 'members.txt');
    fs.writeFileSync(list, `${['speedrun-kit', ...members, path.join('speedrun-kit', KIT_MARKER)].join('\n')}\n`);
    const tar = await runChild('tar', ['-C', staging, '--no-recursion', '-T', list, '-cJf', partial], { env: { ...process.env, XZ_OPT: '-6 -T0' } });
    if (tar.status !== 0) throw new UserError(`speedrun pack: tar failed: ${tar.stderr.trim().split('\n')[0] ?? tar.error?.message}`);
    fs.renameSync(partial, out);
    return { archive: out, directory: kit, bytes: fs.statSync(out).size, contents: { node: process.version, packages: packages.size, native, glibc } };
  } finally {
    forget();
    cleanup();
  }
}

function directoryBytes(dir: string): number {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((sum, e) => sum + fs.statSync(path.join(e.parentPath, e.name)).size, 0);
}
