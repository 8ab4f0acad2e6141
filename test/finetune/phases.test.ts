// The PhaseRunner: lr changes, schedulers per epoch / per step with lengths from the phase,
// lr = 0 pinning that no scheduler can move, optimizer switches, step-length phases, exact resume.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PhaseRunner, type RunSpec } from '../../src/finetune/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { allBits, bits, runEpoch, Tiny, tiny } from './_helpers.ts';

const TWO = { groups: [{ name: 'body', match: 'body', lrScale: 0.1 }], rest: 'head', noDecay: false } as const;

describe('learning-rate changes at a phase start', () => {
  test('set by group, set from another group, scale, equalise', () => {
    const r = new PhaseRunner(tiny(), {
      optimizer: { type: 'SGD', lr: 1 },
      groups: TWO,
      phases: [
        { epochs: 1 },
        { epochs: 1, lr: { set: { body: { of: 'head', times: 0.5 } } } },
        { epochs: 1, lr: { scale: { head: 0.1 } } },
        { epochs: 1, lr: { equalise: { of: 'body' } } },
        { epochs: 1, lr: { set: 0.2, scale: 2 } },
      ],
    });
    const seen: number[][] = [];
    for (let e = 0; e < 5; e++) {
      r.onEpochStart(e);
      seen.push(r.lrs());
    }
    assert.deepEqual(seen, [
      [0.1, 1],
      [0.5, 1],
      [0.5, 0.1],
      [0.5, 0.5],
      [0.4, 0.4],
    ]);
  });

  test('unknown groups, keys and missing metrics are errors that say what exists', () => {
    const spec = (lr: object): RunSpec => ({
      optimizer: { type: 'SGD', lr: 1 },
      groups: TWO,
      phases: [{ epochs: 1, lr: lr as never }],
    });
    assert.throws(
      () => new PhaseRunner(tiny(), spec({ set: { neck: 1 } })),
      /no parameter group 'neck'.*groups: body, head/,
    );
    assert.throws(() => new PhaseRunner(tiny(), spec({ multiply: 2 })), /unknown key 'multiply'/);
    const r = new PhaseRunner(tiny(), {
      optimizer: { type: 'SGD', lr: 1 },
      scheduler: { type: 'ReduceLROnPlateau', mode: 'max', monitor: 'eval.accuracy' },
      phases: [{ epochs: 3 }],
    });
    assert.throws(() => r.onEpochEnd(0, { 'eval.loss': 1 }), /watches 'eval.accuracy', but onEpochEnd got eval.loss/);
    // Keras-style names are refused when the runner is built, with the name to use
    assert.throws(
      () =>
        new PhaseRunner(tiny(), {
          optimizer: { type: 'SGD', lr: 1 },
          scheduler: { type: 'ReduceLROnPlateau', monitor: 'val_acc' },
          phases: [{ epochs: 3 }],
        }),
      /monitor 'val_acc' is not a metric name.*did you mean 'eval.accuracy'/,
    );
    assert.throws(
      () => new PhaseRunner(tiny(), { optimizer: { type: 'SGD', lr: 1 }, phases: [{ epochs: 1, steps: 3 }] }),
      /exactly one of epochs \/ steps/,
    );
  });
});

describe('schedulers in phases', () => {
  test('a scheduler started in a later phase takes that moment’s lrs as base_lrs, even after an earlier scheduler', () => {
    const r = new PhaseRunner(tiny(), {
      optimizer: { type: 'SGD', lr: 1 },
      groups: TWO,
      scheduler: { type: 'StepLR', step_size: 1, gamma: 0.5 },
      phases: [{ epochs: 2 }, { epochs: 2, lr: { set: 0.01 }, scheduler: { type: 'CosineAnnealingLR' } }],
    });
    const seen: number[][] = [];
    for (let e = 0; e < 4; e++) {
      r.onEpochStart(e);
      seen.push(r.lrs());
      r.onEpochEnd(e);
    }
    assert.deepEqual(seen.slice(0, 3), [
      [0.1, 1],
      [0.05, 0.5],
      [0.01, 0.01],
    ]);
    assert.deepEqual((r.scheduler as unknown as { baseLrs: number[] }).baseLrs, [0.01, 0.01]);
    // T_max came from the phase length (2 epochs): half way down the cosine
    assert.ok(Math.abs(seen[3]![0]! - 0.005) < 1e-12);
  });

  test('per-step schedulers take their length from the phase and stepsPerEpoch, given late or in the spec', () => {
    const spec: RunSpec = {
      optimizer: { type: 'SGD', lr: 1, momentum: 0.9 },
      phases: [{ epochs: 2, scheduler: { type: 'OneCycleLR', interval: 'step' } }],
    };
    // without it the scheduler waits; the first epoch cannot start without it
    assert.throws(() => new PhaseRunner(tiny(), spec).onEpochStart(0), /needs stepsPerEpoch.*fit\(\) gives it/);
    const late = new PhaseRunner(tiny(), spec);
    assert.equal(late.scheduler, undefined);
    late.setStepsPerEpoch(3);
    const r = new PhaseRunner(tiny(), { ...spec, stepsPerEpoch: 3 });
    for (const x of [r, late]) {
      const sched = x.scheduler as unknown as { totalSteps: number };
      assert.equal(sched.totalSteps, 6);
      assert.equal(x.optimizer.paramGroups[0]!.max_lr, 1, 'max_lr defaults to the group lr');
    }
    assert.deepEqual(late.lrs(), r.lrs());
    for (let s = 0; s < 6; s++) r.onStepEnd();
    assert.throws(() => r.setStepsPerEpoch(4), /run spec says 3 steps per epoch, but the training data gives 4/);
    late.onEpochStart(0);
    assert.throws(() => new PhaseRunner(tiny(), { ...spec, phases: [{ epochs: 2 }] }).setStepsPerEpoch(0), /positive/);
  });

  test('phases measured in steps end mid-epoch', () => {
    const r = new PhaseRunner(tiny(), {
      optimizer: { type: 'SGD', lr: 1 },
      phases: [
        { name: 'warm', steps: 3, lr: { set: 0.1 } },
        { name: 'main', epochs: 2, lr: { set: 1 } },
      ],
      stepsPerEpoch: 2,
    });
    const seen: [number, number][] = [];
    for (let e = 0; e < 3; e++) {
      r.onEpochStart(e);
      for (let s = 0; s < 2; s++) {
        seen.push([r.phaseIndex, r.lrs()[0]!]);
        r.onStepEnd();
      }
    }
    assert.deepEqual(seen, [
      [0, 0.1],
      [0, 0.1],
      [0, 0.1],
      [1, 1],
      [1, 1],
      [1, 1],
    ]);
    assert.equal(r.totalEpochs, 4);
  });
});

