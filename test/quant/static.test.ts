// Post-training static int8 (fuse, observe, calibrate, convert) against torch.ao.quantization on the
// same seeded weights and calibration data (fixtures: static.json).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CifarNet, resnet18 } from '../../src/models/index.ts';
import { BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, type Module, ReLU, Sequential } from '../../src/nn/index.ts';
import * as quant from '../../src/quant/index.ts';
import { manualSeed, noGrad, randn, type Tensor } from '../../src/tensor/index.ts';
import { assertExact, fill, nums, readFixture } from './_fixtures.ts';

const fx = readFixture('static.json');
const PRESETS: Record<string, quant.PrepareOptions> = {
  fbgemm: { backend: 'fbgemm', activation: 'minmax' },
  qnnpack: { backend: 'qnnpack', activation: 'minmax' },
  fbgemm_histogram: { backend: 'fbgemm', activation: 'histogram' },
};

function data(seed: number, batches: number): { calib: Tensor[]; x: Tensor } {
  manualSeed(seed + 1);
  const calib = Array.from({ length: batches }, () => randn([2, 3, 32, 32]));
  return { calib, x: randn([2, 3, 32, 32]) };
}

function checkLayers(q: Module, want: Record<string, any>): void {
  for (const [name, w] of Object.entries(want)) {
    const m = q.getSubmodule(name) as Module & {
      scale: Tensor;
      zeroPoint: Tensor;
      weight?: Tensor;
      weightScale?: Tensor;
    };
    assert.equal(m.scale.item(), Math.fround(w.scale), `${name}: output scale`);
    assert.equal(m.zeroPoint.item(), w.zero_point, `${name}: output zero point`);
    if (w.weight_scale !== undefined) {
      const ws = nums(m.weightScale!);
      assert.deepEqual(ws, Array.isArray(w.weight_scale) ? w.weight_scale : [w.weight_scale], `${name}: weight scales`);
    }
    if (w.weight) assert.deepEqual(nums(m.weight!), w.weight, `${name}: int8 weight`);
  }
}

describe('static int8: CIFAR CNN', () => {
  for (const preset of ['fbgemm', 'qnnpack', 'fbgemm_histogram']) {
    test(`${preset}: qparams, int8 weights and outputs equal torch's`, () => {
      const want = fx.cifar[preset];
      const net = new CifarNet();
      fill(net, 21);
      net.eval();
      const { calib, x } = data(21, 3);
      noGrad(() => assertExact(net.call(x), want.float_y, 'float output'));
      const q = quant.quantizeStatic(net, calib, PRESETS[preset]);
      checkLayers(q, want.layers);
      noGrad(() => assertExact(q.call(x) as Tensor, want.y, 'int8 output'));
      // the float model is untouched
      noGrad(() => assertExact(net.call(x), want.float_y, 'float output after quantizing'));
    });
  }
});

describe('static int8: ResNet-18 (quantized residual add)', () => {
  test('conv + BatchNorm folding is checked on the fbgemm case', () =>
    assert.equal(Object.keys(fx.resnet18.fbgemm.fused).length, 2));
  for (const preset of ['fbgemm', 'qnnpack']) {
    test(`${preset}: fused weights, qparams and outputs equal torch's`, () => {
      const want = fx.resnet18[preset];
      const net = resnet18({ numClasses: 10 });
      fill(net, 31);
      net.eval();
      const { calib, x } = data(31, 2);
      const keys = [...net.stateDict().keys()];
      const prepared = quant.prepare(net, PRESETS[preset]);
      const sd = prepared.stateDict();
      for (const [k, v] of Object.entries(want.fused as Record<string, any>)) assertExact(sd.get(k)!, v, `fused ${k}`);
      assert.equal(quant.calibrate(prepared, calib), 2);
      const q = quant.convert(prepared);
      checkLayers(q, want.layers);
      noGrad(() => assertExact(q.call(x) as Tensor, want.y, 'int8 output'));
      // the float model keeps its layers, keys and outputs (no observers or hooks left on shared layers)
      assert.deepEqual([...net.stateDict().keys()], keys);
      noGrad(() => assertExact(net.call(x), want.float_y, 'float output after quantizing'));
    });
  }
});

describe('static int8: a Sequential conv net (QuantWrapper)', () => {
  test('conv+bn+relu, conv+relu and linear+relu runs fused; outputs equal torch QuantWrapper', () => {
    const net = new Sequential(
      new Conv2d(3, 8, 3, { padding: 1 }),
      new BatchNorm2d(8),
      new ReLU(),
      new MaxPool2d(2),
      new Conv2d(8, 8, 3, { stride: 2 }),
      new ReLU(),
      new Flatten(),
      new Linear(8 * 3 * 3, 16),
      new ReLU(),
      new Linear(16, 4),
    );
    fill(net, 41);
    net.eval();
    manualSeed(42);
    const calib = [randn([2, 3, 16, 16]), randn([2, 3, 16, 16])];
    const x = randn([2, 3, 16, 16]);
    const q = quant.quantizeStatic(net, calib, PRESETS.fbgemm);
    assert.ok(q instanceof quant.QuantWrapper);
    assert.ok(q.getSubmodule('module.0') instanceof quant.QuantizedConv2d);
    assert.ok(q.getSubmodule('module.7') instanceof quant.QuantizedLinear);
    noGrad(() => assertExact(q.call(x) as Tensor, fx.sequential.y, 'int8 output'));
    assert.ok(net.at(1) instanceof BatchNorm2d, 'the float Sequential keeps its layers');
  });
});

describe('static int8: refusals', () => {
  test('models without a quantizable form, convert before prepare', () => {
    assert.throws(() => quant.prepare(new quant.QFunctional({ scale: 1, zeroPoint: 0 })), /no quantizable form/);
    assert.throws(() => quant.convert(new CifarNet()), /needs a model from prepare/);
    assert.throws(() => quant.calibrate(quant.prepare(new CifarNet().eval()), []), /no batches/);
  });
});
