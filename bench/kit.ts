/**
 * `npm run bench:kit`: builds the offline kit (`speedrun pack`) and checks its size against the limit of the
 * issue that asked for it (60 MiB), with the largest parts listed, so a dependency that bloats it shows here.
 *   npm run bench:kit -- [out=/tmp/speedrun-kit.tar.xz]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pack } from '../harness/pack.ts';

const LIMIT_MIB = 60;
const [out = path.join(os.tmpdir(), 'speedrun-kit.tar.xz')] = process.argv.slice(2);
const start = performance.now();
const dir = await pack({ out: path.join(os.tmpdir(), `speedrun-kit-dir-${process.pid}`), compress: false });
const parts = new Map<string, number>();
for (const entry of fs.readdirSync(dir.directory, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile()) continue;
  const relative = path.relative(dir.directory, path.join(entry.parentPath, entry.name)).split(path.sep);
  const key = relative[0] === 'app' && relative[1] === 'node_modules' ? relative.slice(1, relative[2]?.startsWith('@') ? 4 : 3).join('/') : relative.slice(0, 2).join('/');
  parts.set(key, (parts.get(key) ?? 0) + fs.statSync(path.join(entry.parentPath, entry.name)).size);
}
fs.rmSync(dir.directory, { recursive: true, force: true });
const archive = await pack({ out, compress: true });
const mib = archive.bytes / 2 ** 20;
process.stdout.write(`kit ${out}: ${mib.toFixed(1)} MiB compressed (limit ${LIMIT_MIB} MiB: ${mib <= LIMIT_MIB ? 'met' : 'NOT met'}), ${(dir.bytes / 2 ** 20).toFixed(0)} MiB unpacked, ${archive.contents.packages} packages, node ${archive.contents.node}, glibc >= ${archive.contents.glibc}; ${((performance.now() - start) / 1000).toFixed(0)} s\n`);
process.stdout.write('largest parts (unpacked):\n');
for (const [name, bytes] of [...parts].sort((a, b) => b[1] - a[1]).slice(0, 12)) process.stdout.write(`  ${(bytes / 2 ** 20).toFixed(1).padStart(6)} MiB  ${name}\n`);
