// Quantization-aware training (prepare_qat, fake-quantized training steps, freeze_bn_stats,
// disable_observer, convert) against torch.ao.quantization on the same seeded weights and batches
// (fixtures: qat.json from scripts/fixtures/qat_fixtures.py).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CifarNet, resnet18 } from '../../src/models/index.ts';
import { BatchNorm2d, Conv2d, type Module, ReLU, Sequential } from '../../src/nn/index.ts';
import { SGD } from '../../src/optim/index.ts';
import * as quant from '../../src/quant/index.ts';
import { crossEntropy, manualSeed, noGrad, randn, setNumThreads, type Tensor, tensor } from '../../src/tensor/index.ts';
import { assertExact, fill, nums, readFixture } from './_fixtures.ts';

const fx = readFixture('qat.json');
// the fixtures ran on one thread: a conv's weight gradient sums in another order on more
setNumThreads(1);

interface Case {
  keys: string[];
  losses: number[];
  trained: Record<string, { shape: number[]; head: number[]; sum: number }>;
  fake_quant: Record<string, { scale: number[]; zero_point: number[]; min_val: number[]; max_val: number[] }>;
  fake_y: { shape: number[]; data: number[] };
  layers: Record<string, { scale: number; zero_point: number; weight_scale?: number | number[] }>;
  y: { shape: number[]; data: number[] };
}

function runQat(
  model: Module,
  want: Case,
  o: { seed: number; shape: number[]; targets: number[]; steps: number; backend: quant.Backend; freezeBnAt?: number },
): void {
  fill(model, o.seed);
  const form = quant.prepareQat(model, { backend: o.backend });
  assert.deepEqual([...form.stateDict().keys()], want.keys, 'state-dict keys as torch QAT');
  manualSeed(o.seed + 1);
  const batches = Array.from({ length: o.steps }, () => randn(o.shape));
  const x = randn(o.shape);
  const y = tensor(o.targets, { dtype: 'int64' });
  const opt = new SGD(form.parameters(), { lr: 0.05, momentum: 0.9 });
  const losses: number[] = [];
  batches.forEach((b, i) => {
    if (i === o.freezeBnAt) quant.freezeBnStats(form);
    opt.zeroGrad();
    const loss = crossEntropy(form.call(b) as Tensor, y);
    loss.backward();
    opt.step();
    losses.push(loss.item());
  });
  assert.deepEqual(losses, want.losses.map(Math.fround), 'training losses');
  const sd = form.stateDict();
  for (const [k, w] of Object.entries(want.trained)) {
    const t = sd.get(k)!;
    assert.deepEqual(t.shape, w.shape, `${k}: shape`);
    assert.deepEqual(nums(t.flatten().slice(0, 0, 16)), w.head.map(Math.fround), `${k}: values`);
  }
  for (const [name, w] of Object.entries(want.fake_quant)) {
    const fq = form.getSubmodule(name) as quant.FusedMovingAvgObsFakeQuantize;
    assert.deepEqual(nums(fq.scale), w.scale.map(Math.fround), `${name}: scale`);
    assert.deepEqual(nums(fq.zeroPoint), w.zero_point, `${name}: zero point`);
    const obs = fq.activationPostProcess;
    assert.deepEqual(nums(obs.minVal), w.min_val.map(Math.fround), `${name}: running min`);
    assert.deepEqual(nums(obs.maxVal), w.max_val.map(Math.fround), `${name}: running max`);
  }
  quant.enableObserver(form, false);
  form.eval();
  noGrad(() => assertExact(form.call(x) as Tensor, want.fake_y, 'fake-quantized eval output'));
  const q = quant.convert(form);
  for (const [name, w] of Object.entries(want.layers)) {
    const m = q.getSubmodule(name) as Module & { scale: Tensor; zeroPoint: Tensor; weightScale?: Tensor };
    assert.equal(m.scale.item(), Math.fround(w.scale), `${name}: output scale`);
    assert.equal(m.zeroPoint.item(), w.zero_point, `${name}: output zero point`);
    if (w.weight_scale !== undefined)
      assert.deepEqual(
        nums(m.weightScale!),
        Array.isArray(w.weight_scale) ? w.weight_scale : [w.weight_scale],
        `${name}: weight scales`,
      );
  }
  noGrad(() => assertExact(q.call(x) as Tensor, want.y, 'int8 output'));
}

describe('quantization-aware training: CIFAR CNN (conv+relu, linear+relu)', () => {
  for (const backend of ['fbgemm', 'qnnpack'] as const)
    test(`${backend}: losses, fake-quant state and int8 outputs equal torch's`, () =>
      runQat(new CifarNet(), fx.cifar[backend], {
        seed: 51,
        shape: [4, 3, 32, 32],
        targets: [0, 3, 7, 9],
        steps: 3,
        backend,
      }));
});

describe('quantization-aware training: ResNet-18 (conv + BatchNorm folded per step, residual adds)', () => {
  test("fbgemm, BatchNorm frozen for the last step: equal torch's", () =>
    runQat(resnet18({ numClasses: 10 }), fx.resnet18, {
      seed: 61,
      shape: [2, 3, 32, 32],
      targets: [1, 8],
      steps: 3,
      backend: 'fbgemm',
      freezeBnAt: 2,
    }));
});

describe('quantization-aware training: behaviour', () => {
  test('the float model shares the trained parameters; its layers stay float', () => {
    const net = new Sequential(new Conv2d(3, 4, 3), new BatchNorm2d(4), new ReLU());
    const form = quant.prepareQat(net, { backend: 'qnnpack' });
    const conv = net.at<Conv2d>(0);
    assert.ok(form.parameters().includes(conv.weight), 'the QAT conv trains the float conv weight');
    assert.ok(net.at(1) instanceof BatchNorm2d && net.at(0) instanceof Conv2d, 'float layers kept');
    assert.ok(form.getSubmodule('module.0') instanceof quant.QatConvBn2d);
  });
  test('fake quantization off: the QAT forward is the float forward', () => {
    const net = new CifarNet();
    fill(net, 7);
    manualSeed(8);
    const x = randn([2, 3, 32, 32]);
    const want = noGrad(() => net.call(x));
    const form = quant.prepareQat(net);
    quant.enableFakeQuant(form, false);
    const got = noGrad(() => form.call(x) as Tensor);
    assert.deepEqual(Array.from(got.data() as Float32Array), Array.from(want.data() as Float32Array));
  });
  test('an unfused BatchNorm and convert without prepare are refused', () => {
    const bnFirst = new Sequential(new BatchNorm2d(3), new Conv2d(3, 4, 3));
    assert.throws(() => quant.prepareQat(bnFirst), /does not follow a conv/);
    assert.throws(() => quant.convertQat(new CifarNet()), /needs a model from prepareQat/);
  });
});
