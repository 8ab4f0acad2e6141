// Selectors, freezing, BatchNorm policies, and the guarantee that frozen parameters never move.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  applyFreeze,
  freeze,
  freezeTo,
  ParamIndex,
  PhaseRunner,
  requiresGradTable,
  resolveFreeze,
  unfreeze,
} from '../../src/finetune/index.ts';
import * as models from '../../src/models/index.ts';
import { createOptimizer } from '../../src/optim/index.ts';
import { crossEntropy, manualSeed, noGrad, randn, tensor, tidy } from '../../src/tensor/index.ts';
import { allBits, bits, changedSince, cloneState, runEpoch, tiny } from './_helpers.ts';

const trainable = (m: { namedParameters(): Iterable<[string, { requiresGrad: boolean }]> }) =>
  [...m.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n);

describe('selectors', () => {
  const m = tiny();
  const ix = new ParamIndex({ model: m, loadReport: { loaded: ['body.0.weight', 'body.1.weight'] } });
  test('module paths, globs, negation, regexes, unions', () => {
    assert.deepEqual(ix.select('head'), ['head.weight', 'head.bias']);
    assert.deepEqual(ix.select('body.1'), ['body.1.weight', 'body.1.bias']);
    assert.deepEqual(ix.select('*.bias'), ['body.1.bias', 'head.bias']);
    assert.deepEqual(ix.select('body.?.weight'), ['body.0.weight', 'body.1.weight']);
    assert.deepEqual(ix.select('!head'), ['body.0.weight', 'body.1.weight', 'body.1.bias']);
    assert.deepEqual(ix.select('!head.*'), ['body.0.weight', 'body.1.weight', 'body.1.bias']);
    assert.deepEqual(ix.select(/weight$/), ['body.0.weight', 'body.1.weight', 'head.weight']);
    assert.deepEqual(ix.select(['head.bias', 'body.0']), ['body.0.weight', 'head.bias']);
    assert.deepEqual(ix.select({ not: ['body', 'head.bias'] }), ['head.weight']);
    assert.throws(() => ix.select('hea'), /matches no parameter/, 'a prefix only matches whole path segments');
  });
  test('module, layer group, children and load-report selectors', () => {
    assert.deepEqual(ix.select({ module: 'body.0' }), ['body.0.weight']);
    assert.deepEqual(ix.select({ group: 'head' }), ['head.weight', 'head.bias']);
    assert.deepEqual(ix.select({ group: [0, -1] }), ['body.0.weight', 'head.weight', 'head.bias']);
    assert.deepEqual(ix.select({ children: 'body', last: 2 }), ['body.1.weight', 'body.1.bias']);
    assert.deepEqual(ix.select({ children: '', first: 1 }), ['body.0.weight', 'body.1.weight', 'body.1.bias']);
    assert.deepEqual(ix.select({ loaded: false }), ['body.1.bias', 'head.weight', 'head.bias']);
  });
  test('{ inCheckpoint }: `name in checkpoint`, counting keys skipped for their shape', () => {
    const report = { loaded: ['body.0.weight'], skippedShape: [{ key: 'head.weight' }, { key: 'head.bias' }] };
    const r = new ParamIndex({ model: m, loadReport: report });
    assert.deepEqual(r.select({ inCheckpoint: true }), ['body.0.weight', 'head.weight', 'head.bias']);
    assert.deepEqual(r.select({ inCheckpoint: false }), ['body.1.weight', 'body.1.bias']);
    assert.deepEqual(r.select({ loaded: true }), ['body.0.weight'], 'loaded is what was copied');
    // src/io's report gives the list itself
    const io = new ParamIndex({ model: m, loadReport: { loaded: [], inCheckpoint: ['body.1.bias'] } });
    assert.deepEqual(io.select({ inCheckpoint: true }), ['body.1.bias']);
    assert.throws(() => new ParamIndex(m).select({ inCheckpoint: true }), /needs a load report/);
  });
  test('a selector that matches nothing is an error naming the top-level modules', () => {
    assert.throws(
      () => ix.select('fc.*'),
      /selector 'fc\.\*' matches no parameter of Tiny.*top-level modules: body, head/,
    );
    assert.throws(() => ix.select({ module: 'neck' }), /no submodule 'neck'/);
    assert.throws(
      () => ix.select({ group: 'layer9' }),
      /no layer group "layer9" in tiny.*groups: body.0, body.1, head/,
    );
    assert.throws(() => ix.select({ children: 'body', first: 1, last: 1 }), /exactly one of first \/ last/);
    assert.throws(() => new ParamIndex(m).select({ loaded: true }), /needs a load report/);
    assert.throws(() => ix.select(42 as never), /not a selector/);
  });
});

