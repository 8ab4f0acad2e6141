// The LR finder's numbers against fastai's formulas (scripts/fixtures/lr_find.py): the sweep,
// the smoothed loss, the divergence stop, the suggestion window and valley / slide / minimum /
// steep; and the terminal chart.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  checkSweep,
  diverged,
  type LrSuggestionMethod,
  lrFindChart,
  minimum,
  SmoothLoss,
  slide,
  steep,
  suggestionWindow,
  suggestLrs,
  sweepLr,
  valley,
} from '../../src/finetune/index.ts';

interface Suggested {
  lr: number;
  point: [number, number];
}
type Methods = Record<LrSuggestionMethod, Suggested>;
interface Run extends Methods {
  start: number;
  end: number;
  num_it: number;
  lrs: number[];
  raw: number[];
  smoothed: number[];
}
const FX: { runs: Run[]; plain: Methods & { lrs: number[]; losses: number[] } } = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'finetune', 'lr_find.json'), 'utf8'),
);

const close = (a: number, e: number, what: string, tol = 1e-12) =>
  assert.ok(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)), `${what}: ${a} vs ${e}`);

/** The recorder's loop: smooth each raw loss, stop when it diverges (fastai's after_batch). */
function replay(r: Run): { lrs: number[]; smoothed: number[] } {
  const s = new SmoothLoss(0.98);
  let best = Number.POSITIVE_INFINITY;
  const lrs: number[] = [];
  const smoothed: number[] = [];
  for (let i = 0; i < r.num_it; i++) {
    const v = s.add(r.raw[i]!);
    lrs.push(sweepLr(i, r.num_it, r.start, r.end));
    smoothed.push(v);
    const stop = diverged(v, best, 4);
    best = Math.min(best, v);
    if (stop) break;
  }
  return { lrs, smoothed };
}

test('the sweep, the smoothing and the divergence stop follow fastai step by step', () => {
  for (const r of FX.runs) {
    const got = replay(r);
    assert.equal(got.lrs.length, r.lrs.length, 'the step the sweep stops at');
    for (const [i, v] of got.lrs.entries()) close(v, r.lrs[i]!, `lr ${i}`, 0);
    for (const [i, v] of got.smoothed.entries()) close(v, r.smoothed[i]!, `smoothed ${i}`);
  }
  // the first run diverges before its 100 steps; the second runs them all
  assert.ok(FX.runs[0]!.lrs.length < 100);
  assert.equal(FX.runs[1]!.lrs.length, 60);
});

test('the smoothed loss is the bias-corrected moving average', () => {
  const s = new SmoothLoss(0.9);
  assert.ok(Number.isNaN(s.value));
  assert.equal(s.add(2), 2); // (0.1 x 2) / (1 - 0.9)
  const v = s.add(4); // val = 0.9 x 0.2 + 0.1 x 4 = 0.58, / (1 - 0.81)
  close(v, 0.58 / 0.19, 'second');
  assert.throws(() => new SmoothLoss(1), /beta/);
});

test('divergence: above threshold x the best (best includes the value); non-finite diverges', () => {
  assert.equal(diverged(4, 1, 4), false);
  assert.equal(diverged(4.0001, 1, 4), true);
  assert.equal(diverged(0.5, 1, 4), false); // a new best never diverges
  assert.equal(diverged(Number.NaN, 1, 4), true);
  assert.equal(diverged(Number.POSITIVE_INFINITY, 1, 4), true);
});

test('the sweep range is checked; fewer than 6 steps become 6 (fastai)', () => {
  assert.equal(checkSweep(1e-7, 10, 3), 6);
  assert.equal(checkSweep(1e-7, 10, 100), 100);
  assert.throws(() => checkSweep(0, 10, 100), /start lr/);
  assert.throws(() => checkSweep(1, 0.1, 100), /end lr/);
  assert.throws(() => checkSweep(1e-7, 10, 2.5), /positive integer/);
  assert.equal(sweepLr(0, 100, 1e-7, 10), 1e-7);
  close(sweepLr(50, 100, 1e-7, 10), 10 ** -3, 'half way', 1e-14);
});

