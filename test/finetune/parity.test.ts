// The seed 000, 001 and 003 schedules and fastai's fine_tune, run through the PhaseRunner on the
// fixture's tiny model, against the same runs in PyTorch 1.13 (scripts/fixtures/finetune_fixtures.py):
// LR sequences exact, parameters and BatchNorm buffers to 1e-6.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { fineTune, PhaseRunner } from '../../src/finetune/index.ts';
import { MultiStepLR } from '../../src/schedule/index.ts';
import { setNumThreads } from '../../src/tensor/index.ts';
import { compareState, FX, runEpoch, tiny } from './_helpers.ts';

// the fixture ran with torch.set_num_threads(1): reductions then sum in the same order
setNumThreads(1);

let worst = 0;
after(() => console.log(`# max relative error vs PyTorch ${FX.torch_version}: ${worst.toExponential(2)}`));

test('seed 000: pretrained layers at lr×1e-4, new layers at lr, both to lr×0.1 at epoch K, then MultiStepLR(γ=0.5)', () => {
  const f = FX.seed000;
  const m = tiny();
  const L = f.lr;
  const bodyKeys = [...m.stateDict().keys()].filter((k) => k.startsWith('body.'));
  const r = new PhaseRunner(
    m,
    {
      optimizer: { type: 'Adam', lr: L },
      groups: {
        groups: [
          { name: 'pretrained', match: { loaded: true }, lrScale: 1e-4 },
          { name: 'new', match: { loaded: false } },
        ],
      },
      phases: [
        { name: 'pretrained slow', epochs: f.k },
        {
          name: 'equalised',
          epochs: f.epochs - f.k,
          lr: { equalise: L * 0.1 },
          scheduler: { type: 'MultiStepLR', milestones: [2, 4], gamma: 0.5 },
        },
      ],
    },
    { loadReport: { loaded: bodyKeys, missing: ['head.weight', 'head.bias'] } },
  );
  assert.deepEqual(
    r.groups.description.map((g) => [g.name, g.params]),
    [
      ['pretrained', ['body.0.weight', 'body.1.weight', 'body.1.bias']],
      ['new', ['head.weight', 'head.bias']],
    ],
  );
  assert.equal(r.scheduler, undefined, 'no scheduler before epoch K');
  for (let e = 0; e < f.epochs; e++) {
    assert.deepEqual(runEpoch(m, r, e), f.lrs[e], `lrs at epoch ${e}`);
    const sched: unknown = r.scheduler;
    if (e === f.k) {
      assert.ok(sched instanceof MultiStepLR);
      assert.deepEqual(sched.baseLrs, f.base_lrs, "MultiStepLR's base_lrs are the equalised lrs");
    }
    worst = Math.max(worst, compareState(m, f.params[e]!, `epoch ${e}`));
  }
});

test('seed 001: backbone lr, head 10×, SGD wd 1e-3, StepLR', () => {
  const f = FX.seed001;
  const m = tiny();
  const r = new PhaseRunner(m, {
    optimizer: { type: 'SGD', lr: f.lr, weight_decay: 0.001 },
    groups: { groups: [{ name: 'head', match: 'head', lrScale: 10 }], rest: 'backbone', noDecay: false },
    scheduler: { type: 'StepLR', step_size: 2, gamma: 0.1 },
    phases: [{ epochs: f.epochs }],
  });
  // the seed lists the backbone first: same order here
  const order = r.groups.groups.map((g) => g.name);
  assert.deepEqual(order, ['head', 'backbone']);
  for (let e = 0; e < f.epochs; e++) {
    const lrs = runEpoch(m, r, e);
    assert.deepEqual([lrs[1], lrs[0]], f.lrs[e], `lrs at epoch ${e}`);
    worst = Math.max(worst, compareState(m, f.params[e]!, `epoch ${e}`));
  }
});

test('seed 003: epoch 0 head only then all with features at lr×0.1; ReduceLROnPlateau on accuracy (max, factor 0.7, patience 5); Adam → SGD-momentum switch', () => {
  const f = FX.seed003;
  const m = tiny();
  const L = f.lr;
  const r = new PhaseRunner(m, {
    optimizer: { type: 'Adam', lr: L },
    groups: {
      groups: [
        { name: 'features', match: 'body', lrScale: 0.1 },
        { name: 'fc', match: 'head' },
      ],
      noDecay: false,
    },
    scheduler: {
      type: 'ReduceLROnPlateau',
      mode: 'max',
      factor: 0.7,
      patience: 5,
      min_lr: 1e-8,
      monitor: 'eval.accuracy',
    },
    phases: [
      { name: 'head only', epochs: 1, freeze: { freeze: 'body', bn: 'freeze-all' } },
      { name: 'all', epochs: f.switch_at - 1, freeze: 'none' },
      {
        name: 'sgd',
        epochs: f.epochs - f.switch_at,
        optimizer: { type: 'SGD', momentum: 0.9, weight_decay: 1e-4, state: 'reset' },
      },
    ],
  });
  const plateau = r.scheduler;
  for (let e = 0; e < f.epochs; e++) {
    const lrs = runEpoch(m, r, e, { 'eval.accuracy': f.acc[e]! });
    assert.deepEqual(lrs, f.lrs[e], `lrs at epoch ${e}`);
    const rg = Object.fromEntries([...m.namedParameters()].map(([n, p]) => [n, p.requiresGrad]));
    if (e === 0) assert.deepEqual(rg, f.requires_grad[0]);
    else assert.ok(Object.values(rg).every(Boolean), `epoch ${e}: everything trains`);
    assert.equal(r.optimizer.constructor.name, e < f.switch_at ? 'Adam' : 'SGD');
    worst = Math.max(worst, compareState(m, f.params[e]!, `epoch ${e}`));
  }
  assert.equal(r.scheduler, plateau, 'the same ReduceLROnPlateau carries on across the switch');
  assert.ok(r.notes.some((n) => n.text.startsWith('optimizer Adam -> SGD (state reset)')));
});

test('fastai fine_tune: freeze, one cycle at slice(base_lr), unfreeze, one cycle at slice(base_lr/2/100, base_lr/2)', () => {
  const f = FX.finetune;
  const m = tiny();
  const spec = fineTune(m, { epochs: f.epochs, freezeEpochs: f.freeze_epochs, baseLr: f.base_lr, stepsPerEpoch: 2 });
  const r = new PhaseRunner(m, spec);
  assert.deepEqual(
    r.groups.groups.map((g) => g.name),
    ['body.0', 'body.1.no_decay', 'head', 'head.no_decay'],
  );
  let step = 0;
  for (let e = 0; e < f.freeze_epochs + f.epochs; e++) {
    const lrs = runEpoch(m, r, e, {}, () => {
      const want = f.steps[step++]!;
      assert.deepEqual(
        r.optimizer.paramGroups.map((g) => g.lr),
        want.lr,
        `lr before step ${step - 1}`,
      );
      assert.deepEqual(
        r.optimizer.paramGroups.map((g) => (g.betas as number[])[0]),
        want.momentum,
        `beta1 before step ${step - 1}`,
      );
    });
    assert.deepEqual(lrs, f.lrs[e]);
    const frozen = [...m.namedParameters()].filter(([, p]) => !p.requiresGrad).map(([n]) => n);
    assert.deepEqual(frozen, e < f.freeze_epochs ? ['body.0.weight'] : []);
    worst = Math.max(worst, compareState(m, f.params[e]!, `epoch ${e}`));
  }
});