describe('freezing', () => {
  test('freeze / unfreeze by selector, freezeTo by layer groups, requiresGradTable', () => {
    const m = tiny();
    freeze(m, '!head');
    assert.deepEqual(trainable(m), ['head.weight', 'head.bias']);
    unfreeze(m, 'body.1');
    assert.deepEqual(trainable(m), ['body.1.weight', 'body.1.bias', 'head.weight', 'head.bias']);
    freezeTo(m, 2);
    assert.deepEqual(trainable(m), ['head.weight', 'head.bias']);
    freezeTo(m, -2, { bn: 'train' });
    assert.deepEqual(trainable(m), ['body.1.weight', 'body.1.bias', 'head.weight', 'head.bias']);
    assert.throws(() => freezeTo(m, 4), /freezeTo\(4\): tiny has 3 layer groups \(body.0, body.1, head\)/);
    applyFreeze(m, 'none');
    assert.equal(trainable(m).length, 5);
    assert.deepEqual(requiresGradTable(m)[0], { name: 'body.0.weight', shape: [6, 4], requiresGrad: true });
  });

  test('freezing drops a stale gradient so the next step cannot apply it', () => {
    const m = tiny();
    const opt = createOptimizer({ type: 'SGD', lr: 0.1 }, m.parameters());
    tidy(() =>
      crossEntropy(
        m.call(
          tensor([
            [1, 2, 3, 4],
            [4, 3, 2, 1],
          ]),
        ),
        tensor([0, 1], { dtype: 'int64' }),
      ).backward(),
    );
    const before = bits(m.getParameter('body.0.weight')!);
    applyFreeze(m, { freeze: 'body' });
    opt.step();
    assert.deepEqual(bits(m.getParameter('body.0.weight')!), before);
    assert.equal(m.getParameter('body.0.weight')!.grad, undefined);
  });

  for (const spec of [
    { type: 'SGD', lr: 0.1, momentum: 0.9, weight_decay: 0.01 },
    { type: 'SGD', lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.01 },
    { type: 'Adam', lr: 0.01, weight_decay: 0.1 },
    { type: 'AdamW', lr: 0.01, weight_decay: 0.1, amsgrad: true },
    { type: 'RMSprop', lr: 0.01, momentum: 0.5, weight_decay: 0.01, centered: true },
  ])
    test(`${spec.type} ${JSON.stringify(spec).slice(1, -1)}: frozen parameters never move (no decay, no momentum drift)`, () => {
      const m = tiny();
      // the body trains first, so momentum / moments exist when it is frozen
      const r = new PhaseRunner(m, {
        optimizer: spec,
        groups: { noDecay: false },
        phases: [
          { epochs: 2, freeze: 'none' },
          { epochs: 3, freeze: { freeze: 'body' } },
          { epochs: 1, freeze: 'none' },
        ],
      });
      runEpoch(m, r, 0);
      runEpoch(m, r, 1);
      const frozen = allBits(m);
      for (let e = 2; e < 5; e++) {
        runEpoch(m, r, e);
        for (const k of ['body.0.weight', 'body.1.weight', 'body.1.bias', 'body.1.running_mean', 'body.1.running_var'])
          assert.deepEqual(allBits(m).get(k), frozen.get(k), `${k} moved in frozen epoch ${e}`);
        assert.notDeepEqual(allBits(m).get('head.weight'), frozen.get('head.weight'));
      }
      assert.equal(r.optimizer.paramGroups.length, 1, 'frozen parameters stayed in their group');
      runEpoch(m, r, 5);
      assert.notDeepEqual(allBits(m).get('body.0.weight'), frozen.get('body.0.weight'), 'unfrozen body trains');
    });
});

