// The board's server over HTTP: the run list with each run's status, the event stream pushing the
// lines a run appends (a partial line waits for its newline, a rewritten file starts over), a
// corrupt line shown as a warning, recipes diffed, reports served, and everything else refused:
// paths out of the folder, links out of it, other methods, other Host names, remote addresses.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Board, startBoard } from '../../src/board/index.ts';
import type { RunSummary } from '../../src/board/runs.ts';
import { append, epochRecord, line, stepRecord, writeRun } from './_runs.ts';

let tmp: string;
let root: string;
let board: Board;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'graft-board-'));
  root = join(tmp, 'runs');
  writeRun(root, 'done', { lr: 0.1, steps: 3, end: true });
  writeRun(root, 'sweep/lr-0.01', { lr: 0.01, steps: 2, extra: '{"type":"step", oops\n' });
  writeRun(root, 'failed', {
    lr: 0.2,
    steps: 1,
    extra: line({ type: 'run', time: 5, event: 'error', message: 'loss is NaN at step 2' }),
  });
  writeRun(root, 'stopped', {
    lr: 0.3,
    steps: 1,
    extra: line({ type: 'run', time: 5, event: 'stopped', message: 'interrupted (SIGINT)' }),
  });
  writeRun(root, 'early', {
    lr: 0.4,
    steps: 1,
    extra: line({ type: 'run', time: 5, event: 'stopped', message: 'early stopping: eval.loss did not improve' }),
  });
  const live = writeRun(root, 'live', { lr: 0.5, steps: 1 });
  // a lock held by this very process: a live run
  writeFileSync(
    join(live, 'graft.lock'),
    JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString(), command: 'test' }),
  );
  writeFileSync(join(root, 'done', 'report.html'), '<html><body>REPORT OF done</body></html>');
  mkdirSync(join(root, 'done', 'checkpoints'));
  writeFileSync(join(root, 'done', 'checkpoints', 'metrics.jsonl'), '');
  // outside the board's folder: a secret, a run reachable only through a link, a report linked in
  writeFileSync(join(tmp, 'secret.txt'), 'SECRET');
  writeRun(tmp, 'outside', { lr: 9, steps: 1 });
  symlinkSync(join(tmp, 'outside'), join(root, 'linked'));
  const leaky = writeRun(root, 'leaky', { lr: 0.6, steps: 1, end: true });
  symlinkSync(join(tmp, 'secret.txt'), join(leaky, 'report.html'));
  // a folder named metrics.jsonl: listed, not read, no crash
  mkdirSync(join(root, 'weird', 'metrics.jsonl'), { recursive: true });
  board = await startBoard({ dir: root, pollMs: 100 });
});

