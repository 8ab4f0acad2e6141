// Quantized models save and load graft <-> graft (safetensors with the quantization in metadata).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CifarNet } from '../../src/models/index.ts';
import { Linear, ReLU, Sequential } from '../../src/nn/index.ts';
import * as quant from '../../src/quant/index.ts';
import { manualSeed, noGrad, randn, type Tensor } from '../../src/tensor/index.ts';
import { assertExact, fill, readFixture } from './_fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'graft-quant-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const stat = readFixture('static.json');
const dyn = readFixture('dynamic.json');

describe('saveQuantized / loadQuantized', () => {
  test('dynamic: the reloaded model gives the same outputs as torch; sizes shrink', () => {
    const make = () => new Sequential(new Linear(8, 16), new ReLU(), new Linear(16, 4)).eval();
    const m = make();
    fill(m, 11);
    const floatBytes = quant.stateDictBytes(m).total;
    quant.quantizeDynamic(m, { perChannel: true });
    assert.deepEqual(quant.specOf(m), { mode: 'dynamic', perChannel: true });
    const file = join(dir, 'mlp.int8.safetensors');
    quant.saveQuantized(file, m);
    assert.deepEqual(quant.readSpec(file), { mode: 'dynamic', perChannel: true });
    const back = quant.loadQuantized(file, make());
    manualSeed(12);
    const x = randn([3, 8]).mul(2);
    noGrad(() => assertExact(back.call(x) as Tensor, dyn.per_channel.y2, 'reloaded dynamic'));
    const qBytes = quant.stateDictBytes(back);
    assert.ok(qBytes.byDtype.int8 === 8 * 16 + 16 * 4, 'int8 weights');
    assert.ok(qBytes.total < floatBytes, `${qBytes.total} < ${floatBytes}`);
  });

  test('static: a calibrated CIFAR CNN reloads without calibration and matches torch', () => {
    const net = new CifarNet();
    fill(net, 21);
    net.eval();
    manualSeed(22);
    const calib = Array.from({ length: 3 }, () => randn([2, 3, 32, 32]));
    const x = randn([2, 3, 32, 32]);
    const q = quant.quantizeStatic(net, calib, { backend: 'fbgemm', activation: 'minmax' });
    const file = join(dir, 'cifar.int8.safetensors');
    quant.saveQuantized(file, q);
    const back = quant.loadQuantized(file, new CifarNet());
    noGrad(() => assertExact(back.call(x) as Tensor, stat.cifar.fbgemm.y, 'reloaded static'));
    assert.deepEqual([...back.stateDict().keys()], [...q.stateDict().keys()]);
  });

  test('a float file or a missing file is refused with a reason', () => {
    assert.throws(() => quant.loadQuantized(join(dir, 'nope.safetensors'), new CifarNet()), /no such file/);
    assert.throws(() => quant.saveQuantized(join(dir, 'x.safetensors'), new CifarNet()), /needs a model from/);
  });
});
