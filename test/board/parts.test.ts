// The board's parts without a server: following metrics.jsonl by byte offset, the run status from
// the lock and the run events, the recipe diff, which hosts count as loopback.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { diffRecipes, isLoopback, MetricsTail, runStatus } from '../../src/board/index.ts';
import type { MetricsRecord } from '../../src/report/index.ts';
import { line, stepRecord } from './_runs.ts';

test('MetricsTail: whole lines only, line numbers across reads, bad lines as warnings, a removed file starts over', () => {
  const dir = mkdtempSync(join(tmpdir(), 'graft-tail-'));
  try {
    const f = join(dir, 'metrics.jsonl');
    const t = new MetricsTail(f);
    assert.deepEqual(t.read(), { records: [], warnings: [], reset: false }); // not written yet
    const l1 = line(stepRecord(1, 1));
    const l2 = line(stepRecord(2, 0.5));
    // a multi-byte character split across reads stays whole
    const l3 = line({ ...stepRecord(3, 0.25), phase: 'tête' } as MetricsRecord);
    writeFileSync(f, l1 + l2.slice(0, 10));
    assert.deepEqual(t.readAll().records, [stepRecord(1, 1)]);
    assert.equal(t.offset, Buffer.byteLength(l1));
    appendFileSync(f, l2.slice(10) + l3.slice(0, l3.indexOf('ê') + 1));
    assert.deepEqual(t.readAll().records, [stepRecord(2, 0.5)]);
    appendFileSync(f, `${l3.slice(l3.indexOf('ê') + 1)}[1,2]\n{"no":"type"}\n\n`);
    const c = t.readAll();
    assert.equal((c.records[0] as { phase?: string }).phase, 'tête');
    assert.deepEqual(
      c.warnings.map((w) => [w.line, /expected an object with a 'type'/.test(w.message)]),
      [
        [4, true],
        [5, true],
      ],
    );
    assert.equal(t.changed(), false);
    unlinkSync(f);
    assert.equal(t.changed(), true);
    assert.equal(t.readAll().reset, true);
    writeFileSync(f, l2);
    assert.deepEqual(t.readAll(), { records: [stepRecord(2, 0.5)], warnings: [], reset: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('runStatus: a stale lock (its process gone) does not make a run running', () => {
  const dir = mkdtempSync(join(tmpdir(), 'graft-status-'));
  try {
    const start: MetricsRecord = { type: 'run', time: 1, event: 'start', epoch: 0, step: 0 };
    // pid 2^22 + 1 is above Linux's pid_max: no such process
    writeFileSync(
      join(dir, 'graft.lock'),
      JSON.stringify({ pid: 4194305, host: hostname(), started: 'x', command: 'c' }),
    );
    assert.equal(runStatus(dir, [start]).status, 'interrupted');
    // a lock from another machine counts as live (its process cannot be checked from here)
    writeFileSync(join(dir, 'graft.lock'), JSON.stringify({ pid: 1, host: 'elsewhere', started: 'x', command: 'c' }));
    assert.deepEqual(runStatus(dir, [start]), { status: 'running', note: 'pid 1 on elsewhere' });
    writeFileSync(join(dir, 'graft.lock'), '{torn');
    assert.equal(runStatus(dir, []).status, 'unknown');
    const note: MetricsRecord = { type: 'run', time: 2, event: 'note', message: 'hi' };
    const end: MetricsRecord = { type: 'run', time: 3, event: 'end' };
    assert.equal(runStatus(dir, [start, end, note]).status, 'finished'); // a note after the end changes nothing
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('diffRecipes: keys by dotted path and index, absent keys, key order of the first recipe', () => {
  const rows = diffRecipes([
    'model: {name: resnet18}\nphases:\n  - {epochs: 1, freeze: [fc]}\n',
    'model: {name: resnet50, pretrained: x.pth}\nphases:\n  - {epochs: 1, freeze: []}\n  - {epochs: 2}\n',
    undefined,
  ]);
  assert.deepEqual(rows, [
    { key: 'model.name', values: ['resnet18', 'resnet50', null], same: false },
    { key: 'phases[0].epochs', values: ['1', '1', null], same: false },
    { key: 'phases[0].freeze[0]', values: ['fc', null, null], same: false },
    { key: 'model.pretrained', values: [null, 'x.pth', null], same: false },
    { key: 'phases[0].freeze', values: [null, '[]', null], same: false },
    { key: 'phases[1].epochs', values: [null, '2', null], same: false },
  ]);
  assert.deepEqual(diffRecipes(['a: 1', 'a: 1']), [{ key: 'a', values: ['1', '1'], same: true }]);
  assert.throws(() => diffRecipes(['a: [', 'a: 1']));
});

test('isLoopback', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', 'app.localhost', '::1', '[::1]'])
    assert.equal(isLoopback(h), true, h);
  for (const h of ['0.0.0.0', '::', '192.168.1.2', 'example.com', '', '127.0.0.1.evil.com', 'localhost.evil.com'])
    assert.equal(isLoopback(h), false, h);
});
