// The recipes for the first four techniques build and train a few steps on tiny data, and do what
// the technique does: which parameters train in each phase, every group's lr at every epoch, what
// the load took. (The CIFAR net and BERT recipes: seeds_004.test.ts.)
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type RawTensor, rawTensor, readPth } from '../../src/io/index.ts';
import { tensorToRaw } from '../../src/io/tensors.ts';
import * as models from '../../src/models/index.ts';
import {
  AdaptiveConcatPool2d,
  BatchNorm1d,
  Dropout,
  Flatten,
  Linear,
  ReLU,
  type Sequential,
} from '../../src/nn/index.ts';
import { rebuildFromConfig } from '../../src/recipe/index.ts';
import { manualSeed, noGrad, randn, type Tensor } from '../../src/tensor/index.ts';
import { loadModel } from '../../src/train/index.ts';
import { imageFolder, quick, ROOT, recipe, savePth, saveSafetensors, stateDictRaw, withTmp } from './_helpers.ts';

import { lrsClose, probeRun, raw, same } from './_probe.ts';

test('seed 000: pretrained layers at lr x 1e-4, new at lr; at epoch K both to lr x 0.1, then MultiStepLR(0.5)', async () => {
  await withTmp(async (dir) => {
    const { epochs, pieces } = await probeRun(
      recipe('000_pretrained_vs_new_layers.yaml'),
      [...quick(2), 'phases[1].epochs=3', 'phases[1].scheduler.milestones=[1, 2]'],
      dir,
      {
        after(p) {
          // the exported model rebuilds with the offline weights' Keras conventions: same outputs
          const { model } = loadModel(dir, { build: rebuildFromConfig });
          manualSeed(1);
          const x = randn([2, 3, 32, 32]);
          p.model.eval();
          const [a, b] = noGrad(() => [p.model.call(x) as Tensor, model.call(x) as Tensor]);
          assert.deepEqual(b.toArray(), a.toArray());
          model.dispose();
        },
      },
    );
    assert.deepEqual(epochs[0]!.groups, ['pretrained', 'new']);
    const r = pieces.loadReport!;
    assert.deepEqual(r.missing, ['classifier.1.weight', 'classifier.1.bias']);
    assert.equal(r.loaded.length, 260);
    lrsClose(epochs[0]!.lrs, [1e-7, 1e-3], 'phase 0');
    lrsClose(epochs[1]!.lrs, [1e-4, 1e-4], 'equalised at lr x 0.1');
    lrsClose(epochs[2]!.lrs, [5e-5, 5e-5], 'MultiStepLR milestone 1');
    lrsClose(epochs[3]!.lrs, [2.5e-5, 2.5e-5], 'MultiStepLR milestone 2');
    assert.ok(existsSync(join(dir, 'model.safetensors')));
  });
});

test('seed 001: backbone from a classifier.-prefixed checkpoint, head at 10x lr, SGD wd 1e-3, StepLR', async () => {
  await withTmp(async (dir) => {
    const data = await imageFolder(join(dir, 'hotdog'), ['hotdog', 'not-hotdog']);
    manualSeed(11);
    const ssl = models.create('resnet18');
    const proj = rawTensor('float32', [8, 512]);
    const ckpt = savePth(join(dir, 'ssl.pth'), ssl, 'classifier.', new Map([['projector.weight', proj]]));
    const conv1 = raw(stateDictRaw(ssl).get('conv1.weight')!);
    ssl.dispose();
    const { epochs, pieces } = await probeRun(
      recipe('001_backbone_head_10x.yaml'),
      [
        ...quick(1),
        'phases[0].epochs=3',
        `data.root=${data}`,
        `model.pretrained.checkpoint=${ckpt}`,
        'data.transforms={train: [{randomResizedCrop: 32}, randomHorizontalFlip, {normalize: model}], eval: [{resize: 36}, {centerCrop: 32}, {normalize: model}]}',
      ],
      join(dir, 'run'),
      {
        before(p) {
          const r = p.loadReport!;
          const by = (rule: RegExp) =>
            r.excluded
              .filter((x) => rule.test(x.by))
              .map((x) => x.key)
              .sort();
          assert.deepEqual(by(/^exclude/), ['fc.bias', 'fc.weight'], 'backbone only');
          assert.deepEqual(by(/fromPrefix/), ['projector.weight'], 'only keys under classifier.');
          assert.equal(r.loaded.length, r.counts.model - 2);
          assert.equal(r.unexpected.length, 0, 'keys outside classifier. are not taken');
          assert.equal(r.subDict.path, 'model');
          assert.ok(same(raw(tensorToRaw(p.model.getParameter('conv1.weight')!)), conv1), 'conv1 from the checkpoint');
        },
      },
    );
    assert.deepEqual(epochs[0]!.groups, ['backbone', 'head'], 'weight decay on biases and BatchNorm too');
    lrsClose(epochs[0]!.lrs, [5e-5, 5e-4], 'head 10x');
    lrsClose(epochs[1]!.lrs, [5e-5, 5e-4], 'StepLR step_size 2');
    lrsClose(epochs[2]!.lrs, [5e-6, 5e-5], 'both groups stepped together');
    const opt = pieces.runner.optimizer;
    assert.equal(opt.paramGroups[0]!.weight_decay, 1e-3);
    assert.equal(opt.paramGroups[1]!.weight_decay, 1e-3);
    assert.equal(epochs[0]!.trainable.length, [...pieces.model.namedParameters()].length, 'everything fine-tunes');
  });
});

