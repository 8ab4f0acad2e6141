// The HTML report: charts (loss, accuracy, lr per group, per-class) as inline SVG with the phase
// boundaries, tables, escaped names, and nothing that needs the network.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  formatRecord,
  type MetricsRecord,
  parseMetrics,
  phaseBoundaries,
  renderReport,
  writeReport,
} from '../../src/report/index.ts';

function records(): MetricsRecord[] {
  const out: MetricsRecord[] = [
    {
      type: 'run',
      time: 0,
      event: 'start',
      info: { model: 'resnet18', numClasses: 3, classNames: ['cat', 'dog', '<b>x</b>'] },
    },
  ];
  let step = 0;
  for (let e = 0; e < 4; e++) {
    const phase = e < 1 ? 'head' : 'all';
    for (let i = 0; i < 5; i++) {
      step++;
      out.push({
        type: 'step',
        time: step,
        phase,
        epoch: e,
        step,
        loss: 2 / step,
        lr: [e < 1 ? 0 : 1e-4, 1e-3],
        groups: ['backbone', 'head'],
      });
    }
    out.push({
      type: 'epoch',
      time: step,
      phase,
      epoch: e,
      step,
      train: { loss: 2 / step, accuracy: 0.5 + e / 10 },
      eval: {
        loss: 2.2 / step,
        accuracy: 0.4 + e / 10,
        top5: 1,
        macroF1: 0.3 + e / 10,
        perClassAccuracy: [0.5, null, 1],
      },
      lr: [1e-4, 1e-3],
      groups: ['backbone', 'head'],
      best: e === 3,
    });
  }
  out.push({ type: 'run', time: 99, event: 'end', epoch: 4, step });
  return out;
}

test('the report holds the four charts as inline SVG and the tables', async () => {
  const html = await renderReport(records());
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  for (const id of ['loss', 'accuracy', 'lr', 'per-class'])
    assert.match(html, new RegExp(`<figure id="chart-${id}" class="chart">`));
  assert.equal((html.match(/<svg /g) ?? []).length, 4);
  // legends name the series and the groups; phase boundaries are labelled on the charts
  // series are named as the metrics are (train.loss, eval.accuracy, ...)
  for (const s of ['train.loss (steps)', 'eval.loss', 'eval.accuracy', 'eval.top5', 'eval.macroF1', 'backbone', 'head'])
    assert.ok(html.includes(`>${s}<`), `legend ${s}`);
  assert.ok(html.includes('>all<'), 'phase label');
  assert.match(html, /<h2>Phases<\/h2>/);
  assert.match(html, /<td>best epoch<\/td><td>4 \(eval\.loss 0\.1100, eval\.accuracy 70\.00%\)/);
  assert.match(
    html,
    /<th>train\.loss<\/th><th>train\.accuracy<\/th><th>eval\.loss<\/th><th>eval\.accuracy<\/th><th>eval\.top5<\/th><th>eval\.macroF1<\/th>/,
  );
  assert.ok(html.includes('&lt;b&gt;x&lt;/b&gt;'), 'class names are escaped');
  assert.ok(!html.includes('<b>x</b>'));
});

test('the report opens without a network: no http(s) URL, no script, no external reference', async () => {
  const html = await renderReport(records());
  assert.doesNotMatch(html, /https?:\/\//);
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /<link /i);
  assert.doesNotMatch(html, /\b(src|href)=/i);
});

test('phase boundaries: the first step and epoch of each phase', () => {
  assert.deepEqual(phaseBoundaries(records()), [
    { phase: 'head', step: 0, epoch: 0 },
    { phase: 'all', step: 5, epoch: 1 },
  ]);
});

test('metrics.jsonl round trip: NaN becomes null, a torn last line is skipped, a bad line is named', () => {
  const lines = records().map(formatRecord);
  lines.push('{"type":"step","ti'); // a process killed mid-append
  const back = parseMetrics(lines.join('\n'));
  assert.equal(back.length, records().length);
  assert.equal(
    formatRecord({ type: 'step', time: 1, epoch: 0, step: 1, loss: Number.NaN, lr: [] }).includes('"loss":null'),
    true,
  );
  assert.throws(() => parseMetrics('{"type":"run"}\nnot json\n{"type":"run"}', 'm.jsonl'), /m\.jsonl:2: not JSON/);
});

test('an empty run still renders, and writeReport writes the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'graft-report-'));
  try {
    const html = await renderReport([]);
    assert.match(html, /no metrics yet/);
    const path = join(dir, 'report.html');
    await writeReport(path, records(), { title: 'My run' });
    assert.match(readFileSync(path, 'utf8'), /<title>My run<\/title>/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
