// Quantized models as PyTorch .pth, both ways, against torch 1.13 (scripts/fixtures/quant_pth_fixtures.py):
// torch.save(qmodel.state_dict()) loads into graft's quantized modules with torch's int8 outputs, and
// the files graft writes are the ones torch.load + load_state_dict(strict) was checked to accept.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  isQuantizedRaw,
  openCheckpoint,
  PyOrderedDict,
  type PyValue,
  type RawTensor,
  readPth,
  writePth,
} from '../../src/io/index.ts';
import { rawToTensor } from '../../src/io/tensors.ts';
import * as quant from '../../src/quant/index.ts';
import { noGrad, type Tensor } from '../../src/tensor/index.ts';
import { FIX } from './_fixtures.ts';
import { DYNAMIC, floatModel, GRAFT_NAMES, graftQuantized, NAMES } from './_pth_models.ts';

const PTH = join(FIX, 'pth');
const dir = mkdtempSync(join(tmpdir(), 'graft-qpth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function io(file: string): { x: Tensor; y: Tensor } {
  const d = readPth(join(PTH, file)) as Map<string, RawTensor>;
  return { x: rawToTensor(d.get('x')!), y: rawToTensor(d.get('y')!) };
}

function assertSame(got: Tensor, want: Tensor, what: string): void {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  const g = Array.from(got.data() as Float32Array);
  assert.deepEqual(g, Array.from(want.data() as Float32Array), `${what}: values`);
  // a degenerate model (all outputs equal) would prove little
  assert.ok(new Set(g).size > g.length / 4, `${what}: the outputs vary`);
}

const run = (m: ReturnType<typeof floatModel>, x: Tensor) => noGrad(() => m.call(x) as Tensor);

describe('torch -> graft: torch.save(qmodel.state_dict()) in graft', () => {
  for (const name of NAMES)
    test(`${name}: graft's int8 outputs equal torch's`, () => {
      const { x, y } = io(`${name}.io.pth`);
      const m = quant.loadQuantizedPth(join(PTH, `${name}.pth`), floatModel(name));
      assert.ok(quant.isQuantized(m));
      assert.equal(quant.specOf(m)?.mode, name in DYNAMIC ? 'dynamic' : 'static');
      assertSame(run(m, x), y, name);
    });

  test('the reader keeps torch quantizers: per-channel scales, axis, qint8 storage', () => {
    const sd = readPth(join(PTH, 'conv_per_channel.pth')) as Map<string, PyValue>;
    const w = sd.get('module.0.weight');
    assert.ok(isQuantizedRaw(w));
    assert.equal(w.qdtype, 'qint8');
    assert.equal(w.dtype, 'int8');
    assert.deepEqual(w.shape, [4, 3, 3, 3]);
    assert.equal(w.quantizer.scheme, 'per_channel_affine');
    if (w.quantizer.scheme === 'per_channel_affine') {
      assert.equal(w.quantizer.axis, 0);
      assert.deepEqual(w.quantizer.scales.shape, [4]);
    }
    assert.equal(sd.get('module.7._packed_params.dtype'), 'qint8');
    const pt = readPth(join(PTH, 'conv_per_tensor.pth')) as Map<string, PyValue>;
    const wt = pt.get('module.3.weight');
    assert.ok(isQuantizedRaw(wt) && wt.quantizer.scheme === 'per_tensor_affine' && wt.quantizer.scale > 0);
  });

  test("older torch layouts of a Linear's packed weight load too (packed-params version 2, Linear version 1)", () => {
    const sd = readPth(join(PTH, 'dynamic_per_tensor.pth')) as PyOrderedDict<string, PyValue>;
    const old = new PyOrderedDict<string, PyValue>();
    for (const [k, v] of sd) {
      if (k.endsWith('._packed_params.dtype')) continue;
      const m = /^(\d)\._packed_params\._packed_params$/.exec(k);
      if (!m) old.set(k, v);
      else {
        const [w, b] = v as PyValue[];
        const at = m[1] === '0' ? '0._packed_params.' : '2.'; // version 2 / version 1 names
        old.set(`${at}weight`, w!);
        old.set(`${at}bias`, b!);
      }
    }
    const file = join(dir, 'old_layout.pth');
    writePth(file, old);
    const { x, y } = io('dynamic_per_tensor.io.pth');
    assertSame(run(quant.loadQuantizedPth(file, floatModel('dynamic_per_tensor')), x), y, 'old layout');
  });

  test('Linear layers the file holds in float stay float', () => {
    const sd = readPth(join(PTH, 'dynamic_per_tensor.pth')) as PyOrderedDict<string, PyValue>;
    const mixed = new PyOrderedDict<string, PyValue>([...sd].filter(([k]) => !k.startsWith('2.')));
    const f32 = (shape: number[]) => ({
      dtype: 'float32' as const,
      shape,
      data: new Uint8Array(4 * shape[0]! * (shape[1] ?? 1)),
    });
    mixed.set('2.weight', f32([4, 16]));
    mixed.set('2.bias', f32([4]));
    const file = join(dir, 'mixed.pth');
    writePth(file, mixed);
    const m = quant.loadQuantizedPth(file, floatModel('dynamic_per_tensor'));
    assert.ok(m.getSubmodule('0') instanceof quant.DynamicQuantizedLinear);
    assert.equal(m.getSubmodule('2').constructor.name, 'Linear');
  });

  test('the lazy reader (graft inspect, load plans) opens quantized files without reading tensor bytes', () => {
    const root = openCheckpoint(join(PTH, 'resnet_tiny.pth')).root as Map<string, any>;
    const w = root.get('layer1.1.downsample.0.weight');
    assert.deepEqual(
      [w.dtype, w.shape, w.qdtype, w.quantizer.scheme],
      ['int8', [16, 8, 1, 1], 'qint8', 'per_channel_affine'],
    );
  });

  test('graft writes a torch file back with the same tensors and quantizers', () => {
    for (const name of ['conv_per_channel', 'resnet_tiny', 'dynamic_per_tensor'] as const) {
      const m = quant.loadQuantizedPth(join(PTH, `${name}.pth`), floatModel(name));
      const file = join(dir, `${name}.again.pth`);
      quant.saveQuantizedPth(file, m);
      const a = readPth(join(PTH, `${name}.pth`)) as Map<string, PyValue>;
      const b = readPth(file) as Map<string, PyValue>;
      assert.deepEqual([...b.keys()], [...a.keys()], `${name}: keys in torch's order`);
      for (const [k, v] of a) assert.deepEqual(plain(b.get(k)!), plain(v), `${name}: ${k}`);
      // torch's loaders migrate by these versions: every module torch versions past 1 has graft's same number
      const ma = (a as any).metadata as Map<string, Map<string, number>>;
      const mb = (b as any).metadata as Map<string, Map<string, number>>;
      for (const [k, v] of ma)
        if (v.get('version') !== 1 || mb.has(k))
          assert.equal(mb.get(k)?.get('version'), v.get('version'), `${name}: ${k}`);
    }
  });
});

/** Values comparable with deepEqual: tensors as dtype, shape, bytes and quantizer. */
function plain(v: PyValue | undefined): unknown {
  if (v instanceof Map) return [...v].map(([k, x]) => [k, plain(x)]);
  if (Array.isArray(v)) return v.map((x) => plain(x));
  if (v && typeof v === 'object' && 'data' in v) {
    const t = v as RawTensor;
    const q = isQuantizedRaw(t)
      ? t.quantizer.scheme === 'per_tensor_affine'
        ? { ...t.quantizer }
        : { axis: t.quantizer.axis, s: plain(t.quantizer.scales), z: plain(t.quantizer.zeroPoints) }
      : undefined;
    return { dtype: t.dtype, shape: t.shape, data: Buffer.from(t.data).toString('hex'), q };
  }
  return v;
}

describe('graft -> torch: what graft writes, torch loaded (checked when the fixtures were made)', () => {
  GRAFT_NAMES.forEach((name, i) => {
    test(`${name}: graft still writes the bytes torch accepted, with the same outputs`, () => {
      const { model, x } = graftQuantized(name, 200 + i);
      const want = io(`graft_${name}.io.pth`);
      assertSame(x, want.x, `${name} input`);
      assertSame(run(model, x), want.y, `${name} graft output`);
      const file = join(dir, `graft_${name}.pth`);
      quant.saveQuantizedPth(file, model);
      assert.ok(readFileSync(file).equals(readFileSync(join(PTH, `graft_${name}.pth`))), `${name}: same bytes`);
      // and graft reads its own torch-layout file back to the same outputs
      const arch = name === 'qat_resnet_tiny' ? 'resnet_tiny' : name;
      assertSame(run(quant.loadQuantizedPth(file, floatModel(arch)), x), want.y, `${name} reloaded`);
    });
  });

  test('a float model is refused with a hint', () => {
    assert.throws(() => quant.toTorchStateDict(floatModel('conv_per_tensor')), /needs a quantized model/);
  });
});
