/** The static leaderboard, rendered from a seeded database: pages, escaping, empty states, Markdown. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildLeaderboard } from '../harness/leaderboard/model.ts';
import { recordTablesMarkdown, renderSite } from '../harness/leaderboard/render.ts';
import { ResultsStore } from '../harness/store/database.ts';
import { HOSTILE_DESCRIPTION, seedLeaderboardDb } from './fixtures/leaderboard-db.ts';
import { syntheticRun } from './fixtures/records.ts';
import { tempDir } from './utils.ts';

test('the site has an index, a page per track and per record, and charts as inline SVG', async () => {
  const dir = tempDir();
  const store = seedLeaderboardDb(path.join(dir, 'seed.db'));
  const { pages } = await renderSite(store, path.join(dir, 'site'));
  store.close();
  assert.deepEqual(pages.filter((p) => p.startsWith('tracks/')).sort(), ['tracks/brown-char-v1.html', 'tracks/shards_fineweb10B-v1.html']);
  assert.equal(pages.filter((p) => p.startsWith('records/')).length, 4);
  const track = fs.readFileSync(path.join(dir, 'site', 'tracks', 'brown-char-v1.html'), 'utf8');
  assert.match(track, /id="record-history"><svg/);
  assert.match(track, /id="recipe-comparison"><svg/);
  const index = fs.readFileSync(path.join(dir, 'site', 'index.html'), 'utf8');
  // Records oldest first; the last one is the current record.
  const order = [...index.matchAll(/<code>([a-z0-9,-]+)<\/code><\/td>/g)].map((m) => m[1]);
  assert.deepEqual(order, ['baseline', 'muon', 'ngpt', 'ngpt,softcap']);
  assert.equal(index.match(/class="current"/g)?.length, 1);
  assert.match(index, /No records on this track yet/);
  const bare = fs.readFileSync(path.join(dir, 'site', 'records', 'brown-char-v1-4.html'), 'utf8');
  assert.match(bare, /These runs have no evaluation points/);
});

test('user-supplied text is HTML-escaped everywhere it appears', async () => {
  const dir = tempDir();
  const store = seedLeaderboardDb(path.join(dir, 'seed.db'));
  await renderSite(store, path.join(dir, 'site'));
  const markdown = recordTablesMarkdown(store);
  store.close();
  const files = ['index.html', 'tracks/brown-char-v1.html', 'records/brown-char-v1-2.html'].map((f) => fs.readFileSync(path.join(dir, 'site', f), 'utf8'));
  for (const html of files) {
    assert.ok(!html.includes('<script'), 'no script element anywhere');
    assert.ok(!html.includes('<b>bold'), 'no injected markup');
    assert.ok(html.includes('&lt;script&gt;window.__pwned &#x3D; 1&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quotes&quot;'));
  }
  assert.ok(files[0]!.includes('mallory &lt;m@example.com&gt;'));
  assert.ok(!markdown.includes('<script'), 'Markdown shows markup as text too');
  assert.ok(markdown.includes(HOSTILE_DESCRIPTION.replace(/</g, '&lt;')));
});

test('empty database and --format md', async () => {
  const dir = tempDir();
  const store = ResultsStore.open(path.join(dir, 'empty.db'));
  const { pages } = await renderSite(store, path.join(dir, 'site'));
  assert.deepEqual(pages, ['index.html', 'suites.html']); // the suite page says no suite has run yet
  assert.match(fs.readFileSync(path.join(dir, 'site', 'index.html'), 'utf8'), /No runs yet/);
  assert.equal(recordTablesMarkdown(store), 'No runs yet.\n');
  store.close();
  const seeded = seedLeaderboardDb(path.join(dir, 'seed.db'));
  const md = recordTablesMarkdown(seeded);
  seeded.close();
  assert.match(md, /^## brown-char@1 \(target val loss 2\.46\)/m);
  assert.match(md, /^\| 4 \| 57\.5 s \(record\) \| nGPT \+ soft-capped logits/m);
  assert.match(md, /## shards:fineweb10B@1 \(target val loss 3\.28\)\n\nNo records yet\./);
});

test('the recipe comparison keeps data-parallel runs apart from single-worker runs', () => {
  const store = ResultsStore.open(path.join(tempDir(), 'workers.db'));
  store.finishRun(syntheticRun({ id: 'one-a', seed: 0, timeToTargetMs: 150_000 }));
  store.finishRun(syntheticRun({ id: 'one-b', seed: 1, timeToTargetMs: 160_000 }));
  store.finishRun(syntheticRun({ id: 'two-a', seed: 0, timeToTargetMs: 110_000, workers: 2 }));
  const rows = buildLeaderboard(store).tracks[0]!.recipes.map((r) => [r.recipes, r.runs, r.meanTimeMs]);
  assert.deepEqual(rows, [
    ['baseline · 2 workers', 1, 110_000],
    ['baseline · 1 worker', 2, 155_000],
  ]);
  store.close();
});