test('seed 002: resnet18 1000 -> 4 classes, all but fc frozen, module. stripped; BN statistics fixed', async () => {
  await withTmp(async (dir) => {
    const data = await imageFolder(join(dir, 'four'), ['a', 'b', 'c', 'd'], { train: 2, val: 1 });
    const ckpt = join(ROOT, 'test', 'fixtures', 'io', 'plan', 'resnet18_dp.pth');
    const sd = readPth(ckpt) as Map<string, unknown>;
    const state = sd.get('state_dict') as Map<string, RawTensor>;
    const { epochs } = await probeRun(
      recipe('002_resnet18_fc_only.yaml'),
      [...quick(1), `data.root=${data}`, `model.pretrained.checkpoint=${ckpt}`, 'data.imageSize=32'],
      join(dir, 'run'),
      {
        after(p) {
          const r = p.loadReport!;
          assert.deepEqual(
            r.skippedShape.map((x) => x.key),
            ['fc.weight', 'fc.bias'],
          );
          assert.equal(r.loaded.length, 120);
          assert.ok(r.renamed.every((x) => x.from === `module.${x.to}`));
          const now = (k: string) => raw(tensorToRaw(p.model.stateDict().get(k)!));
          for (const k of ['conv1.weight', 'layer4.1.conv2.weight', 'layer1.0.bn1.running_mean', 'layer1.0.bn1.weight'])
            assert.ok(same(now(k), raw(state.get(`module.${k}`)!)), `${k} untouched`);
          assert.equal(p.model.getParameter('fc.weight')!.shape.join(','), '4,512');
        },
      },
    );
    assert.deepEqual(epochs[0]!.trainable, ['fc.weight', 'fc.bias']);
    // SGD(pg, weight_decay=4e-5) decays the bias too: one group, no '.no_decay' split
    assert.deepEqual(epochs[0]!.groups, ['default']);
  });
});

