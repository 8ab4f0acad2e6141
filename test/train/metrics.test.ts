// Metrics from accumulated counts: macro-F1 as scikit-learn, top-5, per-class accuracy, on
// hand-made confusion matrices and logits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tensor } from '../../src/tensor/index.ts';
import {
  computeMetrics,
  countsFromMatrix,
  Meter,
  macroF1,
  perClassAccuracy,
  pickMetric,
  withAliases,
} from '../../src/train/index.ts';

const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) < 1e-12, `${msg ?? ''} ${a} vs ${b}`);

test('macro-F1 and per-class accuracy from a confusion matrix (rows: true class)', () => {
  // y_true = [0,0,0,1,1,2,2,2,2], y_pred = [0,0,1,1,2,2,2,2,0]
  // sklearn: f1_score(average='macro') = mean(0.666.., 0.5, 0.75) = 0.638888..
  const m = [
    [2, 1, 0],
    [0, 1, 1],
    [1, 0, 3],
  ];
  const c = countsFromMatrix(m);
  close(macroF1(c.confusion, 3), (2 / 3 + 0.5 + 0.75) / 3, 'macro-F1');
  assert.deepEqual(perClassAccuracy(c.confusion, 3), [2 / 3, 1 / 2, 3 / 4]);
  const r = computeMetrics(c);
  close(r.accuracy, 6 / 9);
  assert.equal(r.items, 9);
});

test('classes that never occur are left out of macro-F1; a class never predicted scores 0', () => {
  // class 2 absent from targets and predictions; class 1 present but never predicted
  const m = [
    [3, 0, 0],
    [2, 0, 0],
    [0, 0, 0],
  ];
  const c = countsFromMatrix(m);
  // class 0: tp 3, fp 2, fn 0 -> 6/8; class 1: 0
  close(macroF1(c.confusion, 3), (6 / 8 + 0) / 2);
  assert.deepEqual(perClassAccuracy(c.confusion, 3), [1, 0, null]);
});

test('Meter: top-5 over 6 classes, accuracy and loss weighted by items over two batches', () => {
  const meter = new Meter();
  // item 0: class 5 is the 6th highest (not in top 5); item 1: class 0 is 2nd (in top 5, not top 1)
  const logits1 = tensor([
    [6, 5, 4, 3, 2, 1],
    [5, 6, 4, 3, 2, 1],
  ]);
  meter.update(2.0, 2, logits1, tensor([5, 0], { dtype: 'int64' }));
  // item 2: correct at top 1
  meter.update(0.5, 1, tensor([[0, 0, 9, 0, 0, 0]]), tensor([2], { dtype: 'int64' }));
  const r = meter.result();
  close(r.loss, (2 * 2 + 0.5) / 3);
  close(r.accuracy!, 1 / 3);
  close(r.top5!, 2 / 3);
  assert.equal(r.items, 3);
  assert.deepEqual(r.perClassAccuracy, [0, null, 1, null, null, 0]);
  const copy = new Meter();
  copy.loadStateDict(meter.stateDict());
  assert.deepEqual(copy.result(), r);
});

test('Meter: k is min(5, classes); ignore_index targets are skipped', () => {
  const meter = new Meter();
  meter.update(
    1,
    3,
    tensor([
      [1, 0],
      [0, 1],
      [1, 0],
    ]),
    tensor([1, 1, -100], { dtype: 'int64' }),
  );
  const r = meter.result();
  close(r.top5!, 2 / 3, 'top-2 over 2 classes hits every counted item');
  close(r.accuracy!, 1 / 2);
});

test('metric names: dotted, Keras-style aliases, bare names prefer eval', () => {
  const m = withAliases({ 'train.loss': 1, 'eval.loss': 2, 'eval.accuracy': 0.5 });
  assert.equal(m.val_loss, 2);
  assert.equal(m.val_accuracy, 0.5);
  assert.equal(m.train_loss, 1);
  assert.equal(pickMetric(m, 'loss'), 2);
  assert.equal(pickMetric(m, 'val_accuracy'), 0.5);
  assert.equal(pickMetric(m, 'eval.top5'), undefined);
});
