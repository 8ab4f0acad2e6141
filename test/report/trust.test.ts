// What the report shows has to be what happened: phase lines at the phase's first step, the rate of
// every optimizer step, whole-number epoch ticks, no-decay groups shown once, the confusion matrix,
// the checkpoint load and skipped samples.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  confusionFields,
  type EpochRecord,
  formatRecord,
  type LoadSummary,
  lrPoints,
  type MetricsRecord,
  phaseBoundaries,
  renderReport,
  type StepRecord,
  writeRunReport,
} from '../../src/report/index.ts';

/** `epochs` epochs of `perEpoch` steps, a step record every `logEvery` steps; phase 'head' for `headEpochs`. */
function run(o: {
  epochs: number;
  perEpoch: number;
  logEvery: number;
  headEpochs?: number;
  lr?: (step: number) => number[];
  groups?: string[];
  epochExtra?: (e: number) => Partial<EpochRecord>;
}): MetricsRecord[] {
  const lr = o.lr ?? (() => [0.1]);
  const out: MetricsRecord[] = [{ type: 'run', time: 0, event: 'start', info: { model: 'mlp' } }];
  let step = 0;
  for (let e = 0; e < o.epochs; e++) {
    const phase = e < (o.headEpochs ?? 0) ? 'head' : 'all';
    const lrSteps: { step: number; lr: number[] }[] = [];
    for (let i = 0; i < o.perEpoch; i++) {
      const v = lr(step);
      const prev = lrSteps[lrSteps.length - 1]?.lr;
      if (!prev || prev.some((x, k) => x !== v[k])) lrSteps.push({ step, lr: v });
      step++;
      if (step % o.logEvery === 0) {
        const rec: StepRecord = { type: 'step', time: step, phase, epoch: e, step, loss: 1 / step, lr: v };
        if (o.groups) rec.groups = o.groups;
        out.push(rec);
      }
    }
    const rec: EpochRecord = {
      type: 'epoch',
      time: step,
      phase,
      epoch: e,
      step,
      train: { loss: 1 / step, accuracy: 0.5 },
      eval: { loss: 1.1 / step, accuracy: 0.4 + e / 100 },
      lr: lrSteps[0]!.lr,
      lrSteps,
      ...(o.epochExtra?.(e) ?? {}),
    };
    if (o.groups) rec.groups = o.groups;
    out.push(rec);
  }
  out.push({ type: 'run', time: 99, event: 'end', epoch: o.epochs, step });
  return out;
}

/** The text of every <text> element of one chart's SVG (of its x axis only, with `xAxis`). */
function chartTexts(html: string, id: string, xAxis = false): string[] {
  const start = html.indexOf(`<figure id="chart-${id}"`);
  assert.ok(start >= 0, `chart ${id}`);
  let fig = html.slice(start, html.indexOf('</figure>', start));
  if (xAxis) {
    const x = fig.indexOf('aria-label="X-axis');
    assert.ok(x >= 0, `x axis of ${id}`);
    const end = fig.indexOf('aria-label="Y-axis', x);
    fig = fig.slice(x, end < 0 ? undefined : end);
  }
  return [...fig.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!);
}

test('a phase boundary is at the phase first step, however sparse the step records', () => {
  // 10 steps per epoch, a step record every 3: phase 'all' starts after step 20 (its first record says step 21)
  const recs = run({ epochs: 4, perEpoch: 10, logEvery: 3, headEpochs: 2 });
  assert.deepEqual(phaseBoundaries(recs), [
    { phase: 'head', step: 0, epoch: 0 },
    { phase: 'all', step: 20, epoch: 2 },
  ]);
  // the same without the per-step rates (an older file): the epoch before it ended at step 20
  const old = recs.map((r) => (r.type === 'epoch' ? { ...r, lrSteps: undefined } : r));
  assert.equal(phaseBoundaries(old)[1]!.step, 20);
});

