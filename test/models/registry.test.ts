// The model registry: create / list, options, metadata, resetClassifier, layer groups.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as models from '../../src/models/index.ts';
import * as nn from '../../src/nn/index.ts';
import { noGrad, randn, type Tensor, tidy } from '../../src/tensor/index.ts';
import { readJson } from './_fixture.ts';

const CNNS = [
  'alexnet',
  'cifar_net',
  'efficientnet_b0',
  'mobilenet_v2',
  'resnet18',
  'resnet34',
  'resnet50',
  'vgg16',
  'vgg16_bn',
];
// small enough to build often; the big ones get the same checks once in parity.test.ts
const SMALL = ['cifar_net', 'resnet18', 'resnet50', 'mobilenet_v2', 'efficientnet_b0'];

describe('registry', () => {
  test('lists every CNN, with filters', () => {
    for (const n of CNNS) assert.ok(models.list().includes(n), n);
    assert.deepEqual(models.list('resnet'), ['resnet18', 'resnet34', 'resnet50']);
    assert.deepEqual(models.list(/^vgg/), ['vgg16', 'vgg16_bn']);
  });

  test('unknown names and options are coded errors with hints', () => {
    assert.throws(() => models.create('resnet19'), {
      code: 'GRAFT_ARGS',
      message: /unknown model 'resnet19'.*resnet18/,
    });
    assert.throws(() => models.create('resnet18', { widthMult: 2 }), {
      code: 'GRAFT_ARGS',
      message: /no option 'widthMult'/,
    });
    assert.throws(() => models.create('resnet18', { dropout: 0.3 }), { code: 'GRAFT_ARGS', message: /no dropout/ });
    assert.throws(() => models.create('resnet18', { numClasses: -1 }), { code: 'GRAFT_ARGS' });
  });

  test('metadata: classifier paths, input size, normalisation', () => {
    const expected: Record<string, string> = {
      resnet18: 'fc',
      resnet50: 'fc',
      alexnet: 'classifier.6',
      vgg16: 'classifier.6',
      vgg16_bn: 'classifier.6',
      mobilenet_v2: 'classifier.1',
      efficientnet_b0: 'classifier.1',
      cifar_net: 'fc3',
    };
    for (const [n, head] of Object.entries(expected)) assert.deepEqual(models.getMeta(n).classifier, [head], n);
    const r = models.getMeta('resnet50');
    assert.deepEqual(r.inputSize, [3, 224, 224]);
    assert.deepEqual(r.mean, [0.485, 0.456, 0.406]);
    assert.deepEqual(r.std, [0.229, 0.224, 0.225]);
    assert.deepEqual(models.getMeta('cifar_net').inputSize, [3, 32, 32]);
  });

  test('numClasses, inChannels and dropout reach the layers', () =>
    tidy(() => {
      const m = models.create('mobilenet_v2', { numClasses: 4, inChannels: 1, dropout: 0.3 });
      assert.deepEqual((m.getSubmodule('features.0.0') as nn.Conv2d).weight.shape, [32, 1, 3, 3]);
      assert.equal((m.getSubmodule('classifier.0') as nn.Dropout).p, 0.3);
      assert.deepEqual(models.metaOf(m)!.inputSize, [1, 224, 224]);
      assert.equal(models.metaOf(m)!.numClasses, 4);
      m.eval();
      assert.deepEqual(noGrad(() => m.call(randn([1, 1, 64, 64]))).shape, [1, 4]);
      const a = models.create('alexnet', { numClasses: 3, dropout: 0.1 });
      assert.equal((a.getSubmodule('classifier.3') as nn.Dropout).p, 0.1);
      assert.equal((a.getSubmodule('classifier.6') as nn.Linear).outFeatures, 3);
      a.dispose();
    }));
});

describe('resetClassifier', () => {
  test('a fresh head of the right width on every model; 0 classes gives features', () =>
    tidy(() => {
      for (const n of SMALL) {
        const m = models.create(n);
        const path = models.getMeta(n).classifier[0]!;
        const old = m.getSubmodule(path) as nn.Linear;
        models.resetClassifier(m, 5);
        const head = m.getSubmodule(path) as nn.Linear;
        assert.notEqual(head, old);
        assert.equal(head.inFeatures, old.inFeatures, n);
        assert.equal(head.outFeatures, 5, n);
        assert.equal(models.metaOf(m)!.numClasses, 5);
        const size = n === 'cifar_net' ? 32 : 64;
        m.eval();
        assert.deepEqual(noGrad(() => m.call(randn([2, 3, size, size]))).shape, [2, 5], n);
        models.resetClassifier(m, 0);
        assert.ok(m.getSubmodule(path) instanceof nn.Identity);
        assert.deepEqual(noGrad(() => m.call(randn([2, 3, size, size]))).shape, [2, old.inFeatures], n);
        m.dispose();
      }
    }));

  test('resnet head: PyTorch default Linear init, keeps the dtype and the key order', () => {
    const m = models.create('resnet18').to('float64');
    models.resetClassifier(m, 4);
    const fc = m.getSubmodule('fc') as nn.Linear;
    assert.equal(fc.weight.dtype, 'float64');
    const bound = 1 / Math.sqrt(512);
    assert.ok(fc.weight.toArray().every((v) => Math.abs(v) <= bound));
    assert.deepEqual([...m.stateDict().keys()].slice(-2), ['fc.weight', 'fc.bias']);
    assert.deepEqual(fc.weight.shape, [4, 512]);
  });

  test('a model built by hand needs metadata', () => {
    assert.throws(() => models.resetClassifier(new nn.Sequential(new nn.Linear(2, 2)), 3), {
      code: 'GRAFT_ARGS',
      message: /no model metadata/,
    });
  });
});

