/** The machine and software a run happened on, and a hash of the code that ran it. */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory holding package.json: one level up from harness/ when run from source, two from dist/harness/. */
export const PROJECT_ROOT = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();

export interface Environment {
  speedrunVersion: string;
  node: string;
  platform: string;
  arch: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  hostname: string;
}

export function describeEnvironment(): Environment {
  const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
  return {
    speedrunVersion: pkg.version,
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    arch: os.arch(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    hostname: os.hostname(),
  };
}

/** The sources a code hash covers: every .ts file under harness/ and recipes/, by path relative to the project. */
export function codeFiles(root = PROJECT_ROOT): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) files[path.relative(root, full).split(path.sep).join('/')] = fs.readFileSync(full, 'utf8');
    }
  };
  for (const dir of ['harness', 'recipes']) walk(path.join(root, dir));
  return files;
}

/** sha256 over (path, content) pairs sorted by path: what a record's code hash checks. */
export function hashCodeFiles(files: Record<string, string>): string {
  const hash = createHash('sha256');
  for (const file of Object.keys(files).sort()) {
    hash.update(file);
    hash.update('\0');
    hash.update(files[file]!);
  }
  return hash.digest('hex');
}

export function codeHash(): string {
  return hashCodeFiles(codeFiles());
}