test('suggestions from the fastai window equal fastai on the recorded runs', () => {
  const methods = ['valley', 'slide', 'minimum', 'steep', 'lightning'] as const;
  for (const r of FX.runs) {
    const { suggestions, problems } = suggestLrs(r.lrs, r.smoothed, r.num_it, methods);
    assert.deepEqual(problems, []);
    assert.equal(suggestions.length, 5);
    for (const s of suggestions) {
      close(s.lr, r[s.method].lr, `${s.method} lr`);
      close(s.point.lr, r[s.method].point[0], `${s.method} point lr`);
      close(s.point.loss, r[s.method].point[1], `${s.method} point loss`);
    }
  }
});

test('each suggestion function on a curve with a bump, a tie and a rise', () => {
  const { lrs, losses } = FX.plain;
  for (const [name, f] of Object.entries({ valley, slide, minimum, steep })) {
    const s = f(lrs, losses);
    const e = FX.plain[name as LrSuggestionMethod];
    close(s.lr, e.lr, `${name} lr`);
    close(s.point.loss, e.point[1], `${name} point loss`);
  }
  // minimum: the first of two equal minima, and a tenth of its lr
  const m = minimum(lrs, losses);
  assert.equal(m.point.lr, lrs[25]);
  assert.equal(m.lr, lrs[25]! / 10);
});

test('the window drops the first numIt // 10 and the last 5 points and stops at a NaN', () => {
  const lrs = Array.from({ length: 30 }, (_, i) => i + 1);
  const losses = lrs.map((v) => (v === 20 ? Number.NaN : v));
  const w = suggestionWindow(lrs, losses, 30);
  assert.deepEqual(w.lrs, [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  // a sweep that diverged at once: no suggestion, and a reason
  const short = suggestLrs([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], 100, ['valley', 'slide']);
  assert.equal(short.suggestions.length, 0);
  assert.match(short.problems[0]!, /valley: 0 usable points .*diverged after 6 steps/);
  assert.throws(() => suggestLrs(lrs, lrs, 30, ['fastest' as LrSuggestionMethod]), /unknown suggestion method/);
});

test('the terminal chart: axes, lr ticks at powers of ten, the suggestion marked', () => {
  const r = FX.runs[0]!;
  const { suggestions } = suggestLrs(r.lrs, r.smoothed, r.num_it, ['valley']);
  const s = suggestions[0]!;
  const text = lrFindChart(r.lrs, r.smoothed, s, { width: 60, height: 12, title: 'phase 0' });
  const lines = text.split('\n');
  assert.equal(lines[0], 'phase 0');
  assert.ok(text.includes('◆') && text.includes('┊') && text.includes('•'));
  for (const e of ['1e-7', '1e-4', '1e-1']) assert.ok(text.includes(e), e);
  assert.match(text, /◆ valley: lr 4\.79e-4/);
  // the diamond sits in the suggestion's column; the rule fills that column elsewhere
  const rows = lines.slice(1, 13);
  const col = rows.find((l) => l.includes('◆'))!.indexOf('◆');
  for (const l of rows) assert.ok(['◆', '┊', '•'].includes(l[col] ?? '┊'), `column ${col} of '${l}'`);
  // the y labels span the plotted points (the last 5 left out): their min at the bottom row
  const plotted = r.smoothed.slice(0, -5);
  const lo = Math.min(...plotted);
  assert.ok(rows[11]!.trimStart().startsWith(lo.toFixed(3)));
  // the top: half again the rise before the minimum; the blow-up past it is marked, not squashing the valley
  const before = Math.max(...plotted.slice(0, plotted.indexOf(lo) + 1));
  assert.ok(rows[0]!.trimStart().startsWith((before + (before - lo) * 0.5).toFixed(3)), rows[0]);
  assert.ok(rows[0]!.includes('↑') && text.includes('↑ above the top'));
  const ascii = lrFindChart(r.lrs, r.smoothed, s, { ascii: true });
  assert.ok(/^[\x20-\x7e\n]*$/.test(ascii), 'ASCII only');
  assert.match(lrFindChart([1], [1]), /nothing to draw/);
});