describe('layer groups', () => {
  test('every parameter of every CNN in exactly one group, the classifier in the last', () => {
    // parameter names as PyTorch lists them, from the parity fixtures: no need to build the big models
    for (const n of CNNS) {
      const meta = models.getMeta(n);
      const names = readJson<{ named_parameters: string[] }>(`${n}.json`).named_parameters;
      const count = new Map<number, number>();
      for (const k of names) {
        const hits = meta.groups.filter((g) => models.groupIndex({ ...meta, groups: [g] }, k) === 0);
        assert.equal(hits.length, 1, `${n}: ${k} in [${hits.map((g) => g.name)}]`);
        const i = models.groupIndex(meta, k);
        count.set(i, (count.get(i) ?? 0) + 1);
      }
      for (const [i, g] of meta.groups.entries()) assert.ok(count.get(i), `${n}: group ${g.name} is empty`);
      const last = meta.groups.length - 1;
      assert.equal(meta.groups[last]!.name, 'head');
      const cls = meta.classifier[0]!;
      for (const k of [`${cls}.weight`, `${cls}.bias`]) assert.equal(models.groupIndex(meta, k), last, `${n}: ${k}`);
    }
    assert.deepEqual(
      models.getMeta('resnet18').groups.map((g) => g.name),
      ['stem', 'layer1', 'layer2', 'layer3', 'layer4', 'head'],
    );
  });

  test('layerGroups splits a live model', () => {
    const m = models.create('resnet18');
    const groups = models.layerGroups(m);
    assert.deepEqual(
      groups.map((g) => [g.name, g.parameters.length]),
      [
        ['stem', 3],
        ['layer1', 12],
        ['layer2', 15],
        ['layer3', 15],
        ['layer4', 15],
        ['head', 2],
      ],
    );
    assert.equal(groups[5]!.parameters[0]![1], (m.getSubmodule('fc') as nn.Linear).weight);
  });

  test('vgg groups follow the pooling blocks', () => {
    const g = models.getMeta('vgg16_bn').groups;
    assert.deepEqual(g[0], { name: 'block1', match: ['features.0', 'features.1', 'features.3', 'features.4'] });
    assert.deepEqual(
      g.map((x) => x.name),
      ['block1', 'block2', 'block3', 'block4', 'block5', 'fc', 'head'],
    );
    assert.deepEqual(models.getMeta('vgg16').groups[4]!.match, ['features.24', 'features.26', 'features.28']);
  });
});

describe('other engineers register the same way', () => {
  class Tiny extends nn.Module {
    classifier = this.registerModule('classifier', new nn.Linear(4, 2));
    forward(x: Tensor): Tensor {
      return this.classifier.call(x);
    }
  }
  test('registerModel + create + resetClassifier + groups', () => {
    models.registerModel({
      meta: {
        name: 'test_tiny',
        family: 'test',
        task: 'sequence-classification',
        classifier: ['classifier'],
        groups: [{ name: 'head', match: [/^classifier\./] }],
      },
      create: () => new Tiny(),
    });
    assert.throws(() => models.registerModel({ meta: models.getMeta('test_tiny'), create: () => new Tiny() }), {
      code: 'GRAFT_ARGS',
    });
    const m = models.create('test_tiny', { numClasses: 2 });
    models.resetClassifier(m, 6);
    assert.deepEqual(m.call(randn([1, 4])).shape, [1, 6]);
    assert.equal(models.layerGroups(m)[0]!.parameters.length, 2);
  });
});

describe('StochasticDepth', () => {
  test("'row' mode drops whole rows and rescales the rest; identity in eval", () =>
    tidy(() => {
      const sd = new models.StochasticDepth(0.5, 'row');
      const x = randn([400, 3, 2, 2]).abs().add(1);
      const ratio = sd.call(x).div(x);
      const rows = ratio.flatten(1).tolist() as number[][];
      let dropped = 0;
      for (const r of rows) {
        assert.ok(
          r.every((v) => v === r[0]),
          'one factor per row',
        );
        assert.ok(r[0] === 0 || Math.abs(r[0]! - 2) < 1e-6);
        if (r[0] === 0) dropped++;
      }
      assert.ok(dropped > 140 && dropped < 260, `about half the rows dropped (${dropped})`);
      sd.eval();
      assert.equal(sd.call(x), x);
    }));
});