test('the learning-rate chart has the rate of every optimizer step, not one per step record', async () => {
  // a one-cycle-like curve: a new rate every step; step records only every 10 steps
  const curve = (s: number) => [0.01 + 0.09 * Math.sin((Math.PI * s) / 40)];
  const recs = run({ epochs: 2, perEpoch: 20, logEvery: 10, lr: curve });
  const pts = lrPoints(recs);
  const firsts = pts.filter((p, i) => i === 0 || p.step !== pts[i - 1]!.step);
  assert.deepEqual(
    firsts.slice(0, 40).map((p) => p.step),
    Array.from({ length: 40 }, (_, i) => i),
  );
  for (const p of firsts.slice(0, 40)) assert.equal(p.value, curve(p.step)[0]);
  // a constant rate is stored once per epoch and drawn to the run's end
  const flat = lrPoints(run({ epochs: 3, perEpoch: 10, logEvery: 5 }));
  assert.deepEqual(
    flat.map((p) => [p.step, p.value]),
    [
      [0, 0.1],
      [10, 0.1],
      [20, 0.1],
      [30, 0.1],
    ],
  );
  const html = await renderReport(recs);
  // the line is a step function with a corner per step: far more than the 4 step records' points
  const start = html.indexOf('<figure id="chart-lr"');
  const fig = html.slice(start, html.indexOf('</figure>', start));
  const path = /<path[^>]*aria-roledescription="line mark"[^>]*d="([^"]+)"/.exec(fig) ?? /d="(M[^"]{200,})"/.exec(fig);
  assert.ok(path, 'the lr line');
  assert.ok((path[1]!.match(/[LH]/g) ?? []).length >= 40, `corners: ${path[1]!.slice(0, 80)}`);
});

test('epoch and step axes have whole-number ticks', async () => {
  const html = await renderReport(run({ epochs: 3, perEpoch: 2, logEvery: 1 }));
  for (const id of ['accuracy', 'loss', 'lr'])
    assert.ok(chartTexts(html, id).includes(id === 'accuracy' ? 'epoch' : 'optimizer steps'), `${id} x title`);
  for (const id of ['accuracy', 'loss', 'lr']) {
    const ticks = chartTexts(html, id, true).filter((t) => /^[\d.,]+$/.test(t));
    assert.ok(ticks.length >= 2, `${id}: ${ticks.join('|')}`);
    for (const t of ticks) assert.match(t, /^\d+$/, `${id} x tick '${t}'`);
  }
  assert.deepEqual(
    chartTexts(html, 'accuracy', true).filter((t) => /^[\d.]+$/.test(t)),
    ['0', '1', '2', '3'], // 0: where the first phase starts
  );
});

test('no-decay groups are shown once when their rate is their group rate, labelled when it differs', async () => {
  const groups = ['backbone', 'backbone.no_decay', 'head', 'head.no_decay'];
  const same = run({ epochs: 2, perEpoch: 3, logEvery: 1, groups, lr: () => [1e-4, 1e-4, 1e-3, 1e-3] });
  let html = await renderReport(same);
  assert.ok(html.includes('<th>lr backbone</th><th>lr head</th><th>best</th>'), 'two lr columns');
  assert.ok(!html.includes('no_decay'), 'no raw no_decay name');
  assert.ok(!html.includes('no decay'), 'folded');
  assert.ok(html.includes('>backbone<') && html.includes('>head<'), 'legend');
  const differ = run({ epochs: 2, perEpoch: 3, logEvery: 1, groups, lr: () => [1e-4, 5e-5, 1e-3, 1e-3] });
  html = await renderReport(differ);
  assert.ok(html.includes('<th>lr backbone</th><th>lr backbone (no decay)</th><th>lr head</th><th>best</th>'));
  assert.ok(html.includes('>backbone (no decay)<'), 'its own series, labelled');
});

test('the confusion matrix is in the report (full for few classes, the top mistakes for many)', async () => {
  const confusion = [
    [5, 1, 0],
    [2, 3, 0],
    [0, 0, 4],
  ];
  const recs = run({ epochs: 2, perEpoch: 2, logEvery: 1, epochExtra: () => ({}) });
  const last = recs.filter((r) => r.type === 'epoch').pop() as EpochRecord;
  last.eval = { ...last.eval!, confusion };
  recs[0] = { type: 'run', time: 0, event: 'start', info: { classNames: ['cat', 'dog', 'bird'] } };
  const html = await renderReport(recs);
  assert.match(html, /<h2>Confusion matrix, validation \(epoch 2\)<\/h2>/);
  const table = html.slice(html.indexOf('<table class="confusion">'));
  assert.match(table, /<th>actual \\ predicted<\/th><th>cat<\/th><th>dog<\/th><th>bird<\/th>/);
  assert.match(table, /<tr><th>dog<\/th><td[^>]*>2<\/td><td[^>]*>3<\/td><td[^>]*>0<\/td><td>5<\/td><\/tr>/);

  const flat = new Array(60 * 60).fill(0);
  flat[1 * 60 + 2] = 7;
  flat[5 * 60 + 9] = 3;
  flat[4 * 60 + 4] = 50;
  assert.deepEqual(confusionFields(flat, 60), {
    confused: [
      { actual: 1, predicted: 2, count: 7 },
      { actual: 5, predicted: 9, count: 3 },
    ],
  });
  assert.equal(confusionFields([1, 2, 3, 4], 2).confusion?.[1]?.[0], 3);
});

