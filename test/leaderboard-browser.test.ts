/**
 * The leaderboard in a real browser: Debian's chromium driven by playwright-core (never a downloaded browser),
 * headless, --no-sandbox, --disable-background-networking. Builds the site from the seeded database, opens it
 * from disk, and checks console errors, record order, charts, links and escaping; saves screenshots to
 * test-artifacts/. Without chromium the test is skipped with the install command, unless
 * SPEEDRUN_REQUIRE_BROWSER=1 (set by .ci/run, which installs it) makes that a failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { renderSite } from '../harness/leaderboard/render.ts';
import { HOSTILE_DESCRIPTION, seedLeaderboardDb } from './fixtures/leaderboard-db.ts';
import { ROOT, tempDir } from './utils.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
const ARTIFACTS = path.join(ROOT, 'test-artifacts');

test('the leaderboard renders in chromium: no console errors, ordered records, non-empty charts, working links', async (t) => {
  if (!CHROMIUM) {
    if (process.env.SPEEDRUN_REQUIRE_BROWSER === '1') assert.fail('chromium is required here (apt-get install chromium)');
    return t.skip('chromium not installed (apt-get install chromium)');
  }
  const dir = tempDir();
  const store = seedLeaderboardDb(path.join(dir, 'seed.db'));
  const site = path.join(dir, 'site');
  const { pages } = await renderSite(store, site);
  store.close();

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('requestfailed', (r) => problems.push(`failed to load ${r.url()}`));
    const open = async (file: string): Promise<Page> => {
      await page.goto(pathToFileURL(path.join(site, file)).href);
      return page;
    };

    await open('index.html');
    const recipes = await page.$$eval('section.track:first-of-type table.records tbody tr td:nth-child(7)', (cells) => cells.map((c) => c.textContent?.trim()));
    assert.deepEqual(recipes, ['baseline', 'muon', 'ngpt', 'ngpt,softcap']);
    assert.equal(await page.$$eval('tr.current', (rows) => rows.length), 1);
    // The hostile description arrives as text: no script ran, no element was injected.
    const description = await page.$$eval('table.records tbody tr:nth-child(2) td:nth-child(3)', (cells) => ({ text: cells[0]?.textContent, children: cells[0]?.children.length }));
    assert.equal(description.text, HOSTILE_DESCRIPTION);
    assert.equal(description.children, 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'leaderboard-index.png'), fullPage: true });

    // Every chart drew marks with a real size.
    for (const file of pages.filter((p) => p.startsWith('tracks/brown') || p.startsWith('records/'))) {
      await open(file);
      const charts = await page.$$eval('figure.chart svg', (svgs) =>
        svgs.map((svg) => {
          const box = svg.getBoundingClientRect();
          const marks = svg.querySelectorAll('path, rect, line, circle');
          return { width: box.width, height: box.height, marks: marks.length };
        }),
      );
      const expected = file.startsWith('tracks/') ? 2 : file.endsWith('-4.html') ? 0 : 1;
      assert.equal(charts.length, expected, `${file}: ${expected} charts`);
      for (const c of charts) assert.ok(c.width > 100 && c.height > 50 && c.marks > 10, `${file}: chart drew something (${JSON.stringify(c)})`);
      if (file === 'tracks/brown-char-v1.html') await page.screenshot({ path: path.join(ARTIFACTS, 'leaderboard-track.png'), fullPage: true });
      if (file === 'records/brown-char-v1-3.html') await page.screenshot({ path: path.join(ARTIFACTS, 'leaderboard-record.png'), fullPage: true });
    }

    // Every local link leads to a file that exists.
    let checked = 0;
    for (const file of pages) {
      await open(file);
      const hrefs = await page.$$eval('a[href]', (links) => links.map((a) => (a as HTMLAnchorElement).href));
      for (const href of hrefs.filter((h) => h.startsWith('file:'))) {
        assert.ok(fs.existsSync(new URL(href).pathname), `${file} links to ${href}`);
        checked++;
      }
    }
    assert.ok(checked > 20, `checked ${checked} links`);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
