// createScheduler / planSchedule: PyTorch key names, camelCase aliases, and errors that name the key.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentError } from '../../src/errors.ts';
import {
  createScheduler,
  MultiStepLR,
  planSchedule,
  ReduceLROnPlateau,
  SCHEDULER_TYPES,
  SequentialLR,
} from '../../src/schedule/index.ts';
import { assertExact, loadCases, resolveSpec } from './_helpers.ts';

const groups = () => ({
  paramGroups: [
    { lr: 0.1, momentum: 0.9 },
    { lr: 0.01, momentum: 0.9 },
  ],
});

function throwsArg(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ArgumentError, `expected ArgumentError, got ${e}`);
    assert.equal(e.code, 'GRAFT_ARGS');
    for (const p of parts) {
      if (typeof p === 'string') assert.ok(e.message.includes(p), `message ${JSON.stringify(e.message)} lacks ${p}`);
      else assert.match(e.message, p);
    }
    return true;
  });
}

test('builds the scheduler named by type, with PyTorch keys', () => {
  const opt = groups();
  const s = createScheduler({ type: 'MultiStepLR', milestones: [10, 20], gamma: 0.5 }, opt);
  assert.ok(s instanceof MultiStepLR);
  assert.equal(s.gamma, 0.5);
  assert.deepEqual(
    [...s.milestones],
    [
      [10, 1],
      [20, 1],
    ],
  );
});

test('camelCase aliases give the same schedule', () => {
  const a = planSchedule({ type: 'CosineAnnealingWarmRestarts', T_0: 5, T_mult: 2, eta_min: 1e-3 }, [0.1, 0.01], 30);
  const b = planSchedule({ type: 'CosineAnnealingWarmRestarts', t0: 5, tMult: 2, etaMin: 1e-3 }, [0.1, 0.01], 30);
  assert.deepEqual(a, b);
  const c = planSchedule({ type: 'OneCycleLR', maxLr: [1, 0.1], totalSteps: 20, threePhase: true }, [0.1, 0.01], 20);
  const d = planSchedule({ type: 'OneCycleLR', max_lr: [1, 0.1], total_steps: 20, three_phase: true }, [0.1, 0.01], 20);
  assert.deepEqual(c, d);
});

test('planSchedule reproduces torch sequences without touching the caller', () => {
  for (const family of ['basic', 'cosine', 'onecycle', 'compose']) {
    for (const c of loadCases(family)) {
      if (c.calls.some((x) => x !== null) || c.optimizer !== 'SGD' || c.spec.last_epoch !== undefined) continue;
      const input = [0.1, 0.01];
      const rows = planSchedule(resolveSpec(c.spec), input, c.calls.length);
      assertExact(rows, c.lr, c.name);
      assert.deepEqual(input, [0.1, 0.01]);
    }
  }
  throwsArg(() => planSchedule({ type: 'ReduceLROnPlateau' }, [0.1], 3), 'ReduceLROnPlateau');
});

test('every registered type builds from a minimal spec', () => {
  const minimal: Record<string, Record<string, unknown>> = {
    StepLR: { step_size: 2 },
    MultiStepLR: { milestones: [2] },
    ExponentialLR: { gamma: 0.9 },
    CosineAnnealingLR: { T_max: 10 },
    CosineAnnealingWarmRestarts: { T_0: 3 },
    OneCycleLR: { max_lr: 1, total_steps: 10 },
    LambdaLR: { lr_lambda: () => 1 },
    MultiplicativeLR: { lr_lambda: () => 1 },
    SequentialLR: { schedulers: [{ type: 'ConstantLR' }, { type: 'ExponentialLR', gamma: 0.9 }], milestones: [3] },
    ChainedScheduler: { schedulers: [{ type: 'ConstantLR' }] },
  };
  for (const type of SCHEDULER_TYPES) {
    const extra =
      minimal[type] ??
      (type.includes('warmup') || ['linear', 'cosine', 'cosine_with_restarts', 'polynomial'].includes(type)
        ? { num_warmup_steps: 2, num_training_steps: 10 }
        : {});
    const spec =
      type === 'constant_schedule_with_warmup' || type === 'constant_with_warmup'
        ? { type, num_warmup_steps: 2 }
        : { type, ...extra };
    const s = createScheduler(spec, groups());
    if (!(s instanceof ReduceLROnPlateau)) for (let i = 0; i < 5; i++) s.step();
    else s.step(1);
    assert.equal(s.getLastLr().length, 2, type);
  }
});