describe("the 'lr = 0' alternative", () => {
  for (const sched of [
    { type: 'CosineAnnealingLR', T_max: 3, eta_min: 0.001 },
    { type: 'OneCycleLR', max_lr: 0.5, interval: 'step' as const },
    { type: 'linear', num_warmup_steps: 2, interval: 'step' as const },
    { type: 'ReduceLROnPlateau', min_lr: 0.05, patience: 0 },
  ])
    test(`a pinned group stays at 0 under ${sched.type} and resumes the schedule when unpinned`, () => {
      const m = tiny();
      const r = new PhaseRunner(m, {
        optimizer: { type: 'SGD', lr: 0.1, momentum: 0.9, weight_decay: 0.01 },
        groups: TWO,
        scheduler: sched,
        phases: [
          { epochs: 3, freeze: { freeze: 'body', via: 'lr0' } },
          { epochs: 1, freeze: 'none' },
        ],
        stepsPerEpoch: 2,
      });
      const body = m.getParameter('body.0.weight')!;
      const start = bits(body);
      const running = allBits(m).get('body.1.running_mean');
      for (let e = 0; e < 3; e++) {
        runEpoch(m, r, e, { 'eval.loss': 1 }, () => {
          assert.equal(r.optimizer.paramGroups[0]!.lr, 0, 'body pinned at 0 at every step');
          assert.ok(body.grad, 'lr0 keeps gradients (the parameters stay trainable)');
        });
        assert.equal(r.optimizer.paramGroups[0]!.lr, 0);
      }
      assert.deepEqual(bits(body), start, 'a group at lr 0 does not move, weight decay and momentum included');
      assert.deepEqual(allBits(m).get('body.1.running_mean'), running, 'its BatchNorm was held in eval mode');
      const shadow = r.lrs()[0]!;
      r.onEpochStart(3);
      assert.equal(r.optimizer.paramGroups[0]!.lr, shadow, 'unpinned: back to where the schedule has it');
      assert.ok(shadow > 0);
    });

  test('lr0 pins whole groups only', () => {
    assert.throws(
      () =>
        new PhaseRunner(tiny(), {
          optimizer: { type: 'SGD', lr: 0.1 },
          phases: [{ epochs: 1, freeze: { freeze: 'body.1', via: 'lr0' } }],
        }),
      /group 'default' has 2 of 5 parameters frozen/,
    );
  });
});

