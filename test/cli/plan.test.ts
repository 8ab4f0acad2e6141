// `graft plan RECIPE`: before any compute, the data, the pretrained load preview, per-phase module
// tables and every group's lr at every epoch; --json for machines; exit 1 when the load would fail.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { capture, ROOT, recipe } from '../recipe/_helpers.ts';

const plan = (...args: string[]) => capture(() => main(['plan', ...args]));
const RESNET_DP = join(ROOT, 'test', 'fixtures', 'io', 'plan', 'resnet18_dp.pth');

test('graft plan shows the load preview, each phase and the lr of every group at every epoch', async () => {
  const { code, out } = await plan(recipe('003_head_then_all.yaml'));
  assert.equal(code, 0);
  const lines = out.split('\n');
  assert.match(lines[0]!, /^recipe: seed003-head-then-all \(.*recipes\/003_head_then_all\.yaml\)$/);
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
  assert.equal(j.recipe.name, 'seed000-pretrained-vs-new');
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

test('graft plan of a template: the data is named as unread, a missing checkpoint is exit 1', async () => {
  const r = await plan(recipe('001_backbone_head_10x.yaml'));
  assert.equal(r.code, 1);
  assert.match(r.err, /^graft plan: the pretrained load would fail: .*ssl_resnet18\.pth: no such file or folder/);
  assert.match(r.out, /\npretrained weights: cannot preview the load: .*ssl_resnet18\.pth: no such file/);
  assert.ok(r.out.includes("phase 0 'fine-tune': from epoch 0, 5 epochs; SGD, StepLR per epoch; everything trains"));
  assert.ok(r.out.includes('  0-1    0      5.00e-5   5.00e-4'), 'backbone and head (10x) lrs');
  assert.ok(r.out.includes('  2-3    0      5.00e-6   5.00e-5'), 'StepLR steps both groups');
  const ok = await plan(recipe('002_resnet18_fc_only.yaml'), '--set', `model.pretrained.checkpoint=${RESNET_DP}`);
  assert.equal(ok.code, 0);
  assert.match(ok.out, /\n {2}data not read: .*four-classes/);
  assert.ok(ok.out.includes('model: resnet18 (numClasses 4)'));
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
