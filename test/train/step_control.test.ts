// Step control for callbacks (fastai's CancelBatchException / CancelStepException): a callback can
// cancel the rest of a batch or skip the optimizer step. Mixed precision, accumulation and the NaN
// stop are callbacks built on the same events.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Callback,
  CancelBatchException,
  fit,
  GradientAccumulation,
  MixedPrecision,
  NanStop,
  Trainer,
} from '../../src/train/index.ts';
import { setup, weights } from './_helpers.ts';

const base = () => ({ ...setup(2), valid: undefined });

test('CancelBatchException in afterLoss: no meter update, no backward, no step; afterBatch still runs', async () => {
  const s = base();
  const seen: { b: number; cancelled: boolean; stepped: boolean }[] = [];
  const before = weights(s.model);
  const t = new Trainer({
    ...s,
    callbacks: [
      {
        afterLoss: (tr) => {
          if (tr.batchIndex % 2 === 0) throw new CancelBatchException('even batches only count as data');
        },
        afterBatch: (tr) => {
          seen.push({ b: tr.batchIndex, cancelled: tr.batchCancelled, stepped: tr.stepped });
          assert.equal(tr.batchCounted, !tr.batchCancelled);
        },
      },
    ],
  });
  await t.fit(1);
  assert.equal(seen.length, 6, 'every batch reaches afterBatch');
  assert.deepEqual(
    seen.map((x) => x.cancelled),
    [true, false, true, false, true, false],
  );
  assert.deepEqual(
    seen.map((x) => x.stepped),
    [false, true, false, true, false, true],
  );
  assert.equal(t.step, 3, 'only the kept batches step');
  assert.equal(t.trainMetrics!.items, 48, 'cancelled batches are not counted');
  assert.notDeepEqual(weights(s.model), before);
});

test('skipStep: every beforeStep callback runs, the weights stay, the step counts, gradients are zeroed', async () => {
  const s = base();
  const order: string[] = [];
  let prev = JSON.stringify(weights(s.model));
  const changed: boolean[] = [];
  const skipper: Callback = {
    order: -5,
    beforeStep: (tr) => {
      order.push('skipper');
      if (tr.step === 1) tr.skipStep('test');
    },
  };
  const later: Callback = {
    order: 5,
    beforeStep: () => void order.push('later'),
    afterStep: (tr) => {
      const now = JSON.stringify(weights(s.model));
      changed.push(now !== prev);
      prev = now;
      assert.equal(tr.skippedStep, tr.step === 2);
      assert.equal(tr.skipReason, tr.step === 2 ? 'test' : undefined);
      for (const p of tr.model.parameters()) assert.ok(!p.grad || p.grad.abs().max().item() === 0);
    },
  };
  const t = new Trainer({ ...s, callbacks: [later, skipper] });
  await t.fit(1);
  assert.deepEqual(changed, [true, false, true, true, true, true]);
  assert.equal(t.step, 6);
  assert.deepEqual(order.slice(0, 4), ['skipper', 'later', 'skipper', 'later']);
});

test('CancelBatchException outside batch events is refused by name', async () => {
  const s = base();
  const t = new Trainer({
    ...s,
    callbacks: [
      {
        afterStep: () => {
          throw new CancelBatchException();
        },
      },
    ],
  });
  await assert.rejects(t.fit(1), /CancelBatchException from afterStep.*skipStep/s);
  // gradients are unscaled and normalised at beforeStep: too late to keep accumulating them
  const late = new Trainer({
    ...base(),
    callbacks: [
      {
        beforeStep: () => {
          throw new CancelBatchException();
        },
      },
    ],
  });
  await assert.rejects(late.fit(1), /CancelBatchException from beforeStep/);
});

test('mixed precision, accumulation and the NaN stop are callbacks the trainer adds from its options', () => {
  const kinds = (t: Trainer) => t.callbacks.map((c) => c.constructor.name).filter((n) => n !== 'Object');
  assert.deepEqual(kinds(new Trainer(base())), ['NanStop']);
  const t = new Trainer({ ...base(), accumulate: 2, amp: 'bf16' });
  assert.ok(t.callbacks.some((c) => c instanceof GradientAccumulation && c.every === 2));
  const amp = t.callbacks.find((c) => c instanceof MixedPrecision);
  assert.ok(amp && amp.scaler === undefined && t.amp?.dtype === 'bfloat16');
  assert.ok(t.callbacks.some((c) => c instanceof NanStop));
  const fp16 = MixedPrecision.from({ dtype: 'bfloat16', scaler: {} }, 'cpu');
  assert.ok(fp16?.scaler);
  assert.throws(() => MixedPrecision.from('fp16', 'cpu'), /fp16 mixed precision needs CUDA/);
});

test('aroundForward wraps the forward and the loss, in training and validation', async () => {
  const s = setup(2);
  let inside = false;
  const calls = { train: 0, valid: 0 };
  const t = new Trainer({
    ...s,
    forward: (m, x) => {
      assert.ok(inside, 'forward runs inside the wrapper');
      calls[m.training ? 'train' : 'valid']++;
      return m.call(x as never);
    },
    callbacks: [
      {
        aroundForward<T>(_t: Trainer, run: () => T): T {
          inside = true;
          try {
            return run();
          } finally {
            inside = false;
          }
        },
      },
    ],
  });
  await t.fit(1);
  assert.deepEqual(calls, { train: 6, valid: 3 });
});

test('a plain optimizer over frozen parameters: "nothing trains" before any batch, not libtorch\'s raw error', async () => {
  const s = setup(2);
  for (const p of s.model.parameters()) p.requiresGrad = false;
  let batches = 0;
  await assert.rejects(
    fit({ ...s, epochs: 1, progress: false, callbacks: [{ beforeBatch: () => void batches++ }] }),
    /nothing trains: every one of the \d+ parameters the optimizer holds is frozen/,
  );
  assert.equal(batches, 0);
});
