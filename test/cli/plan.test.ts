// `graft plan RECIPE`: before any compute, the data, the pretrained load preview, per-phase module
// tables and every group's lr at every epoch; --json for machines; exit 1 when the run would fail
// before it trains (data that cannot be read, a load that would fail, a phase in which nothing trains).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import * as models from '../../src/models/index.ts';
import { manualSeed } from '../../src/tensor/index.ts';
import { capture, ROOT, recipe, saveSafetensors, stateDictRaw, withTmp } from '../recipe/_helpers.ts';

const plan = (...args: string[]) => capture(() => main(['plan', ...args]));
const RESNET_DP = join(ROOT, 'test', 'fixtures', 'io', 'plan', 'resnet18_dp.pth');

test('graft plan shows the load preview, each phase and the lr of every group at every epoch', async () => {
  const { code, out } = await plan(recipe('003_head_then_all.yaml'));
  assert.equal(code, 0);
  const lines = out.split('\n');
  assert.match(lines[0]!, /^recipe: head-then-all \(.*recipes\/003_head_then_all\.yaml\)$/);
  assert.equal(
    lines[1],
    'data: fashion-mnist, 10 classes, 60,000 train / 10,000 val / 10,000 test, 938 steps per epoch (batch 64)',
  );
  assert.ok(
    out.includes('  new         classifier.1.weight  -               [10, 1280]'),
    'the new head in the load preview',
  );
  assert.ok(out.includes('  loaded 260 of 314 model keys'));
  assert.ok(
    out.includes(
      "phase 0 'classifier only': from epoch 0, 1 epoch; Adam, ReduceLROnPlateau per epoch; 156 tensors frozen",
    ),
  );
  assert.ok(
    lines.includes('  features    2,223,872  frozen     features    1.00e-4  eval'),
    'features frozen in phase 0',
  );
  assert.ok(lines.includes('  classifier     12,810  yes        classifier  1.00e-3'), 'the classifier trains');
  assert.ok(lines.includes('  features    2,223,872  yes        features    1.00e-4'), 'everything trains in phase 1');
  assert.ok(
    out.includes("phase 1 'all layers': from epoch 1, 9 epochs; Adam, ReduceLROnPlateau per epoch; everything trains"),
  );
  const table = lines.slice(lines.indexOf('learning rate at the start of each epoch (* frozen)') + 1);
  assert.deepEqual(table.slice(0, 3), [
    '  epoch  phase  features  classifier',
    '  0      0      1.00e-4*  1.00e-3',
    '  1-9    1      1.00e-4   1.00e-3',
  ]);
  assert.ok(out.includes('note: ReduceLROnPlateau depends on metrics'));
});

test('graft plan --json: recipe, data, load report and the planned lrs', async () => {
  const { code, out } = await plan(
    recipe('000_pretrained_vs_new_layers.yaml'),
    '--json',
    '--set',
    'phases[1].epochs=4',
  );
  assert.equal(code, 0);
  const j = JSON.parse(out);
  assert.equal(j.recipe.name, 'pretrained-vs-new-layers');
  assert.deepEqual(j.problems, []);
  assert.equal(j.data.stepsPerEpoch, 938);
  assert.equal(j.load.counts.loaded, 260);
  assert.deepEqual(
    j.plan.groups.map((g: { name: string }) => g.name),
    ['pretrained', 'new'],
  );
  const lr = j.plan.lrs.map((e: { lr: number[] }) => e.lr);
  assert.deepEqual(lr[0], [1e-3 * 1e-4, 1e-3]);
  assert.deepEqual(lr[2], [1e-4, 1e-4], 'equalised at lr x 0.1 when phase 1 starts');
  assert.deepEqual(lr[4], [5e-5, 5e-5], 'then MultiStepLR halves at its milestone 2');
});

