// Metrics from accumulated counts: macro-F1 as scikit-learn, top-5, per-class accuracy, on
// hand-made confusion matrices and logits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SGD } from '../../src/optim/index.ts';
import { tensor } from '../../src/tensor/index.ts';
import {
  checkMetricName,
  computeMetrics,
  countsFromMatrix,
  EarlyStopping,
  fit,
  Meter,
  macroF1,
  metricNames,
  perClassAccuracy,
  Trainer,
} from '../../src/train/index.ts';
import { setup } from './_helpers.ts';

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

test('metric names: one vocabulary, <split>.<metric>, eval.* only with validation data', () => {
  assert.deepEqual(metricNames({ valid: false }), ['train.loss', 'train.accuracy', 'train.top5', 'train.macroF1']);
  assert.deepEqual(metricNames({ valid: true }).slice(4), ['eval.loss', 'eval.accuracy', 'eval.top5', 'eval.macroF1']);
  for (const n of metricNames({ valid: true })) checkMetricName(n, { valid: true });
});

test('old spellings and typos are refused with a did-you-mean', () => {
  const hint = (name: string, valid = true): string | undefined => {
    try {
      checkMetricName(name, { valid });
    } catch (e) {
      return `${(e as Error).message} | ${(e as { hint?: string }).hint}`;
    }
    return undefined;
  };
  for (const [bad, near] of [
    ['val_acc', 'eval.accuracy'],
    ['val_accuracy', 'eval.accuracy'],
    ['val_loss', 'eval.loss'],
    ['train_loss', 'train.loss'],
    ['accuracy', 'eval.accuracy'],
    ['eval.acuracy', 'eval.accuracy'],
    ['eval.f1', 'eval.macroF1'],
    ['eval.top3', 'eval.top5'],
  ] as const) {
    const h = hint(bad);
    assert.ok(h?.includes(`unknown metric '${bad}'`), `${bad}: ${h}`);
    assert.ok(h?.includes(`did you mean '${near}'?`), `${bad}: ${h}`);
  }
  assert.match(hint('accuracy', false)!, /did you mean 'train.accuracy'/);
  assert.match(hint('eval.accuracy', false)!, /validation metric, but this run has no validation data/);
});

test('an unknown monitor fails when the run is set up, before any compute', async () => {
  const s = setup(1);
  let batches = 0;
  let started = 0;
  // order -2000: like the run folder's overwrite, which clears files at beforeFit
  const count = { order: -2000, beforeFit: () => void started++, beforeBatch: () => void batches++ };
  assert.throws(() => new Trainer({ ...s, monitor: 'val_acc' }), /unknown metric 'val_acc'/);
  await assert.rejects(
    fit({ ...s, epochs: 1, progress: false, earlyStopping: { monitor: 'eval.acc' }, callbacks: [count] }),
    /earlyStopping.monitor: unknown metric 'eval.acc'/,
  );
  const stop = new EarlyStopping({ monitor: 'val_loss' });
  await assert.rejects(new Trainer({ ...s, callbacks: [stop, count] }).fit(1), /did you mean 'eval.loss'/);
  const { ReduceLROnPlateau } = await import('../../src/schedule/index.ts');
  const { OptimizerRunner } = await import('../../src/train/index.ts');
  const opt = new SGD(s.model.parameters(), { lr: 0.1 });
  const runner = new OptimizerRunner(opt, new ReduceLROnPlateau(opt), { monitor: 'val_loss' });
  await assert.rejects(new Trainer({ ...s, optimizer: undefined, runner }).fit(1), /ReduceLROnPlateau monitor/);
  // a phase runner's plateau monitor: an eval metric in a run without validation data
  const { PhaseRunner } = await import('../../src/finetune/index.ts');
  const phases = new PhaseRunner(s.model, {
    optimizer: { type: 'SGD', lr: 0.1 },
    scheduler: { type: 'ReduceLROnPlateau', mode: 'max', monitor: 'eval.accuracy' },
    phases: [{ epochs: 2 }],
  });
  await assert.rejects(
    new Trainer({ ...s, valid: undefined, optimizer: undefined, runner: phases, callbacks: [count] }).fit(),
    /ReduceLROnPlateau monitor: 'eval.accuracy' is a validation metric, but this run has no validation data/,
  );
  assert.equal(batches, 0, 'no batch ran');
  assert.equal(started, 0, 'refused before beforeFit: nothing was written or cleared');
});
