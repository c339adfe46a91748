/** bin/runtime.mjs: compiled JavaScript is used only while it matches the sources. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// @ts-expect-error plain JavaScript module without declarations
import { compiledModule, sourceHash } from '../bin/runtime.mjs';

const write = (root: string, file: string, text: string) => {
  fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
  fs.writeFileSync(path.join(root, file), text);
};

test('compiled modules are used only while their source hash matches', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'speedrun-runtime-'));
  write(root, 'harness/cli.ts', 'export const a = 1;\n');
  write(root, 'harness/deep/x.ts', 'export const b = 2;\n');
  write(root, 'recipes/r.ts', 'export const c = 3;\n');
  write(root, 'tsconfig.json', '{}');
  write(root, 'tsconfig.build.json', '{}');
  write(root, 'dist/harness/cli.js', 'export const a = 1;\n');
  assert.equal(compiledModule('harness/cli.ts', root), null, 'no hash file: sources');
  write(root, 'dist/.source-hash', `${sourceHash(root)}\n`);
  assert.match(compiledModule('harness/cli.ts', root), /^file:.*\/dist\/harness\/cli\.js$/);
  assert.equal(compiledModule('harness/missing.ts', root), null, 'not compiled: sources');
  write(root, 'harness/deep/x.ts', 'export const b = 20;\n'); // an edit anywhere makes dist stale
  assert.equal(compiledModule('harness/cli.ts', root), null);
  write(root, 'harness/deep/x.ts', 'export const b = 2;\n');
  assert.notEqual(compiledModule('harness/cli.ts', root), null, 'same sources again: fresh');
  write(root, 'recipes/new.ts', 'export {};\n'); // a new file too
  assert.equal(compiledModule('harness/cli.ts', root), null);
});