describe('BatchNorm policies for frozen parts', () => {
  const cases = [
    ['train', true, true],
    ['freeze-stats', true, false],
    ['freeze-affine', false, true],
    ['freeze-all', false, false],
  ] as const;
  for (const [bn, affineMoves, statsMove] of cases)
    test(`bn '${bn}': affine ${affineMoves ? 'trains' : 'frozen'}, running statistics ${statsMove ? 'move' : 'fixed'}`, () => {
      const m = tiny();
      const r = new PhaseRunner(m, {
        optimizer: { type: 'SGD', lr: 0.1 },
        phases: [{ epochs: 1, freeze: { freeze: 'body', bn } }],
      });
      const before = allBits(m);
      runEpoch(m, r, 0); // runEpoch calls model.train() after onEpochStart: the hooks must hold anyway
      const after = allBits(m);
      assert.equal(before.get('body.1.weight')!.join() !== after.get('body.1.weight')!.join(), affineMoves);
      assert.equal(before.get('body.1.running_mean')!.join() !== after.get('body.1.running_mean')!.join(), statsMove);
      assert.deepEqual(after.get('body.0.weight'), before.get('body.0.weight'));
    });

  test('eval-mode BatchNorms survive model.train() and follow it again once unfrozen', () => {
    const m = tiny();
    const bn = m.getSubmodule('body.1');
    applyFreeze(m, { freeze: 'body', bn: 'freeze-all' });
    m.train();
    assert.equal(bn.training, true, 'model.train() sets the flag...');
    noGrad(() =>
      m.call(
        tensor([
          [1, 2, 3, 4],
          [4, 3, 2, 1],
        ]),
      ),
    );
    assert.equal(bn.training, false, '...and the forward pre-hook puts it back before the BatchNorm runs');
    applyFreeze(m, 'none');
    assert.equal(bn.training, true);
    m.eval();
    m.train();
    noGrad(() =>
      m.call(
        tensor([
          [1, 2, 3, 4],
          [4, 3, 2, 1],
        ]),
      ),
    );
    assert.equal(bn.training, true);
  });

  test("bnEval keeps trainable BatchNorms in inference mode (Keras' training=False)", () => {
    const st = resolveFreeze(tiny(), { bnEval: 'body' });
    assert.deepEqual(st.frozen, []);
    assert.deepEqual(st.bnEval, ['body.1']);
  });
});

test('seed 002: resnet18 1000→4 classes with all but fc frozen', () => {
  manualSeed(0);
  const m = models.create('resnet18');
  // the seed's set_parameter_requires_grad(model, True), then model.fc = nn.Linear(512, 4)
  freeze(m);
  models.resetClassifier(m, 4);
  assert.deepEqual(trainable(m), ['fc.weight', 'fc.bias']);
  // the same by name: "if 'fc' not in name: requires_grad_(False)"
  const st = applyFreeze(m, { freeze: '!fc' });
  assert.deepEqual(st.trainable, ['fc.weight', 'fc.bias']);
  assert.equal(st.bnEval.length, 20, 'every BatchNorm of the frozen backbone runs in eval mode');
  // and by counting children (the seed's third way): the first 9 children frozen
  assert.deepEqual(resolveFreeze(m, { freeze: { children: '', first: 9 } }).trainable, ['fc.weight', 'fc.bias']);

  const r = new PhaseRunner(m, {
    optimizer: { type: 'SGD', lr: 0.01, momentum: 0.9, weight_decay: 4e-5 },
    phases: [{ epochs: 1, freeze: { freeze: '!fc' } }],
  });
  assert.equal(
    r.optimizer.paramGroups.reduce((a, g) => a + g.params.length, 0),
    62,
    'all 62 tensors are in the optimizer; only fc gets gradients',
  );
  const before = cloneState(m);
  r.onEpochStart(0);
  m.train();
  for (let s = 0; s < 2; s++)
    tidy(() => {
      r.optimizer.zeroGrad();
      crossEntropy(m.call(randn([2, 3, 32, 32])), tensor([0, 3], { dtype: 'int64' })).backward();
      r.optimizer.step();
    });
  assert.deepEqual(changedSince(m, before), ['fc.weight', 'fc.bias']);
});
