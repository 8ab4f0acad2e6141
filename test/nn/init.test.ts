// Initialisers and default layer inits: the same distributions as torch.nn.init / torchvision.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as models from '../../src/models/index.ts';
import * as nn from '../../src/nn/index.ts';
import { empty, manualSeed, type Tensor } from '../../src/tensor/index.ts';

const { init } = nn;

function stats(t: Tensor): { mean: number; std: number; min: number; max: number } {
  const v = t.toArray();
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const x of v) {
    sum += x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const mean = sum / v.length;
  let ss = 0;
  for (const x of v) ss += (x - mean) ** 2;
  return { mean, std: Math.sqrt(ss / v.length), min, max };
}

const near = (a: number, b: number, rel: number, what: string) =>
  assert.ok(Math.abs(a - b) <= rel * Math.abs(b), `${what}: ${a} vs ${b}`);

describe('torch.nn.init', () => {
  manualSeed(0);

  test('gains and fans', () => {
    assert.equal(init.calculateGain('relu'), Math.SQRT2);
    assert.equal(init.calculateGain('tanh'), 5 / 3);
    near(init.calculateGain('leaky_relu', Math.sqrt(5)), Math.sqrt(1 / 3), 1e-12, 'leaky a=sqrt(5)');
    near(init.calculateGain('leaky_relu'), Math.sqrt(2 / 1.0001), 1e-12, 'leaky default slope');
    assert.deepEqual(init.calculateFanInAndFanOut(empty([8, 4, 3, 3])), [36, 72]);
    assert.throws(() => init.calculateFanInAndFanOut(empty([5])), { code: 'GRAFT_ARGS' });
  });

  test('kaiming uniform / normal, xavier', () => {
    const w = empty([256, 128, 3, 3]);
    init.kaimingUniform_(w, { nonlinearity: 'relu' });
    const bound = Math.sqrt(6 / (128 * 9));
    let s = stats(w);
    assert.ok(s.max <= bound && s.min >= -bound);
    near(s.std, bound / Math.sqrt(3), 0.02, 'kaiming uniform std');
    init.kaimingNormal_(w, { mode: 'fan_out', nonlinearity: 'relu' });
    near(stats(w).std, Math.sqrt(2 / (256 * 9)), 0.02, 'kaiming normal fan_out std');
    const l = empty([300, 500]);
    init.xavierUniform_(l);
    s = stats(l);
    assert.ok(s.max <= Math.sqrt(6 / 800));
    near(s.std, Math.sqrt(2 / 800), 0.02, 'xavier uniform std');
    init.xavierNormal_(l, 2);
    near(stats(l).std, 2 * Math.sqrt(2 / 800), 0.02, 'xavier normal std');
  });

  test('trunc_normal_ stays in [a, b] with the truncated std', () => {
    const t = init.truncNormal_(empty([200000]), 0, 1, -1, 1);
    const s = stats(t);
    assert.ok(s.min >= -1 && s.max <= 1);
    // std of N(0, 1) truncated to [-1, 1]
    near(s.std, 0.5376, 0.02, 'truncated std');
    const small = init.truncNormal_(empty([100000]), 0, 0.02);
    near(stats(small).std, 0.02, 0.02, 'std 0.02 barely truncated at +-2');
  });

  test('constant, zeros, ones, normal', () => {
    assert.deepEqual(init.constant_(empty([3]), 0.5).toArray(), [0.5, 0.5, 0.5]);
    assert.deepEqual(init.zeros_(empty([2])).toArray(), [0, 0]);
    assert.deepEqual(init.ones_(empty([2])).toArray(), [1, 1]);
    const s = stats(init.normal_(empty([100000]), 3, 0.5));
    near(s.mean, 3, 0.01, 'normal mean');
    near(s.std, 0.5, 0.02, 'normal std');
  });
});

describe('default layer init as PyTorch', () => {
  test('Linear and Conv2d: kaiming_uniform(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias', () => {
    for (const m of [new nn.Linear(400, 300), new nn.Conv2d(64, 128, 3, { groups: 4 })]) {
      const fanIn = m instanceof nn.Linear ? 400 : 16 * 9;
      const bound = 1 / Math.sqrt(fanIn);
      const w = stats(m.weight);
      assert.ok(w.max <= bound && w.min >= -bound, 'weight within bound');
      near(w.std, bound / Math.sqrt(3), 0.03, 'weight std');
      const b = stats(m.bias!);
      assert.ok(b.max <= bound && b.min >= -bound, 'bias within bound');
      assert.ok(b.max > bound * 0.8, 'bias uses the whole range');
    }
  });

  test('norm layers start at ones / zeros, Embedding at N(0, 1)', () => {
    for (const m of [new nn.BatchNorm2d(4), new nn.LayerNorm(4), new nn.GroupNorm(2, 4)]) {
      assert.deepEqual(m.weight!.toArray(), [1, 1, 1, 1]);
      assert.deepEqual(m.bias!.toArray(), [0, 0, 0, 0]);
    }
    const e = stats(new nn.Embedding(1000, 100).weight);
    near(e.std, 1, 0.02, 'embedding std');
  });
});

describe('torchvision per-model init', () => {
  test('resnet: kaiming_normal fan_out convs, BN 1 / 0, zero_init_residual', () => {
    const m = models.create('resnet18', { zeroInitResidual: true }) as models.ResNet;
    near(stats(m.layer3.at<models.BasicBlock>(0).conv2.weight).std, Math.sqrt(2 / (256 * 9)), 0.03, 'conv std');
    const b = m.layer1.at<models.BasicBlock>(0);
    assert.ok(b.bn2.weight!.toArray().every((v) => v === 0));
    assert.ok(b.bn1.weight!.toArray().every((v) => v === 1));
    const plain = models.create('resnet18') as models.ResNet;
    assert.ok(
      plain.layer1
        .at<models.BasicBlock>(0)
        .bn2.weight!.toArray()
        .every((v) => v === 1),
    );
  });

  test('mobilenet_v2 / vgg: classifier N(0, 0.01), zero bias; efficientnet: U(+-1/sqrt(out))', () => {
    const mb = models.create('mobilenet_v2').getSubmodule('classifier.1') as nn.Linear;
    near(stats(mb.weight).std, 0.01, 0.03, 'mobilenet head std');
    assert.ok(mb.bias!.toArray().every((v) => v === 0));
    const ef = models.create('efficientnet_b0').getSubmodule('classifier.1') as nn.Linear;
    const r = 1 / Math.sqrt(1000);
    const s = stats(ef.weight);
    assert.ok(s.max <= r && s.min >= -r);
    near(s.std, r / Math.sqrt(3), 0.03, 'efficientnet head std');
    const conv = models.create('mobilenet_v2').getSubmodule('features.1.conv.0.0') as nn.Conv2d;
    // depthwise 3x3 over 32 channels: torch's fan_out is size(0) * receptive field = 32 * 9
    near(stats(conv.weight).std, Math.sqrt(2 / (32 * 9)), 0.1, 'depthwise conv std');
  });
});