const LOAD: LoadSummary = {
  file: 'resnet18.pth',
  format: 'pth',
  counts: {
    checkpoint: 102,
    model: 320,
    loaded: 98,
    renamed: 0,
    skippedShape: 4,
    excluded: 0,
    missing: 218,
    unexpected: 0,
  },
  parameters: { total: 23_500_000, loaded: 11_000_000, new: 12_500_000 },
  skippedShape: [{ key: 'fc.weight', from: 'fc.weight', checkpoint: [1000, 512], model: [10, 2048] }],
  missing: ['layer1.0.conv3.weight'],
};

test('the checkpoint load is in the report, with a warning under half the parameters', async () => {
  const recs = run({ epochs: 1, perEpoch: 2, logEvery: 1 });
  const html = await renderReport(recs, { load: LOAD });
  assert.match(html, /<h2>Checkpoint load<\/h2>/);
  assert.match(html, /<td>model keys loaded<\/td><td>98 of 320<\/td>/);
  assert.match(html, /<td>parameters loaded<\/td><td>11,000,000 of 23,500,000 \(46\.8%\)<\/td>/);
  assert.match(html, /class="warn">Less than half/);
  assert.match(html, /<td>fc\.weight<\/td><td>fc\.weight<\/td><td>\[1000, 512\]<\/td><td>\[10, 2048\]<\/td>/);
  const full = await renderReport(recs, { load: { ...LOAD, parameters: { total: 10, loaded: 10, new: 0 } } });
  assert.doesNotMatch(full, /class="warn"/);

  // graft report's path: load-report.json beside metrics.jsonl
  const dir = mkdtempSync(join(tmpdir(), 'graft-report-'));
  try {
    writeFileSync(join(dir, 'metrics.jsonl'), recs.map((r) => `${formatRecord(r)}\n`).join(''));
    writeFileSync(join(dir, 'load-report.json'), JSON.stringify(LOAD));
    const path = await writeRunReport(dir);
    assert.equal(path, join(dir, 'report.html'));
    assert.match(readFileSync(path, 'utf8'), /<h2>Checkpoint load<\/h2>/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('skipped bad samples are in the summary and the epoch table', async () => {
  const recs = run({ epochs: 2, perEpoch: 2, logEvery: 1, epochExtra: (e) => ({ skipped: 3 + e, evalSkipped: 1 }) });
  const html = await renderReport(recs);
  assert.match(html, /<td>bad samples skipped<\/td><td>4 training, 1 validation in epoch 2/);
  assert.match(html, /<th>skipped \(train \/ eval\)<\/th>/);
  assert.match(html, /<td>3 \/ 1<\/td>/);
  const none = await renderReport(run({ epochs: 1, perEpoch: 2, logEvery: 1 }));
  assert.doesNotMatch(none, /skipped/);
});

test('names in the report are the metric names (train.loss, eval.accuracy, ...); the best epoch shows the monitored one', async () => {
  const recs = run({
    epochs: 2,
    perEpoch: 2,
    logEvery: 1,
    epochExtra: (e) => ({ best: e === 1, eval: { loss: 0.5, accuracy: 0.75, top3: 0.9, macroF1: 0.6 } }),
  });
  recs[0] = { type: 'run', time: 0, event: 'start', info: { monitor: 'eval.macroF1 (max)' } };
  const html = await renderReport(recs);
  assert.match(html, /<td>best epoch<\/td><td>2 \(eval\.macroF1 0\.6000, eval\.loss 0\.5000, eval\.accuracy 75\.00%\)/);
  assert.match(html, /<th>eval\.accuracy<\/th><th>eval\.top3<\/th><th>eval\.macroF1<\/th>/);
  for (const s of ['train.loss (steps)', 'train.loss', 'eval.loss', 'train.accuracy', 'eval.top3'])
    assert.ok(html.includes(`>${s}<`), s);
  assert.doesNotMatch(html, /val_|>accuracy<|top-5/);
});
