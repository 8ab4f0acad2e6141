// Constructor and state-dict behaviour: initial_lr on resume, _step_count, lambdas, Counter
// milestones, ReduceLROnPlateau's keys, and the errors for bad states.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentError } from '../../src/errors.ts';
import type { OptimizerLike } from '../../src/optim/types.ts';
import {
  ChainedScheduler,
  CosineAnnealingLR,
  CosineAnnealingWarmRestarts,
  ExponentialLR,
  LambdaLR,
  MultiStepLR,
  OneCycleLR,
  ReduceLROnPlateau,
  SequentialLR,
  StepLR,
} from '../../src/schedule/index.ts';

const twoGroups = (): OptimizerLike => ({ paramGroups: [{ lr: 0.001 }, { lr: 0.0001 }] });

test('a new schedule sets initial_lr in every group and keeps an existing one', () => {
  const opt: OptimizerLike = { paramGroups: [{ lr: 1e-3 }, { lr: 5e-4, initial_lr: 1e-3 }] };
  const s = new StepLR(opt, { step_size: 2 });
  assert.equal(opt.paramGroups[0]!.initial_lr, 1e-3);
  assert.equal(opt.paramGroups[1]!.initial_lr, 1e-3);
  assert.deepEqual(s.baseLrs, [1e-3, 1e-3]);
  assert.equal(s.stepCount, 1, 'the constructor takes the first step');
  assert.equal(s.lastEpoch, 0);
});

test('resuming (last_epoch != -1) requires initial_lr, naming the group', () => {
  const opt: OptimizerLike = { paramGroups: [{ lr: 0.1, initial_lr: 0.1 }, { lr: 0.01 }] };
  assert.throws(
    () => new CosineAnnealingLR(opt, { T_max: 10, last_epoch: 4 }),
    (e: unknown) =>
      e instanceof ArgumentError &&
      e.message.includes("param 'initial_lr' is not specified in param_groups[1] when resuming an optimizer") &&
      e.hint?.includes('optimizer state dict') === true,
  );
  opt.paramGroups[1]!.initial_lr = 0.01;
  const s = new CosineAnnealingLR(opt, { T_max: 10, last_epoch: 4 });
  assert.equal(s.lastEpoch, 5);
});

test('OneCycleLR resumed without its group values says what is missing', () => {
  const opt: OptimizerLike = { paramGroups: [{ lr: 0.1, initial_lr: 0.1, momentum: 0.9 }] };
  assert.throws(
    () => new OneCycleLR(opt, { max_lr: 1, total_steps: 10, last_epoch: 3 }),
    (e: unknown) => e instanceof ArgumentError && e.message.includes("param_groups[0] has no number 'max_lr'"),
  );
});

test('OneCycleLR refuses to step past total_steps, like torch', () => {
  const opt: OptimizerLike = { paramGroups: [{ lr: 0.1, momentum: 0.9 }] };
  const s = new OneCycleLR(opt, { max_lr: 1, total_steps: 5 });
  for (let i = 0; i < 5; i++) s.step(); // last_epoch 5 == total_steps is still allowed
  assert.throws(() => s.step(), /tried to step 7 times\. The specified number of total steps is 5/);
});

test('OneCycleLR cycles betas[0] and keeps betas[1]; errors without momentum', () => {
  const opt: OptimizerLike = { paramGroups: [{ lr: 0.1, betas: [0.9, 0.99] }] };
  const s = new OneCycleLR(opt, { max_lr: 1, total_steps: 10 });
  assert.deepEqual(opt.paramGroups[0]!.betas, [0.95, 0.99]);
  s.step();
  assert.equal(opt.paramGroups[0]!.betas![1], 0.99);
  assert.ok(opt.paramGroups[0]!.betas![0] < 0.95);
  assert.throws(
    () => new OneCycleLR({ paramGroups: [{ lr: 0.1 }] }, { max_lr: 1, total_steps: 10 }),
    /must support momentum/,
  );
  new OneCycleLR({ paramGroups: [{ lr: 0.1 }] }, { max_lr: 1, total_steps: 10, cycle_momentum: false });
});

test('CosineAnnealingWarmRestarts leaves _step_count at 0 and rejects negative epochs', () => {
  const s = new CosineAnnealingWarmRestarts(twoGroups(), { T_0: 3 });
  s.step();
  s.step(2.5);
  assert.equal(s.stepCount, 0);
  assert.equal(s.stateDict()._step_count, 0);
  assert.equal(s.stateDict().T_cur, 2.5);
  assert.throws(() => s.step(-1), /expected non-negative epoch, but got -1/);
});

