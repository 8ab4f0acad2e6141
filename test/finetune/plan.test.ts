// plan(): the run before any compute, as text and JSON; its lrs equal the real run's (and PyTorch's).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fineTune, plan, type RunSpec } from '../../src/finetune/index.ts';
import * as models from '../../src/models/index.ts';
import { FX, tiny } from './_helpers.ts';

const seed000 = (L: number): RunSpec => ({
  optimizer: { type: 'Adam', lr: L },
  groups: {
    groups: [
      { name: 'pretrained', match: { loaded: true }, lrScale: 1e-4 },
      { name: 'new', match: { loaded: false } },
    ],
  },
  phases: [
    { name: 'pretrained slow', epochs: 3 },
    {
      name: 'equalised',
      epochs: 5,
      lr: { equalise: L * 0.1 },
      scheduler: { type: 'MultiStepLR', milestones: [2, 4], gamma: 0.5 },
    },
  ],
});

test("plan of seed 000: every group's lr at every epoch equals PyTorch's run; load report and modules per phase", () => {
  const m = tiny();
  const loaded = ['body.0.weight', 'body.1.weight', 'body.1.bias'];
  const { json, text } = plan(m, seed000(FX.seed000.lr), {
    loadReport: {
      loaded,
      skipped: [{ key: 'head.weight', reason: 'shape [10, 6] vs [3, 6]' }],
      missing: ['head.bias'],
    },
  });
  assert.deepEqual(
    json.lrs.map((r) => r.lr),
    FX.seed000.lrs,
  );
  assert.equal(json.epochs, 8);
  assert.deepEqual(
    json.groups.map((g) => [g.name, g.params]),
    [
      ['pretrained', loaded],
      ['new', ['head.weight', 'head.bias']],
    ],
  );
  assert.deepEqual(json.load, {
    loaded: 3,
    skipped: [{ key: 'head.weight', reason: 'shape [10, 6] vs [3, 6]' }],
    missing: ['head.bias'],
    unexpected: [],
  });
  assert.deepEqual(
    json.parameters.map((p) => [p.name, p.group, p.loaded]),
    [
      ['body.0.weight', 'pretrained', true],
      ['body.1.weight', 'pretrained', true],
      ['body.1.bias', 'pretrained', true],
      ['head.weight', 'new', false],
      ['head.bias', 'new', false],
    ],
  );
  assert.deepEqual(
    json.phases.map((p) => [p.index, p.startEpoch, p.scheduler]),
    [
      [0, 0, null],
      [1, 3, { type: 'MultiStepLR', interval: 'epoch' }],
    ],
  );
  const body = json.phases[1]!.modules.find((r) => r.path === 'body')!;
  assert.deepEqual(body, {
    path: 'body',
    kind: 'module',
    numel: 36,
    trainable: 36,
    groups: ['pretrained'],
    lrs: [0.001],
    bnEval: false,
  });
  assert.match(text, /load: 3 loaded, 1 skipped, 1 missing \(new\), 0 unexpected/);
  assert.match(text, /phase 1 'equalised': from epoch 3, 5 epochs; Adam, MultiStepLR per epoch; everything trains/);
  assert.match(text, /learning rate at the start of each epoch/);
});

test('plan of seed 003: frozen modules, eval-mode BatchNorm, the switch; the model is not touched', () => {
  const m = tiny();
  const { json, text, svg } = plan(
    m,
    {
      optimizer: { type: 'Adam', lr: 0.01 },
      groups: { groups: [{ name: 'features', match: 'body', lrScale: 0.1 }], rest: 'fc', noDecay: false },
      scheduler: { type: 'ReduceLROnPlateau', mode: 'max', factor: 0.7, patience: 5, monitor: 'eval.accuracy' },
      phases: [
        { name: 'head only', epochs: 1, freeze: { freeze: 'body' } },
        { name: 'all', epochs: 8, freeze: 'none' },
        { name: 'sgd', epochs: 7, optimizer: { type: 'SGD', momentum: 0.9, weight_decay: 1e-4, state: 'reset' } },
      ],
    },
    { svg: true, params: true },
  );
  const body = json.phases[0]!.modules.find((r) => r.path === 'body')!;
  assert.equal(body.trainable, 0);
  assert.equal(body.bnEval, true);
  assert.deepEqual(json.phases[0]!.frozen, ['body.0.weight', 'body.1.weight', 'body.1.bias']);
  assert.deepEqual(
    json.phases.map((p) => p.optimizer),
    ['Adam', 'Adam', 'SGD'],
  );
  assert.ok(json.phases[2]!.notes.some((n) => n.startsWith('optimizer Adam -> SGD (state reset)')));
  assert.deepEqual(json.notes, ['ReduceLROnPlateau depends on metrics: lrs are shown without its reductions']);
  assert.deepEqual(json.lrs[0]!.frozen, [true, false]);
  assert.match(text, /body\s+36\s+frozen\s+features\s+1\.00e-3\s+eval/);
  assert.match(text, /body\.0\.weight\s+\[6, 4\]\s+features\s+-\s+T\s+T/);
  assert.ok(svg?.startsWith('<svg'));
  assert.ok(
    [...m.namedParameters()].every(([, p]) => p.requiresGrad),
    'plan never freezes the model',
  );
});

test('plan of fastai fine_tune on resnet18 (per-step one cycle needs stepsPerEpoch)', () => {
  const m = models.create('resnet18', { numClasses: 4 });
  const spec = fineTune(m, { epochs: 4, stepsPerEpoch: 10 });
  assert.throws(() => plan(m, { ...spec, stepsPerEpoch: undefined }), /give stepsPerEpoch/);
  const { json, text } = plan(m, spec);
  assert.equal(json.epochs, 5);
  assert.equal(json.groups.length, 12, 'six layer groups, each with a no-decay part');
  const head = json.phases[0]!.modules.find((r) => r.path === 'fc')!;
  assert.equal(head.trainable, head.numel);
  assert.match(text, /layer4\s+8,393,728\s+5,120 of 8,393,728/);
  assert.equal(json.phases[0]!.modules.find((r) => r.path === 'layer4' && r.kind === 'layer-group')!.sameAs, 'layer4');
  if (process.env.GRAFT_PLAN_SAMPLE) console.log(text);
});

test('plan of parameters left out of every group: shown as in no group, never as training', () => {
  const spec: RunSpec = { optimizer: { type: 'SGD', lr: 0.1 }, groups: { exclude: 'body.1' }, phases: [{ epochs: 1 }] };
  const { json, text } = plan(tiny(), spec, { params: true });
  assert.deepEqual(
    json.parameters.filter((p) => p.group === '(no group)').map((p) => p.name),
    ['body.1.weight', 'body.1.bias'],
  );
  const body = json.phases[0]!.modules.find((m) => m.path === 'body')!;
  assert.deepEqual([body.trainable, body.numel, body.groups], [24, 36, ['default', '(no group)']]);
  assert.ok(text.includes('  body.1.bias    [6]     (no group)  x'));
  assert.match(text, /note: 2 parameter tensors are in no optimizer group \(groups\.exclude\)/);
});
