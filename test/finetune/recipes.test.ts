// Built-in recipes: ULMFiT gradual unfreezing, Lightning's BackboneFinetuning, Keras' two-phase
// transfer recipe, fastai's fine_tune (its parity run is in parity.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  backboneFinetuning,
  fineTune,
  gradualUnfreezing,
  kerasTwoPhase,
  PhaseRunner,
  type RunSpec,
} from '../../src/finetune/index.ts';
import * as models from '../../src/models/index.ts';
import { allBits, FX, runEpoch, tiny } from './_helpers.ts';

const trainable = (r: PhaseRunner) => r.freezeState.trainable;

test('ULMFiT gradual unfreezing: one more layer group per epoch, lrs / 2.6 per group down', () => {
  const m = tiny();
  const r = new PhaseRunner(m, gradualUnfreezing(m, { baseLr: 0.01, epochs: 5 }));
  const seen: string[][] = [];
  for (let e = 0; e < 5; e++) {
    runEpoch(m, r, e);
    seen.push(trainable(r));
  }
  assert.deepEqual(seen, [
    ['head.weight', 'head.bias'],
    ['body.1.weight', 'body.1.bias', 'head.weight', 'head.bias'],
    ['body.0.weight', 'body.1.weight', 'body.1.bias', 'head.weight', 'head.bias'],
    ['body.0.weight', 'body.1.weight', 'body.1.bias', 'head.weight', 'head.bias'],
    ['body.0.weight', 'body.1.weight', 'body.1.bias', 'head.weight', 'head.bias'],
  ]);
  assert.deepEqual(
    r.groups.groups.map((g) => [g.group, g.lrScale]),
    [
      ['body.0', (1 / 2.6) ** 2],
      ['body.1', 1 / 2.6],
      ['head', 1],
    ],
  );
  assert.throws(() => gradualUnfreezing(m, { baseLr: 0.01, epochs: 2 }), /3 groups x 1 epochs need 3 epochs/);
});

// Lightning's BackboneFinetuning.finetune_function, step by step, for the expected values
function lightning(o: { at: number; epochs: number; headLrs: number[]; ratio: number; lambda: (e: number) => number }) {
  const out: (number | undefined)[] = [];
  let prev: number | undefined;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const current = o.headLrs[epoch]!;
    if (epoch === o.at) prev = current * o.ratio;
    else if (epoch > o.at) {
      const next = o.lambda(epoch + 1) * prev!;
      prev = Math.min(next, current); // current_lr if next > current_lr else next
    }
    out.push(prev);
  }
  return out;
}

test("Lightning's BackboneFinetuning: unfreeze at epoch K at head lr x 0.1, x lambda each epoch up to the head's lr", () => {
  for (const [lambda, scheduler] of [
    [2.0, undefined],
    [1.5, { type: 'StepLR', step_size: 1, gamma: 0.8 }],
  ] as const) {
    const m = tiny();
    const r = new PhaseRunner(
      m,
      backboneFinetuning(m, { epochs: 9, unfreezeAt: 2, lr: 0.1, lambdaFunc: lambda, scheduler }),
    );
    const head: number[] = [];
    const backbone: (number | undefined)[] = [];
    const names = r.groups.groups.map((g) => g.group);
    const hi = names.indexOf('head');
    const bi = names.indexOf('backbone');
    for (let e = 0; e < 9; e++) {
      const lrs = runEpoch(m, r, e);
      head.push(lrs[hi]!);
      backbone.push(e < 2 ? undefined : lrs[bi]);
      assert.equal(r.freezeState.frozen.length > 0, e < 2, `backbone frozen only before epoch 2 (epoch ${e})`);
    }
    const want = lightning({ at: 2, epochs: 9, headLrs: head, ratio: 0.1, lambda: () => lambda });
    assert.deepEqual(backbone, want);
    assert.equal(backbone[8], head[8], 'aligned with the head by the end');
  }
});