test('LambdaLR saves null for plain functions and the properties of callable objects', () => {
  const opt = twoGroups();
  const scaled = Object.assign((e: number) => scaled.scale * (e + 1), { scale: 0.5 });
  const s = new LambdaLR(opt, { lr_lambda: [() => 1, scaled] });
  assert.deepEqual(s.stateDict().lr_lambdas, [null, { scale: 0.5 }]);
  s.loadStateDict({ ...s.stateDict(), lr_lambdas: [null, { scale: 2 }] });
  assert.equal(scaled.scale, 2);
  s.step();
  assert.equal(opt.paramGroups[1]!.lr, 0.0001 * 4);
  assert.throws(() => new LambdaLR(opt, { lr_lambda: [() => 1] }), /expected 2 lr_lambdas, but got 1/);
});

test('MultiStepLR keeps a Counter: repeated milestones multiply, every form loads', () => {
  const opt = twoGroups();
  const s = new MultiStepLR(opt, { milestones: [2, 2, 4], gamma: 0.1 });
  assert.deepEqual(
    s.stateDict().milestones,
    new Map([
      [2, 2],
      [4, 1],
    ]),
  );
  for (const form of [
    { '2': 2, '4': 1 },
    [2, 4, 2],
    new Map([
      [2, 2],
      [4, 1],
    ]),
  ]) {
    s.loadStateDict({ milestones: form });
    assert.deepEqual(
      s.milestones,
      new Map([
        [2, 2],
        [4, 1],
      ]),
    );
  }
});

test('ReduceLROnPlateau state dict has torch keys; _last_lr appears after the first step', () => {
  const opt = twoGroups();
  const s = new ReduceLROnPlateau(opt, { mode: 'max', patience: 0, min_lr: [0, 1e-5] });
  const keys = [
    'factor',
    'min_lrs',
    'patience',
    'verbose',
    'cooldown',
    'cooldown_counter',
    'mode',
    'threshold',
    'threshold_mode',
    'best',
    'num_bad_epochs',
    'mode_worse',
    'eps',
    'last_epoch',
  ];
  assert.deepEqual(Object.keys(s.stateDict()), keys);
  assert.equal(s.stateDict().best, Number.NEGATIVE_INFINITY);
  s.step(0.5);
  s.step({ item: () => 0.4 });
  assert.deepEqual(Object.keys(s.stateDict()), [...keys, '_last_lr']);
  assert.deepEqual(s.getLastLr(), [0.0001, 1e-5]);
  // load_state_dict re-runs _init_is_better: mode_worse follows the loaded mode.
  s.loadStateDict({ mode: 'min', mode_worse: 123 });
  assert.equal(s.modeWorse, Number.POSITIVE_INFINITY);
  assert.throws(() => s.loadStateDict({ threshold_mode: 'relative' }), /threshold_mode must be one of 'rel', 'abs'/);
  assert.throws(() => s.step('x' as never), /metrics must be a number/);
});

test('loadStateDict rejects values of the wrong type, naming the key', () => {
  const s = new StepLR(twoGroups(), { step_size: 2 });
  assert.throws(
    () => s.loadStateDict({ last_epoch: '3' }),
    (e: unknown) => e instanceof ArgumentError && /last_epoch must be a number/.test(e.message),
  );
  assert.throws(() => s.loadStateDict({ base_lrs: [0.1, 'a'] }), /base_lrs must be an array of numbers/);
  assert.throws(() => s.loadStateDict(null as never), /expected a state dict object/);
});

test('SequentialLR / ChainedScheduler need one child state per child', () => {
  const opt = twoGroups();
  const seq = new SequentialLR(opt, {
    schedulers: [new StepLR(opt, { step_size: 2 }), new ExponentialLR(opt, { gamma: 0.9 })],
    milestones: [3],
  });
  assert.throws(
    () => seq.loadStateDict({ ...seq.stateDict(), _schedulers: [{}] }),
    /_schedulers must be a list of 2 state dicts/,
  );
  const other: OptimizerLike = twoGroups();
  assert.throws(
    () => new ChainedScheduler([new StepLR(opt, { step_size: 2 }), new StepLR(other, { step_size: 2 })]),
    /same optimizer/,
  );
  assert.throws(
    () => new SequentialLR(opt, { schedulers: [new StepLR(other, { step_size: 2 })], milestones: [] }),
    /same optimizer/,
  );
});

test('getLastLr returns a copy; verbose prints like torch', (t) => {
  const opt = twoGroups();
  const log = t.mock.method(console, 'log', () => {});
  const s = new ExponentialLR(opt, { gamma: 0.5, verbose: true });
  s.step(3);
  const last = s.getLastLr();
  last[0] = 42;
  assert.notEqual(s.getLastLr()[0], 42);
  const lines = log.mock.calls.map((c) => c.arguments[0]);
  assert.deepEqual(lines, [
    'Adjusting learning rate of group 0 to 1.0000e-03.',
    'Adjusting learning rate of group 1 to 1.0000e-04.',
    'Epoch 00003: adjusting learning rate of group 0 to 1.2500e-04.',
    'Epoch 00003: adjusting learning rate of group 1 to 1.2500e-05.',
  ]);
});
