// `graft export RUN --format pth --quantize int8`: PyTorch's quantized layout, from the run's own int8
// model (a recipe's static / QAT / dynamic quantize section wrote model.int8.safetensors) or, without
// one, from dynamic int8 Linear layers. graft reads the file back to the same outputs.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { isQuantizedRaw, type PyValue, readPth } from '../../src/io/index.ts';
import * as models from '../../src/models/index.ts';
import * as quant from '../../src/quant/index.ts';
import { rebuildFromConfig } from '../../src/recipe/index.ts';
import { manualSeed, noGrad, randn, type Tensor } from '../../src/tensor/index.ts';
import { loadModel, saveModel } from '../../src/train/index.ts';
import { capture, rmDir, tmpDir } from '../recipe/_helpers.ts';

const graft = (...args: string[]) => capture(() => main(args));
const dir = tmpDir('graft-qpth-export-');
const runDir = join(dir, 'run');
const fresh = () => models.create('cifar_net', { numClasses: 3 }).eval();
let x: Tensor;

before(() => {
  mkdirSync(runDir);
  manualSeed(5);
  const model = fresh();
  saveModel(runDir, model, { classNames: ['a', 'b', 'c'], preprocessing: { kind: 'image', inputSize: [3, 32, 32] } });
  model.dispose();
  x = randn([2, 3, 32, 32]);
});
after(() => rmDir(dir));

const same = (a: Tensor, b: Tensor) =>
  assert.deepEqual(Array.from(a.data() as Float32Array), Array.from(b.data() as Float32Array));

test('without an int8 model: dynamic int8 Linear layers in torch.ao.nn.quantized.dynamic layout', async () => {
  const r = await graft('export', runDir, '--format', 'pth', '--quantize', 'int8', '--json');
  assert.equal(r.code, 0, r.err);
  const rep = JSON.parse(r.out);
  assert.deepEqual([rep.quantization, rep.quantized], ['dynamic', ['fc1', 'fc2', 'fc3']]);
  const sd = readPth(rep.file) as Map<string, PyValue>;
  const [w] = sd.get('fc1._packed_params._packed_params') as PyValue[];
  assert.ok(isQuantizedRaw(w) && w.qdtype === 'qint8');
  assert.equal(sd.get('fc1._packed_params.dtype'), 'qint8');
  assert.equal((sd.get('conv1.weight') as { dtype: string }).dtype, 'float32');
  // graft reads it back to what quantizing the run's model gives
  const want = fresh();
  want.loadStateDict(loadModel(runDir, { build: rebuildFromConfig }).model.stateDict());
  quant.quantizeDynamic(want);
  const back = quant.loadQuantizedPth(rep.file, fresh());
  noGrad(() => same(back.call(x) as Tensor, want.call(x) as Tensor));
});

test("with the run's static int8 model (model.int8.safetensors): its quantized convs, stubs and qparams", async () => {
  const float = fresh();
  float.loadStateDict(loadModel(runDir, { build: rebuildFromConfig }).model.stateDict());
  const q = quant.quantizeStatic(float, [randn([4, 3, 32, 32])], { backend: 'qnnpack', activation: 'minmax' });
  quant.saveQuantized(join(runDir, 'model.int8.safetensors'), q);
  const out = join(dir, 'static.pth');
  const r = await graft('export', runDir, '--format', 'pth', '--quantize', 'int8', '--out', out, '--json');
  assert.equal(r.code, 0, r.err);
  const rep = JSON.parse(r.out);
  assert.equal(rep.quantization, 'static');
  assert.ok(rep.quantized.includes('conv1') && rep.quantized.includes('quant'));
  const sd = readPth(out) as Map<string, PyValue>;
  assert.ok(isQuantizedRaw(sd.get('conv1.weight')));
  assert.deepEqual((sd.get('quant.scale') as { shape: number[] }).shape, [1]);
  const back = quant.loadQuantizedPth(out, fresh());
  assert.equal(quant.specOf(back)?.mode, 'static');
  noGrad(() => same(back.call(x) as Tensor, q.call(x) as Tensor));
});
