// The board in a real browser: Debian's Chromium, headless, driven by playwright-core. Two run
// folders are listed; a line appended to one's metrics.jsonl shows up in its chart and epoch table
// without a reload; ticking both overlays their curves and diffs their recipes; a corrupt line is a
// warning on the page; the report link opens the run's report. No console errors (the page's
// Content-Security-Policy included). GRAFT_BOARD_SHOTS=DIR saves screenshots there.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Board, startBoard } from '../../src/board/index.ts';
import { append, epochRecord, line, stepRecord, writeRun } from './_runs.ts';

const CHROMIUM = '/usr/bin/chromium';
/** What the page-side functions use of the DOM (the tests compile without the DOM's types). */
type Doc = {
  querySelector(sel: string): { textContent: string | null; getAttribute(a: string): string | null } | null;
};
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the board's browser test`;

test('the board in Chromium: list, live update, overlay, recipe diff, warnings, report link', {
  skip,
  timeout: 60000,
}, async () => {
  const { chromium } = await import('playwright-core');
  const tmp = mkdtempSync(join(tmpdir(), 'graft-board-ui-'));
  const root = join(tmp, 'runs');
  const a = writeRun(root, 'resnet-lr0.1', { lr: 0.1, steps: 3, end: true });
  const b = writeRun(root, 'resnet-lr0.01', { lr: 0.01, steps: 3, extra: 'not a record\n' });
  writeFileSync(join(a, 'report.html'), '<html><body><h1>REPORT resnet-lr0.1</h1></body></html>');
  const shots = process.env.GRAFT_BOARD_SHOTS;
  if (shots) mkdirSync(shots, { recursive: true });
  let board: Board | undefined;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  try {
    board = await startBoard({ dir: root, pollMs: 200 });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    // waits until the element `sel` has `text` as its textContent (or attribute `attr`); functions
    // run in the page, whose Content-Security-Policy forbids evaluating strings
    const waitFor = (sel: string, text: string, attr?: string) =>
      page.waitForFunction(
        ([sel, text, attr]) => {
          const el = (globalThis as unknown as { document: Doc }).document.querySelector(sel!);
          return (attr ? el?.getAttribute(attr) : el?.textContent) === text;
        },
        [sel, text, attr],
        { timeout: 5000 },
      );
    const lossPoints = (n: number) => waitFor('figure[data-chart="loss"]', String(n), 'data-points');
    // a bookmark naming a run that is gone: the page still lists the runs (and drops it)
    await page.goto(`${board.url}#run=gone`);

    // both runs listed, with status and the corrupt line flagged
    const rows = page.locator('#runs tr[data-run]');
    await rows.first().waitFor();
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((t) => t.getAttribute('data-run'))), [
      'resnet-lr0.01',
      'resnet-lr0.1',
    ]);
    const row = (id: string) => page.locator(`#runs tr[data-run="${id}"]`);
    assert.equal(await row('resnet-lr0.1').locator('.status').textContent(), 'finished');
    assert.equal(await row('resnet-lr0.01').locator('.status').textContent(), 'interrupted');
    assert.match((await row('resnet-lr0.01').locator('.badge-warn').textContent()) ?? '', /1 bad line/);

    // one run ticked: its charts and epochs
    await row('resnet-lr0.01').locator('input[type=checkbox]').check();
    const lossChart = page.locator('figure[data-chart="loss"]');
    await lossPoints(3);
    assert.equal(await lossChart.locator('path.series').count(), 1);
    assert.equal(await page.locator('#epochs tbody tr').count(), 1);
    assert.match((await page.locator('#warnings .warn').textContent()) ?? '', /line 6 skipped: not JSON/);
    if (shots) await page.screenshot({ path: join(shots, 'board-run.png'), fullPage: true });

    // the run trains on: appended lines show without a reload
    append(b, line(stepRecord(4, 0.5, 0.01)) + line(epochRecord(1, 4, 0.8, 0.7)));
    await lossPoints(4);
    await waitFor('#epochs tbody tr:nth-child(2) td', '2');
    await waitFor('#runs tr[data-run="resnet-lr0.01"] td:nth-child(6)', '2 / 2');
    assert.equal(await page.locator('figure[data-chart="metric"] figcaption').textContent(), 'eval.accuracy by epoch');
    assert.equal(await page.locator('figure[data-chart="metric"]').getAttribute('data-points'), '2');
    if (shots) await page.screenshot({ path: join(shots, 'board-live.png'), fullPage: true });

    // both ticked: curves overlaid, recipes diffed
    await row('resnet-lr0.1').locator('input[type=checkbox]').check();
    await lossPoints(7);
    assert.deepEqual(
      await lossChart.locator('path.series').evaluateAll((ps) => ps.map((p) => p.getAttribute('data-series'))),
      ['resnet-lr0.01 · train loss', 'resnet-lr0.1 · train loss'],
    );
    const lrRow = page.locator('#recipe-diff tr[data-key="optimizer.lr"]');
    await lrRow.waitFor();
    assert.deepEqual(await lrRow.locator('td').allTextContents(), ['optimizer.lr', '0.01', '0.1']);
    assert.equal(await lrRow.getAttribute('class'), 'differs');
    // equal keys hidden until asked for
    assert.equal(await page.locator('#recipe-diff tr[data-key="model.name"]').count(), 0);
    await page.locator('#show-same').check();
    assert.deepEqual(await page.locator('#recipe-diff tr[data-key="model.name"] td').allTextContents(), [
      'model.name',
      'resnet18',
      'resnet18',
    ]);
    assert.equal(await page.locator('#results tbody tr').count(), 2);
    // a process takes the second run's lock, then goes: the status follows in the list and the
    // results table with no new metrics line
    const lock = join(b, 'graft.lock');
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), started: 'now', command: 'test' }));
    await waitFor('#runs tr[data-run="resnet-lr0.01"] .status', 'running');
    await waitFor('#results tbody tr:nth-child(1) td:last-child', 'running');
    unlinkSync(lock);
    await waitFor('#results tbody tr:nth-child(1) td:last-child', 'interrupted');
    if (shots) await page.screenshot({ path: join(shots, 'board-compare.png'), fullPage: true });

    // the selection is in the address: a reload shows the same comparison
    await page.reload();
    await lossPoints(7);

    // the report link opens the run's report.html
    const href = await row('resnet-lr0.1').locator('a').getAttribute('href');
    assert.equal(href, '/report?run=resnet-lr0.1');
    assert.equal(await row('resnet-lr0.01').locator('a').count(), 0);
    const report = await browser.newPage();
    await report.goto(new URL(href!, board.url).href);
    assert.equal(await report.locator('h1').textContent(), 'REPORT resnet-lr0.1');

    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await board?.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});
