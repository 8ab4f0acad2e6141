// Conv + BatchNorm folding for inference: foldConvBn finds the pairs by tracing one forward, folds
// them (torch's fuse_conv_bn_eval math, shared with quantization's fusion) and the model's outputs
// stay those of the unfolded model; a conv whose output is used elsewhere too is left alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as models from '../../src/models/index.ts';
import * as nn from '../../src/nn/index.ts';
import { foldConvBn } from '../../src/nn/index.ts';
import { manualSeed, noGrad, rand, randn, type Tensor } from '../../src/tensor/index.ts';

/** Running statistics and affine parameters away from their identity initialisation. */
function randomiseBatchNorms(model: nn.Module): void {
  noGrad(() => {
    for (const m of model.modules())
      if (m instanceof nn.BatchNorm2d) {
        m.runningMean!.copy_(randn(m.runningMean!.shape).mul(0.1));
        m.runningVar!.copy_(rand(m.runningVar!.shape).add(0.5));
        m.weight!.copy_(rand(m.weight!.shape).add(0.5));
        m.bias!.copy_(randn(m.bias!.shape).mul(0.1));
      }
  });
}

const maxDiff = (a: Tensor, b: Tensor) => a.sub(b).abs().max().item() as number;

test('foldConvBn: every ResNet-18 conv + BatchNorm pair folds, outputs unchanged within float rounding', () => {
  manualSeed(0);
  const model = models.create('resnet18', { numClasses: 10 }) as models.ResNet;
  randomiseBatchNorms(model);
  model.eval();
  const x = randn([2, 3, 32, 32]);
  const before = noGrad(() => model.call(x) as Tensor);
  const pairs = foldConvBn(model, x);
  // the stem, two per basic block (8 blocks) and three downsample branches
  assert.equal(pairs.length, 20);
  assert.deepEqual(pairs[0], { conv: 'conv1', bn: 'bn1' });
  assert.ok(pairs.some((p) => p.conv === 'layer2.0.downsample.0' && p.bn === 'layer2.0.downsample.1'));
  assert.ok(model.bn1 instanceof nn.Identity, 'the field the forward reads holds the Identity too');
  assert.ok(model.conv1.bias, 'the stem conv (bias=False) gained the folded bias');
  assert.ok(![...model.modules()].some((m) => m instanceof nn.BatchNorm2d));
  const after = noGrad(() => model.call(x) as Tensor);
  assert.ok(maxDiff(after, before) < 1e-4, `max difference ${maxDiff(after, before)}`);
});

class Shared extends nn.Module {
  conv = this.registerModule('conv', new nn.Conv2d(3, 4, 3, { padding: 1 }));
  bn = this.registerModule('bn', new nn.BatchNorm2d(4));
  forward(x: Tensor): Tensor {
    const c = this.conv.call(x);
    return this.bn.call(c).add(c); // the conv output is used twice: folding would change the sum
  }
}

test('foldConvBn leaves a conv whose output is used elsewhere too, and needs eval mode', () => {
  manualSeed(1);
  const m = new Shared();
  randomiseBatchNorms(m);
  assert.throws(() => foldConvBn(m, randn([1, 3, 8, 8])), /eval mode/);
  m.eval();
  const x = randn([1, 3, 8, 8]);
  const before = noGrad(() => m.call(x));
  assert.deepEqual(foldConvBn(m, x), []);
  assert.ok(m.bn instanceof nn.BatchNorm2d);
  assert.equal(
    maxDiff(
      noGrad(() => m.call(x)),
      before,
    ),
    0,
  );
});

test('a Sequential conv + BatchNorm + ReLU6 (MobileNetV2 style) folds to conv + Identity + ReLU6', () => {
  manualSeed(2);
  const seq = new nn.Sequential(new nn.Conv2d(3, 6, 3, { bias: false }), new nn.BatchNorm2d(6), new nn.ReLU6());
  randomiseBatchNorms(seq);
  seq.eval();
  const x = randn([2, 3, 9, 9]);
  const before = noGrad(() => seq.call(x) as Tensor);
  assert.deepEqual(foldConvBn(seq, x), [{ conv: '0', bn: '1' }]);
  assert.ok(seq.at(1) instanceof nn.Identity);
  assert.ok(
    maxDiff(
      noGrad(() => seq.call(x) as Tensor),
      before,
    ) < 1e-5,
  );
});