after(async () => {
  await board?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** A raw GET (the path sent as written, no URL normalisation), with optional headers. */
function get(
  path: string,
  o: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((ok, ko) => {
    const req = request(
      { host: '127.0.0.1', port: board.port, path, method: o.method ?? 'GET', headers: o.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => ok({ status: res.statusCode!, body, headers: res.headers }));
      },
    );
    req.on('error', ko);
    req.end();
  });
}

const runs = async (): Promise<RunSummary[]> =>
  (JSON.parse((await get('/api/runs')).body) as { runs: RunSummary[] }).runs;

test('lists the run folders under DIR (nested ones too, no links followed, checkpoints/ not a run) with their status', async () => {
  const list = await runs();
  assert.deepEqual(
    list.map((r) => r.id),
    ['done', 'early', 'failed', 'leaky', 'live', 'stopped', 'sweep/lr-0.01', 'weird'],
  );
  const by = Object.fromEntries(list.map((r) => [r.id, r]));
  assert.equal(by.done!.status, 'finished');
  assert.equal(by.failed!.status, 'failed');
  assert.equal(by.failed!.statusNote, 'loss is NaN at step 2');
  assert.equal(by.stopped!.status, 'interrupted');
  assert.equal(by.early!.status, 'finished');
  assert.equal(by.live!.status, 'running');
  // started, no end, no live lock: the process died
  assert.equal(by['sweep/lr-0.01']!.status, 'interrupted');
  assert.equal(by.weird!.status, 'unknown');
  assert.equal((await get('/api/metrics?run=weird')).body, '{"records":[],"warnings":[]}');
  assert.equal(by.done!.hasReport, true);
  assert.equal(by.done!.step, 3);
  assert.equal(by.done!.epochsDone, 1);
  assert.equal(by.done!.epochs, 2);
  assert.equal(by.done!.model, 'resnet18');
  assert.deepEqual(by.done!.latest, { 'eval.loss': 1.2000000000000002, 'eval.accuracy': 0.6 });
});

test('a corrupt metrics line is a warning with its line number; the other records are still read', async () => {
  const r = (await runs()).find((x) => x.id === 'sweep/lr-0.01')!;
  assert.equal(r.warningCount, 1);
  assert.equal(r.warnings[0]!.line, 5);
  assert.match(r.warnings[0]!.message, /not JSON/);
  const m = JSON.parse((await get('/api/metrics?run=sweep%2Flr-0.01')).body) as {
    records: { type: string }[];
    warnings: { line: number }[];
  };
  assert.deepEqual(
    m.records.map((x) => x.type),
    ['run', 'step', 'step', 'epoch'],
  );
  assert.deepEqual(
    m.warnings.map((w) => w.line),
    [5],
  );
});

/** Events of /api/stream as they come. */
function openStream(query: string) {
  const events: { event: string; data: Record<string, unknown> & { records?: unknown[] } }[] = [];
  let buf = '';
  const req = request({ host: '127.0.0.1', port: board.port, path: `/api/stream?${query}` }, (res) => {
    assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (ev && data) events.push({ event: ev, data: JSON.parse(data) });
      }
    });
  });
  req.on('error', () => {});
  req.end();
  const until = async (pred: () => boolean, what: string) => {
    const t0 = Date.now();
    while (!pred()) {
      if (Date.now() - t0 > 5000) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(events)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { events, until, close: () => req.destroy() };
}

test('the event stream sends a run’s records, then each line it appends (a partial line once whole)', async () => {
  const dir = writeRun(root, 'growing', { lr: 0.05, steps: 2 });
  const s = openStream('run=growing');
  try {
    const metrics = () => s.events.filter((e) => e.event === 'metrics');
    await s.until(() => metrics().length === 1, 'the first metrics event');
    assert.equal(metrics()[0]!.data.reset, true);
    assert.equal(metrics()[0]!.data.records!.length, 4);
    await s.until(() => s.events.some((e) => e.event === 'runs'), 'the run list');

    // half a line: nothing is sent until its newline arrives
    const next = line(stepRecord(3, 0.7, 0.05));
    append(dir, next.slice(0, 20));
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(metrics().length, 1, 'a partial line was sent');
    append(dir, next.slice(20) + line(epochRecord(1, 3, 0.9, 0.8)));
    await s.until(() => metrics().length === 2, 'the appended lines');
    assert.deepEqual(metrics()[1]!.data, {
      run: 'growing',
      records: [stepRecord(3, 0.7, 0.05), epochRecord(1, 3, 0.9, 0.8)],
      warnings: [],
      reset: false,
    });
    // the run list follows: growing now has 2 epochs done
    await s.until(
      () =>
        s.events.some(
          (e) =>
            e.event === 'runs' && (e.data as unknown as RunSummary[]).find((r) => r.id === 'growing')?.epochsDone === 2,
        ),
      'the updated run list',
    );

    // a bad line appended: a warning with its number
    append(dir, 'garbage\n');
    await s.until(() => metrics().length === 3, 'the warning');
    assert.deepEqual(
      (metrics()[2]!.data.warnings as { line: number }[]).map((w) => w.line),
      [7],
    );

    // a resume rewrites metrics.jsonl (atomically, shorter): the stream starts over
    writeFileSync(join(dir, 'tmp.jsonl'), line(stepRecord(1, 5, 0.05)));
    renameSync(join(dir, 'tmp.jsonl'), join(dir, 'metrics.jsonl'));
    await s.until(() => metrics().length === 4, 'the reset');
    assert.equal(metrics()[3]!.data.reset, true);
    assert.deepEqual(metrics()[3]!.data.records, [stepRecord(1, 5, 0.05)]);
  } finally {
    s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the stream follows a run that starts after it opened; an id that names no run folder is never read', async () => {
  const s = openStream('run=later&run=..%2Foutside&run=linked');
  try {
    await s.until(() => s.events.some((e) => e.event === 'runs'), 'the run list');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      s.events.filter((e) => e.event === 'metrics'),
      [],
    );
    writeRun(root, 'later', { lr: 0.7, steps: 1 });
    await s.until(() => s.events.some((e) => e.event === 'metrics'), 'the new run');
    const m = s.events.filter((e) => e.event === 'metrics');
    assert.deepEqual(
      m.map((e) => [e.data.run, e.data.reset, e.data.records!.length]),
      [['later', true, 3]],
    );
  } finally {
    s.close();
    rmSync(join(root, 'later'), { recursive: true, force: true });
  }
});

test('recipes compared key by key', async () => {
  const r = await get('/api/compare?run=done&run=sweep/lr-0.01');
  assert.equal(r.status, 200);
  const d = JSON.parse(r.body) as { rows: { key: string; values: string[]; same: boolean }[]; missing: string[] };
  assert.deepEqual(d.missing, []);
  const row = (k: string) => d.rows.find((x) => x.key === k);
  assert.deepEqual(row('optimizer.lr'), { key: 'optimizer.lr', values: ['0.1', '0.01'], same: false });
  assert.deepEqual(row('model.name'), { key: 'model.name', values: ['resnet18', 'resnet18'], same: true });
  assert.deepEqual(row('phases[0].epochs'), { key: 'phases[0].epochs', values: ['2', '2'], same: true });
  assert.equal((await get('/api/compare?run=done')).status, 400);
});

test('a run’s report is served; paths, run ids and links out of the folder are refused', async () => {
  const ok = await get('/report?run=done');
  assert.equal(ok.status, 200);
  assert.match(ok.body, /REPORT OF done/);
  assert.equal(ok.headers['x-content-type-options'], 'nosniff');
  for (const path of [
    '/report?run=../secret.txt',
    '/report?run=..',
    '/report?run=linked', // a run reachable only through a symbolic link
    '/report?run=%2e%2e%2foutside',
    '/report?run=done/../../outside',
    '/report?run=leaky', // report.html links out of the folder
    '/../secret.txt',
    '/%2e%2e/secret.txt',
    '/done/report.html',
    '/runs/done/../../secret.txt',
    '/api/recipe?run=../outside',
    '/api/metrics?run=/etc',
  ]) {
    const r = await get(path);
    assert.ok(r.status === 404 || r.status === 400, `${path}: ${r.status}`);
    assert.doesNotMatch(r.body, /SECRET|lr: 9/, path);
  }
  assert.equal((await get('/report?run=sweep/lr-0.01')).status, 404); // no report yet
  assert.match((await get('/api/recipe?run=done')).body, /lr: 0.1/);
});

test('only GET; only loopback Host names; security headers on the page', async () => {
  for (const method of ['POST', 'PUT', 'DELETE'])
    assert.equal((await get('/api/runs', { method })).status, 405, method);
  assert.equal((await get('/api/runs', { headers: { host: 'evil.example:80' } })).status, 403);
  assert.equal((await get('/api/runs', { headers: { host: `localhost:${board.port}` } })).status, 200);
  const page = await get('/');
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
  assert.match(page.body, /<script src="\/board.js"><\/script>/);
  const js = await get('/board.js');
  assert.equal(js.status, 200);
  // the client script parses (it is served from a string)
  new Function(js.body);
});

test('startBoard refuses a missing folder, a remote address without allowRemote, a port in use', async () => {
  await assert.rejects(startBoard({ dir: join(tmp, 'nope') }), /no such folder/);
  await assert.rejects(startBoard({ dir: root, host: '0.0.0.0' }), /not a loopback address.*--allow-remote/s);
  await assert.rejects(startBoard({ dir: root, port: board.port }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'GRAFT_BOARD_PORT');
    return true;
  });
});