describe('optimizer switches', () => {
  const switchRun = (from: object, to: object) => {
    const m = tiny();
    const r = new PhaseRunner(m, {
      optimizer: { type: 'SGD', lr: 0.1, ...from },
      groups: TWO,
      phases: [{ epochs: 1 }, { epochs: 1, optimizer: to as never }],
    });
    runEpoch(m, r, 0);
    const old = r.optimizer;
    const state = new Map([...old.state].map(([p, st]) => [p, { ...st }]));
    r.onEpochStart(1);
    return { r, old, state };
  };

  test('SGD -> SGD with state keep carries the momentum buffers', () => {
    const { r, old, state } = switchRun(
      { type: 'SGD', momentum: 0.9 },
      { type: 'SGD', momentum: 0.9, nesterov: true, state: 'keep' },
    );
    assert.notEqual(r.optimizer, old);
    for (const [p, st] of state) assert.equal(r.optimizer.state.get(p)!.momentum_buffer, st.momentum_buffer);
    assert.match(r.notes.at(-1)!.text, /optimizer SGD -> SGD \(state keep\); kept momentum_buffer/);
  });

  test('Adam -> AdamW with state keep carries step and moments; Adam -> SGD drops them and says so', () => {
    let { r, state } = switchRun({ type: 'Adam', lr: 0.01 }, { type: 'AdamW', state: 'keep' });
    for (const [p, st] of state) {
      const now = r.optimizer.state.get(p)!;
      assert.equal(now.exp_avg, st.exp_avg);
      assert.equal((now.step as Tensor).item(), 2);
    }
    ({ r } = switchRun({ type: 'Adam', lr: 0.01 }, { type: 'SGD', momentum: 0.9, state: 'keep' }));
    assert.equal(r.optimizer.state.size, 0);
    assert.match(r.notes.at(-1)!.text, /Adam -> SGD \(state keep\); dropped step, exp_avg, exp_avg_sq/);
    // the group's params are the group itself, not a hyper-parameter SGD drops
    assert.match(r.notes.at(-1)!.text, /hyper-parameters SGD does not take: betas, eps$/);
    assert.deepEqual(r.lrs(), [0.001, 0.01], 'the new optimizer starts at the current lrs');
  });
});

describe('exact resume', () => {
  const spec = (): RunSpec => ({
    optimizer: { type: 'Adam', lr: 0.01 },
    groups: TWO,
    scheduler: { type: 'ReduceLROnPlateau', mode: 'max', factor: 0.5, patience: 1, monitor: 'eval.accuracy' },
    phases: [
      { epochs: 2, freeze: { freeze: 'body' } },
      { epochs: 2, freeze: 'none', scheduler: { type: 'OneCycleLR', interval: 'step' } },
      {
        epochs: 3,
        optimizer: { type: 'SGD', momentum: 0.9, state: 'reset' },
        scheduler: { type: 'StepLR', step_size: 1 },
      },
    ],
    stepsPerEpoch: 2,
  });
  const acc = [0.5, 0.4, 0.4, 0.6, 0.6, 0.5, 0.7];
  for (const stopAt of [1, 2, 3, 5])
    test(`stopping after epoch ${stopAt} and resuming gives the same parameters bit for bit`, () => {
      const a = tiny();
      const ra = new PhaseRunner(a, spec());
      for (let e = 0; e < 7; e++) runEpoch(a, ra, e, { 'eval.accuracy': acc[e]! });

      const b = tiny();
      const rb = new PhaseRunner(b, spec());
      for (let e = 0; e <= stopAt; e++) runEpoch(b, rb, e, { 'eval.accuracy': acc[e]! });
      const saved = rb.stateDict();
      const c = new Tiny();
      c.loadStateDict(b.stateDict());
      const rc = new PhaseRunner(c, spec());
      rc.loadStateDict(saved);
      assert.equal(rc.phaseIndex, rb.phaseIndex);
      for (let e = stopAt + 1; e < 7; e++) runEpoch(c, rc, e, { 'eval.accuracy': acc[e]! });
      assert.deepEqual(allBits(c), allBits(a));
      assert.deepEqual(rc.lrs(), ra.lrs());
    });
});

describe('nothing trains', () => {
  test('a phase that freezes everything is an error when the run is built, before any step', () => {
    const spec = (freeze: RunSpec['phases'][number]['freeze']): RunSpec => ({
      optimizer: { type: 'SGD', lr: 1 },
      phases: [
        { epochs: 1, freeze: { freeze: 'body' } },
        { name: 'oops', epochs: 1, freeze },
      ],
    });
    assert.throws(
      () => new PhaseRunner(tiny(), spec({ freeze: '*' })),
      /phase 1 'oops': nothing trains: every one of the 5 parameters is frozen/,
    );
    // the plan's dry runner says so too
    assert.throws(() => new PhaseRunner(tiny(), spec({ freeze: '*' }), { dry: true }), /nothing trains/);
    assert.doesNotThrow(() => new PhaseRunner(tiny(), spec({ freeze: '*', train: 'head.bias' })));
    // trainable parameters that no group holds train nothing either
    assert.throws(
      () =>
        new PhaseRunner(tiny(), {
          optimizer: { type: 'SGD', lr: 1 },
          groups: { exclude: 'head' },
          phases: [{ epochs: 1, freeze: { freeze: 'body' } }],
        }),
      /phase 0: nothing trains: its 2 trainable parameters are in no optimizer group/,
    );
    // lr 0 pins whole groups: a later phase that splits one fails when the run is built, not at that phase
    assert.throws(
      () =>
        new PhaseRunner(tiny(), {
          optimizer: { type: 'SGD', lr: 1 },
          phases: [{ epochs: 1 }, { epochs: 1, freeze: { freeze: 'body', via: 'lr0' } }],
        }),
      /phase 1: freeze via 'lr0' pins whole param groups, but group 'default' has 3 of 5 parameters frozen/,
    );
  });
});