test('seed 002: resnet50 with AdaptiveConcatPool2d + BN/Dropout/Linear head, module. stripped, backbone frozen', async () => {
  await withTmp(async (dir) => {
    const data = await imageFolder(join(dir, 'two'), ['cat', 'dog']);
    manualSeed(5);
    const src = models.create('resnet50');
    const keep = (k: string) => k.startsWith('conv1.') || k.startsWith('bn1.') || k.startsWith('fc.');
    const ckpt = saveSafetensors(join(dir, 'r50.safetensors'), stateDictRaw(src, 'module.', keep));
    const conv1 = raw(stateDictRaw(src).get('conv1.weight')!);
    src.dispose();
    const { epochs, steps } = await probeRun(
      recipe('002_resnet50_concat_head.yaml'),
      [...quick(1), `data.root=${data}`, `model.pretrained.checkpoint=${ckpt}`, 'data.imageSize=32'],
      join(dir, 'run'),
      {
        after(p) {
          const m = p.model;
          assert.ok(m.getSubmodule('avgpool') instanceof AdaptiveConcatPool2d);
          const fc = m.getSubmodule('fc') as Sequential;
          assert.deepEqual(
            [...fc].map((x) => x.constructor),
            [Flatten, BatchNorm1d, Dropout, Linear, ReLU, BatchNorm1d, Linear],
          );
          assert.equal((fc.at(1) as BatchNorm1d).numFeatures, 4096);
          assert.equal((fc.at(3) as Linear).inFeatures, 4096);
          assert.equal((fc.at(6) as Linear).outFeatures, 2);
          const r = p.loadReport!;
          assert.deepEqual(r.excluded.map((x) => x.key).sort(), ['fc.bias', 'fc.weight']);
          assert.ok(r.loaded.includes('conv1.weight') && r.loaded.includes('bn1.running_var'));
          assert.ok(same(raw(tensorToRaw(m.getParameter('conv1.weight')!)), conv1), 'loaded and frozen');
        },
      },
    );
    assert.ok(steps >= 2);
    assert.ok(epochs[0]!.trainable.length > 0 && epochs[0]!.trainable.every((n) => n.startsWith('fc.')));
    assert.equal(epochs[0]!.trainable.length, 8, 'two BatchNorm1d and two Linear, weight and bias each');
  });
});

test('seed 003: epoch 0 classifier only, then all with features at lr x 0.1; ReduceLROnPlateau on accuracy', async () => {
  await withTmp(async (dir) => {
    const { epochs, pieces } = await probeRun(
      recipe('003_head_then_all.yaml'),
      [...quick(2), 'phases[1].epochs=2', 'scheduler.patience=0', 'scheduler.threshold=10'],
      dir,
    );
    const all = [...pieces.model.namedParameters()].map(([n]) => n);
    assert.deepEqual(epochs[0]!.trainable, ['classifier.1.weight', 'classifier.1.bias']);
    assert.deepEqual(epochs[1]!.trainable, all);
    assert.deepEqual(epochs[0]!.groups, ['features', 'classifier']);
    assert.equal(epochs[0]!.optimizer, 'Adam');
    lrsClose(epochs[0]!.lrs, [1e-4, 1e-3], 'features at lr x 0.1');
    // threshold 10 in mode max: after the first epoch (which sets the best) no epoch is better, so
    // with patience 0 the second epoch's end cuts every group by 0.7
    lrsClose(epochs[1]!.lrs, [1e-4, 1e-3], 'the first epoch sets the best');
    lrsClose(epochs[2]!.lrs, [1e-4 * 0.7, 1e-3 * 0.7], 'plateau on val_accuracy');
  });
});

test('seed 003: the optimizer choice (RMSprop alpha 0.9, SGD momentum) and the Adam -> SGD switch', async () => {
  await withTmp(async (dir) => {
    const rms = await probeRun(recipe('003_rmsprop.yaml'), quick(2), join(dir, 'rms'), {
      before(p) {
        assert.equal(p.runner.optimizer.paramGroups[0]!.alpha, 0.9);
      },
    });
    assert.deepEqual(
      rms.epochs.map((e) => e.optimizer),
      ['RMSprop', 'RMSprop'],
    );
    const sgd = await probeRun(recipe('003_momentum.yaml'), quick(2), join(dir, 'sgd'), {
      before(p) {
        assert.equal(p.runner.optimizer.paramGroups[0]!.momentum, 0.9);
        // torch.optim's weight decay: every parameter of both groups, biases and BatchNorm included
        assert.deepEqual(
          p.runner.optimizer.paramGroups.map((g) => [g.name, g.weight_decay]),
          [
            ['features', 1e-4],
            ['classifier', 1e-4],
          ],
        );
      },
    });
    assert.equal(sgd.epochs[0]!.optimizer, 'SGD');
    const sw = await probeRun(recipe('003_adam_then_sgd.yaml'), quick(3), join(dir, 'switch'));
    assert.deepEqual(
      sw.epochs.map((e) => e.optimizer),
      ['Adam', 'Adam', 'SGD'],
    );
    // the switch keeps every group's lr: no x10 the technique does not have
    lrsClose(sw.epochs[2]!.lrs, sw.epochs[1]!.lrs, 'SGD starts at the lrs Adam had');
    assert.deepEqual(sw.epochs[2]!.trainable.length, sw.epochs[1]!.trainable.length);
  });
});