test('graft plan of a template: missing data and a missing checkpoint are exit 1, the plan still shown', async () => {
  const r = await plan(recipe('001_backbone_head_10x.yaml'));
  assert.equal(r.code, 1);
  assert.match(r.err, /^graft plan: the data cannot be read: .*hotdog/m);
  assert.match(r.err, /^graft plan: the pretrained load would fail: .*ssl_resnet18\.pth: no such file or folder/m);
  assert.match(r.out, /\npretrained weights: cannot preview the load: .*ssl_resnet18\.pth: no such file/);
  assert.ok(r.out.includes("phase 0 'fine-tune': from epoch 0, 5 epochs; SGD, StepLR per epoch; everything trains"));
  assert.ok(r.out.includes('  0-1    0      5.00e-5   5.00e-4'), 'backbone and head (10x) lrs');
  assert.ok(r.out.includes('  2-3    0      5.00e-6   5.00e-5'), 'StepLR steps both groups');
  const ok = await plan(recipe('002_resnet18_fc_only.yaml'), '--set', `model.pretrained.checkpoint=${RESNET_DP}`);
  // the data folder does not exist: the run would fail, so plan is exit 1 (it used to be 0)
  assert.equal(ok.code, 1);
  assert.match(ok.out, /\n {2}data not read: .*four-classes/);
  assert.match(ok.err, /^graft plan: the data cannot be read: .*four-classes/);
  assert.doesNotMatch(ok.err, /pretrained load/);
  assert.ok(ok.out.includes('model: resnet18 (numClasses 4)'));
  // the shape-skipped head counts as skipped in the plan's own summary (it used to say 0)
  assert.ok(ok.out.includes('load: 120 loaded, 2 skipped, 0 missing (new), 0 unexpected'), ok.out.slice(0, 3000));
  assert.ok(ok.out.includes('  skipped: fc.weight (shape [1000, 512] vs [4, 512]), fc.bias (shape [1000] vs [4])'));
  assert.ok(ok.out.includes('  skip:shape  fc.weight  module.fc.weight  [1000, 512] -> [4, 512]'));
  assert.ok(
    ok.out.includes(
      "phase 0 'fc only': from epoch 0, 5 epochs; SGD, no scheduler; 60 tensors frozen (via requires-grad, bn freeze-all)",
    ),
  );
  // the same load without onShapeMismatch: skip fails, and plan says so before anything runs
  const bad = await plan(
    recipe('002_resnet18_fc_only.yaml'),
    '--set',
    `model.pretrained.checkpoint=${RESNET_DP}`,
    '--set',
    'model.pretrained.onShapeMismatch=error',
  );
  assert.equal(bad.code, 1);
  assert.ok(bad.out.includes('MISMATCH'));
  assert.match(bad.out, /error: .*size mismatch for fc\.weight/);
  assert.match(bad.err, /the pretrained load would fail/);
});

test('graft plan says when nothing trains, and when a monitor names no metric the run logs', async () => {
  await withTmp(async (dir) => {
    const base = join(dir, 'base.safetensors');
    manualSeed(0);
    const net = models.create('cifar_net');
    saveSafetensors(base, stateDictRaw(net));
    net.dispose();
    const set = (...xs: string[]) => [`model.pretrained.checkpoint=${base}`, ...xs].flatMap((x) => ['--set', x]);
    const ok = await plan(recipe('004_cifar_conv1_fc2.yaml'), ...set());
    assert.equal(ok.code, 0, ok.err);
    assert.ok(ok.out.includes('loaded 10 of 10 model keys'));
    // every parameter frozen by name: before, plan was exit 0 and training died in libtorch
    const frozen = await plan(
      recipe('004_cifar_last_layer.yaml'),
      ...set('phases[0].freeze={freeze: [conv1, conv2, fc1, fc2, fc3]}'),
    );
    assert.equal(frozen.code, 1);
    assert.match(frozen.err, /phases: phase 0 'last layer': nothing trains: every one of the 10 parameters is frozen/);
    // a replaced head that does not fit fails at its first batch: plan runs one zero input through
    const head = await plan(recipe('004_cifar_last_layer.yaml'), ...set('model.replace={fc3: {Linear: [64, 10]}}'));
    assert.equal(head.code, 1);
    assert.match(head.err, /graft plan: a forward pass of one \[1, 3, 32, 32\] input fails: /);
    const outputs = await plan(
      recipe('004_cifar_all_layers.yaml'),
      ...set(
        'model.replace={fc3: {Linear: [84, 4]}}',
        'model.pretrained.strict=false',
        'model.pretrained.onShapeMismatch=skip',
      ),
    );
    assert.equal(outputs.code, 1);
    assert.match(outputs.err, /the model's output for one input is \[1, 4\], but the data has 10 classes/);
    const classes = await plan(recipe('004_cifar_last_layer.yaml'), ...set('model.numClasses=4'));
    assert.equal(classes.code, 1);
    assert.match(classes.err, /model\.numClasses: 4 classes, but the data has 10/);
    const device = await plan(recipe('004_cifar_last_layer.yaml'), ...set('train.device=cuda:63'));
    assert.equal(device.code, 1);
    assert.match(device.err, /train\.device: 'cuda:63', but /);
    const metric = await plan(recipe('004_cifar_last_layer.yaml'), ...set('train.monitor=val_acc'));
    assert.equal(metric.code, 1);
    assert.match(
      metric.err,
      /train\.monitor: unknown metric 'val_acc'; the metrics are .*\(hint: did you mean 'eval\.accuracy'\?\)/,
    );
  });
});