test('Keras two-phase recipe: frozen base, then everything at 1e-5 with a recompiled optimizer; BatchNorm stays in inference mode', () => {
  const m = tiny();
  const r = new PhaseRunner(m, kerasTwoPhase(m, { headEpochs: 2, epochs: 2 }));
  const running = allBits(m).get('body.1.running_var');
  runEpoch(m, r, 0);
  runEpoch(m, r, 1);
  assert.deepEqual(trainable(r), ['head.weight', 'head.bias']);
  const first = r.optimizer;
  const body = allBits(m).get('body.1.weight');
  runEpoch(m, r, 2);
  assert.notEqual(r.optimizer, first, 'recompiled');
  assert.equal(r.optimizer.constructor.name, 'Adam');
  assert.deepEqual(r.lrs(), [1e-5]);
  assert.equal(trainable(r).length, 5);
  assert.notDeepEqual(allBits(m).get('body.1.weight'), body, 'BatchNorm affine weights train in phase 2');
  assert.deepEqual(allBits(m).get('body.1.running_var'), running, 'but its statistics never moved');
});

test('fastai fine_tune on resnet18: head (+ BatchNorm) first at slice(base_lr), then every layer group', () => {
  const m = models.create('resnet18', { numClasses: 4 });
  const spec = fineTune(m, { epochs: 2, stepsPerEpoch: 4 });
  assert.deepEqual(
    spec.phases.map((p) => [p.name, p.epochs]),
    [
      ['head', 1],
      ['unfrozen', 2],
    ],
  );
  const r = new PhaseRunner(m, spec, { dry: true });
  assert.deepEqual(
    r.freezeState.frozen.filter((n) => !n.includes('conv') && !n.includes('downsample.0')),
    [],
    'only convolutions are frozen: BatchNorm trains (train_bn)',
  );
  assert.ok(r.freezeState.trainable.includes('fc.weight'));
  assert.ok(
    [...m.namedParameters()].every(([, p]) => p.requiresGrad),
    'a dry runner never touches the model',
  );
});

test("weight decay of the built-ins: fastai's keep biases and norms at 0 (wd_bn_bias=False), the others decay everything as torch.optim", () => {
  const m = models.create('resnet18', { numClasses: 4 });
  const names = (spec: RunSpec) =>
    new PhaseRunner(m, spec, { dry: true }).groups.groups.map((g) => [g.name, g.weight_decay]);
  const fastai = names(fineTune(m, { epochs: 1, stepsPerEpoch: 2 }));
  assert.ok(
    fastai.some(([n, wd]) => String(n).endsWith('.no_decay') && wd === 0),
    'fastai: a no-decay part',
  );
  const adamW = { type: 'AdamW', weight_decay: 0.01 };
  const ulmfit = names(gradualUnfreezing(m, { baseLr: 1e-3, optimizer: adamW }));
  assert.ok(
    ulmfit.some(([n]) => String(n).endsWith('.no_decay')),
    'ULMFiT is fastai too',
  );
  for (const spec of [
    backboneFinetuning(m, { epochs: 2, unfreezeAt: 1, lr: 0.1, optimizer: adamW }),
    kerasTwoPhase(m, { headEpochs: 1, epochs: 1, optimizer: adamW }),
  ])
    assert.ok(
      names(spec).every(([n]) => !String(n).endsWith('.no_decay')),
      'Lightning and Keras: torch.optim decays every parameter',
    );
});

test('fastai fine_tune without stepsPerEpoch: the runner takes the length late and steps the same one-cycle lrs', () => {
  const lrsOf = (late: boolean) => {
    const m = tiny();
    const r = new PhaseRunner(m, fineTune(m, { epochs: 1, ...(late ? {} : { stepsPerEpoch: FX.steps_per_epoch }) }));
    if (late) r.setStepsPerEpoch(FX.steps_per_epoch);
    const seen: number[][] = [];
    for (let e = 0; e < 2; e++) runEpoch(m, r, e, {}, () => void seen.push(r.optimizer.paramGroups.map((g) => g.lr)));
    return seen;
  };
  assert.equal('stepsPerEpoch' in fineTune(tiny(), { epochs: 1 }), false);
  const byHand = lrsOf(false);
  assert.equal(byHand.length, 2 * FX.steps_per_epoch);
  assert.deepEqual(lrsOf(true), byHand);
});
