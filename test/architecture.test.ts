/** The structure the code keeps: no import cycle in harness/ and recipes/ (type imports included). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './utils.ts';

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const dir of ['harness', 'recipes']) {
    for (const file of fs.readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts')) continue;
      const from = path.join(dir, file);
      const source = fs.readFileSync(path.join(ROOT, from), 'utf8');
      const targets = [...source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g)].map((m) => path.normalize(path.join(path.dirname(from), m[1] ?? m[2]!)));
      graph.set(path.normalize(from), targets);
    }
  }
  return graph;
}

function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === 'open') return [...stack.slice(stack.indexOf(next)), next];
      if (state.get(next) === undefined) {
        const found = visit(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.keys()) {
    if (state.get(node) === undefined) {
      const found = visit(node);
      if (found) return found;
    }
  }
  return undefined;
}

test('no import cycle in harness/ and recipes/, type imports included', () => {
  const graph = importGraph();
  assert.ok(graph.size > 50, 'the sources were read');
  assert.deepEqual(findCycle(graph), undefined);
  // The finder itself finds a cycle when there is one.
  assert.deepEqual(findCycle(new Map([['a', ['b']], ['b', ['a']]])), ['a', 'b', 'a']);
});
