// Hostile or mismatched quantized .pth files: a bad quantizer tuple, a wrong storage type, a shape
// mismatch... each is a CheckpointError that names the key, never a crash inside libtorch.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CheckpointError } from '../../src/errors.ts';
import { withFile, writeAtomic } from '../../src/io/file.ts';
import {
  ALLOWED_GLOBALS,
  PyGlobal,
  type PyInput,
  PyOrderedDict,
  type PyValue,
  type QuantizedRawTensor,
  readPth,
  writePth,
} from '../../src/io/index.ts';
import { readZipDirectory, readZipEntry, ZipWriter } from '../../src/io/pth/zip.ts';
import { Linear, ReLU, Sequential } from '../../src/nn/index.ts';
import * as quant from '../../src/quant/index.ts';
import { FIX } from './_fixtures.ts';
import { convNet, floatModel } from './_pth_models.ts';

const PTH = join(FIX, 'pth');
const dir = mkdtempSync(join(tmpdir(), 'graft-qpth-bad-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of a fixture with its pickle's text edited (GLOBAL names are newline-delimited text). */
function patched(name: string, from: string, to: string): string {
  const out = join(dir, `${name}.${Math.random().toString(36).slice(2)}.pth`);
  withFile(join(PTH, `${name}.pth`), (src) => {
    const entries = readZipDirectory(src);
    writeAtomic(out, (sink) => {
      const zip = new ZipWriter(sink);
      for (const [n, e] of entries) {
        let bytes = readZipEntry(src, e);
        if (n.endsWith('data.pkl')) {
          const text = Buffer.from(bytes).toString('latin1');
          assert.ok(text.includes(from), `the pickle holds ${JSON.stringify(from)}`);
          bytes = new Uint8Array(Buffer.from(text.replaceAll(from, to), 'latin1'));
        }
        zip.add(n, [bytes]);
      }
      zip.finish();
    });
  });
  return out;
}

/** A torch-layout file of the dynamic MLP whose first weight is replaced by `weight`. */
function withWeight(weight: PyInput, extra: [string, PyInput][] = []): string {
  const sd = readPth(join(PTH, 'dynamic_per_tensor.pth')) as PyOrderedDict<string, PyValue>;
  const [, bias] = sd.get('0._packed_params._packed_params') as PyValue[];
  const out = new PyOrderedDict<string, PyValue>(sd);
  out.set('0._packed_params._packed_params', Object.freeze([weight, bias]) as PyValue);
  for (const [k, v] of extra) out.set(k, v as PyValue);
  const file = join(dir, `w.${Math.random().toString(36).slice(2)}.pth`);
  writePth(file, out);
  return file;
}

const int8 = (n: number) => new Uint8Array(n);
const qrec = (shape: number[], quantizer: QuantizedRawTensor['quantizer']): QuantizedRawTensor => ({
  dtype: 'int8',
  shape,
  data: int8(shape.reduce((a, b) => a * b, 1)),
  qdtype: 'qint8',
  quantizer,
});
const f64 = (xs: number[]) => ({
  dtype: 'float64' as const,
  shape: [xs.length],
  data: new Uint8Array(new Float64Array(xs).buffer),
});
const i64 = (xs: number[]) => ({
  dtype: 'int64' as const,
  shape: [xs.length],
  data: new Uint8Array(new BigInt64Array(xs.map(BigInt)).buffer),
});

const loadMlp = (file: string) => quant.loadQuantizedPth(file, floatModel('dynamic_per_tensor'));
const refused = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof CheckpointError && re.test(e.message), String(re));

describe('hostile quantized .pth files', () => {
  test('the allow list names the quantized globals, and nothing that runs code', () => {
    for (const g of ['torch._utils._rebuild_qtensor', 'torch.QInt8Storage', 'torch.per_channel_affine', 'torch.qint8'])
      assert.ok(ALLOWED_GLOBALS.includes(g), g);
    assert.ok(!ALLOWED_GLOBALS.some((g) => /system|eval|exec|subprocess|getattr/.test(g)));
  });

  test('wrong storage type: _rebuild_qtensor over a plain storage, a plain rebuild over a quantized one', () => {
    refused(
      () => readPth(patched('conv_per_tensor', 'torch\nQInt8Storage\n', 'torch\nCharStorage\n')),
      /_rebuild_qtensor over a storage that is not quantized/,
    );
    refused(
      () => readPth(patched('conv_per_tensor', 'torch\nFloatStorage\n', 'torch\nQInt32Storage\n')),
      /_rebuild_tensor_v2 over a quantized storage \(qint32\) without a quantizer/,
    );
  });

  test('bad quantizer tuples: unknown scheme, scale <= 0, zero point out of range, scales per channel', () => {
    refused(
      () => readPth(patched('conv_per_tensor', 'torch\nper_tensor_affine\n', 'torch\nper_tensor_symmetric\n')),
      /global torch\.per_tensor_symmetric is not allowed/,
    );
    refused(
      () => readPth(patched('conv_per_tensor', 'torch\nper_tensor_affine\n', 'torch\nper_channel_affine\n')),
      /per_channel_affine quantizer is not \(scheme, scales, zero_points, axis\)/,
    );
    refused(
      () => readPth(withWeight(qrec([16, 8], { scheme: 'per_tensor_affine', scale: -1, zeroPoint: 0 }))),
      /scale -1 is not > 0/,
    );
    refused(
      () => readPth(withWeight(qrec([16, 8], { scheme: 'per_tensor_affine', scale: 0.1, zeroPoint: 300 }))),
      /zero point 300 is outside qint8's \[-128, 127\]/,
    );
    const perChannel = (scales: number[], zps: number[], axis = 0) =>
      qrec([16, 8], { scheme: 'per_channel_affine', scales: f64(scales), zeroPoints: i64(zps), axis });
    refused(() => readPth(withWeight(perChannel([0.1, 0.2], [0, 0]))), /scales must be float64 \[16\]/);
    refused(
      () => readPth(withWeight(perChannel(Array(16).fill(0.1), Array(16).fill(0), 2))),
      /axis 2 is not a dimension/,
    );
    // values arrive after unpickling: checked when graft loads the weight
    const zeroScale = Array(16).fill(0.1);
    zeroScale[3] = 0;
    refused(
      () => loadMlp(withWeight(perChannel(zeroScale, Array(16).fill(0)))),
      /'0\._packed_params\._packed_params': quantizer scale 0 is not > 0/,
    );
  });

  test('a qscheme outside a quantizer is refused', () => {
    const file = join(dir, 'qscheme.pth');
    writePth(file, new Map([['x', new PyGlobal('torch', 'per_tensor_affine')]]));
    refused(() => readPth(file), /unsupported value in the result: GlobalRef/);
  });

  test('shape mismatches and wrong models name the key', () => {
    refused(
      () => loadMlp(withWeight(qrec([16, 9], { scheme: 'per_tensor_affine', scale: 0.1, zeroPoint: 0 }))),
      /'0\._packed_params\._packed_params' has shape \[16,9\], the model's weight is \[16,8\]/,
    );
    refused(
      () => loadMlp(withWeight({ dtype: 'float32', shape: [16, 8], data: int8(512) })),
      /is not a quantized tensor/,
    );
    const mlp = () => new Sequential(new Linear(8, 16), new ReLU(), new Linear(16, 5)).eval();
    refused(
      () => quant.loadQuantizedPth(join(PTH, 'dynamic_per_tensor.pth'), mlp()),
      /has shape \[4,16\], the model's weight is \[5,16\]/,
    );
    refused(
      () => quant.loadQuantizedPth(join(PTH, 'conv_per_tensor.pth'), floatModel('resnet_tiny')),
      /missing key 'conv1\.weight'/,
    );
    refused(
      () =>
        loadMlp(
          withWeight(qrec([16, 8], { scheme: 'per_tensor_affine', scale: 0.1, zeroPoint: 0 }), [['extra', null]]),
        ),
      /keys the model does not have: extra/,
    );
    refused(
      () =>
        quant.loadQuantizedPth(
          patched('dynamic_per_tensor', 'torch\nqint8\n', 'torch\nfloat16\n'),
          floatModel('dynamic_per_tensor'),
        ),
      /'0\._packed_params\.dtype' is float16/,
    );
    refused(() => quant.loadQuantizedPth(join(dir, 'missing.pth'), convNet()), /no such file/);
  });
});