test('unknown keys are named, with the expected keys and a suggestion', () => {
  throwsArg(
    () => createScheduler({ type: 'StepLR', step_size: 3, gama: 0.5 }, groups()),
    'scheduler.gama',
    'step_size, gamma, last_epoch, verbose',
    "did you mean 'gamma'?",
  );
  throwsArg(
    () =>
      createScheduler(
        {
          type: 'SequentialLR',
          milestones: [2],
          schedulers: [{ type: 'ConstantLR' }, { type: 'StepLR', stepsize: 2 }],
        },
        groups(),
      ),
    'scheduler.schedulers[1].stepsize',
    "did you mean 'step_size'?",
  );
});

test('missing, duplicated and badly typed keys', () => {
  throwsArg(() => createScheduler({ type: 'CosineAnnealingLR' }, groups()), 'scheduler.T_max', "requires 'T_max'");
  throwsArg(
    () => createScheduler({ type: 'StepLR', step_size: 2, stepSize: 3 }, groups()),
    "'step_size' is given twice",
  );
  throwsArg(
    () => createScheduler({ type: 'StepLR', step_size: 'ten' }, groups()),
    "step_size must be a positive integer, got 'ten'",
  );
  throwsArg(() => createScheduler({ type: 'StepLR', step_size: 0 }, groups()), 'step_size', 'got 0');
  throwsArg(() => createScheduler({ type: 'ConstantLR', factor: 1.5 }, groups()), 'factor must be between 0 and 1');
  throwsArg(() => createScheduler({ type: 'LinearLR', start_factor: 0 }, groups()), 'start_factor');
  throwsArg(
    () => createScheduler({ type: 'OneCycleLR', max_lr: [1, 2, 3], total_steps: 5 }, groups()),
    'expected 2 values for max_lr, got 3',
  );
  throwsArg(
    () => createScheduler({ type: 'OneCycleLR', max_lr: 1 }, groups()),
    'total_steps OR (epochs AND steps_per_epoch)',
  );
  throwsArg(
    () => createScheduler({ type: 'OneCycleLR', max_lr: 1, total_steps: 5, anneal_strategy: 'cosine' }, groups()),
    "anneal_strategy must be one of 'cos', 'linear'",
  );
  throwsArg(
    () => createScheduler({ type: 'ReduceLROnPlateau', mode: 'minimum' }, groups()),
    "mode must be one of 'min', 'max'",
  );
  throwsArg(() => createScheduler({ type: 'ReduceLROnPlateau', factor: 1 }, groups()), 'factor should be < 1.0');
  throwsArg(
    () => createScheduler({ type: 'ReduceLROnPlateau', min_lr: [0] }, groups()),
    'expected 2 values for min_lr, got 1',
  );
  throwsArg(() => createScheduler({ type: 'LambdaLR', lr_lambda: 'x => 1' }, groups()), 'lr_lambda must be a function');
  throwsArg(
    () => createScheduler({ type: 'SequentialLR', schedulers: [{ type: 'ConstantLR' }], milestones: [3] }, groups()),
    'one more than the number of milestone points',
  );
});

test('unknown types and non-object specs', () => {
  throwsArg(
    () => createScheduler({ type: 'CosineAnnealing' }, groups()),
    "unknown scheduler 'CosineAnnealing'",
    "did you mean 'CosineAnnealingLR'?",
  );
  throwsArg(() => createScheduler({ type: 'toString' }, groups()), "unknown scheduler 'toString'");
  throwsArg(() => createScheduler({} as never, groups()), 'scheduler.type');
  throwsArg(() => createScheduler('StepLR' as never, groups()), 'expected a scheduler spec object');
  throwsArg(() => createScheduler({ type: 'ChainedScheduler', schedulers: [] }, groups()), 'non-empty list');
});

test('SequentialLR children come from nested specs on the same optimizer', () => {
  const opt = groups();
  const s = createScheduler(
    {
      type: 'SequentialLR',
      schedulers: [
        { type: 'LinearLR', start_factor: 0.5 },
        { type: 'StepLR', step_size: 2 },
      ],
      milestones: [4],
    },
    opt,
  );
  assert.ok(s instanceof SequentialLR);
  assert.equal(s.schedulers.length, 2);
  assert.ok(s.schedulers.every((c) => c.optimizer === opt));
  throwsArg(
    () =>
      createScheduler(
        { type: 'SequentialLR', schedulers: [{ type: 'ReduceLROnPlateau' }, { type: 'ConstantLR' }], milestones: [1] },
        groups(),
      ),
    'chainable',
  );
});
