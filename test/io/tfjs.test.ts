import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckpointError } from '../../src/errors.ts';
import { parseJsLiteral } from '../../src/io/tfjs/js_literal.ts';
import { permuteRaw } from '../../src/io/tfjs/keras_mobilenet_v2.ts';
import { readTfjsModel } from '../../src/io/tfjs/tfjs.ts';

const topology = {
  keras_version: '2.2.4',
  backend: 'tensorflow',
  model_config: {
    class_name: 'Sequential',
    config: { layers: [{ class_name: 'Dense', config: { name: 'dense_1', units: 2 }, inbound_nodes: [] }] },
  },
};

function floats(t: { data: Uint8Array }): number[] {
  return Array.from(new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4));
}

function writeModel(dir: string, weights: object[], shard: Uint8Array, wrapped: boolean): string {
  const doc = { modelTopology: topology, weightsManifest: [{ paths: ['group1-shard1of1'], weights }] };
  if (!wrapped) {
    writeFileSync(join(dir, 'model.json'), JSON.stringify(doc));
    writeFileSync(join(dir, 'group1-shard1of1'), shard);
    return join(dir, 'model.json');
  }
  // the UMD bundle shape nsfwjs ships: keys unquoted, booleans as !0/!1, numbers like .5
  const literal = JSON.stringify(doc)
    .replace(/"(\w+)":/g, '$1:')
    .replace(/true/g, '!0')
    .replace(/0\.5/g, '.5');
  const umd = (v: string) =>
    `!function(e){module.exports=e()}(function(){return{1:[function(e,a,n){a.exports=${v}},{}]}});`;
  writeFileSync(join(dir, 'model.min.js'), umd(literal));
  writeFileSync(join(dir, 'group1-shard1of1.min.js'), umd(JSON.stringify(Buffer.from(shard).toString('base64'))));
  return dir;
}

test('float32 TF.js layers model: names, shapes and values', () => {
  const dir = mkdtempSync(join(tmpdir(), 'graft-tfjs-'));
  const kernel = new Float32Array([1, 2, 3, 4, 5, 6]);
  const bias = new Float32Array([0.5, -0.5]);
  const shard = new Uint8Array([...new Uint8Array(kernel.buffer), ...new Uint8Array(bias.buffer)]);
  const m = readTfjsModel(
    writeModel(
      dir,
      [
        { name: 'dense_1/kernel', shape: [3, 2], dtype: 'float32' },
        { name: 'dense_1/bias', shape: [2], dtype: 'float32' },
      ],
      shard,
      false,
    ),
  );
  assert.deepEqual([...m.weights.keys()], ['dense_1/kernel', 'dense_1/bias']);
  assert.deepEqual(m.weights.get('dense_1/kernel')!.shape, [3, 2]);
  assert.deepEqual(floats(m.weights.get('dense_1/kernel')!), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(floats(m.weights.get('dense_1/bias')!), [0.5, -0.5]);
  assert.equal(m.layers[0]!.className, 'Dense');
});

test('uint8-quantized weights in a base64 .min.js bundle are dequantised as min + scale * q', () => {
  const dir = mkdtempSync(join(tmpdir(), 'graft-tfjs-'));
  const q = new Uint8Array([0, 1, 2, 255]);
  const m = readTfjsModel(
    writeModel(
      dir,
      [{ name: 'w', shape: [2, 2], dtype: 'float32', quantization: { dtype: 'uint8', min: -1, scale: 0.5 } }],
      q,
      true,
    ),
  );
  assert.deepEqual(floats(m.weights.get('w')!), [-1, -0.5, 0, -1 + 0.5 * 255]);
  assert.equal(m.meta.keras_version, '2.2.4');
});

test('float16-quantized weights decode exactly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'graft-tfjs-'));
  // 1.0, -2.0, 0.5, 65504 in IEEE half precision
  const bits = new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff]);
  const m = readTfjsModel(
    writeModel(
      dir,
      [{ name: 'h', shape: [4], dtype: 'float32', quantization: { dtype: 'float16' } }],
      new Uint8Array(bits.buffer),
      false,
    ),
  );
  assert.deepEqual(floats(m.weights.get('h')!), [1, -2, 0.5, 65504]);
});

test('a manifest that promises more bytes than the shards hold is a CheckpointError', () => {
  const dir = mkdtempSync(join(tmpdir(), 'graft-tfjs-'));
  const file = writeModel(dir, [{ name: 'w', shape: [100], dtype: 'float32' }], new Uint8Array(8), false);
  assert.throws(
    () => readTfjsModel(file),
    (e) => e instanceof CheckpointError && /shards hold 8/.test(e.message),
  );
});

test('a missing shard and a non-model file are CheckpointErrors naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'graft-tfjs-'));
  const doc = { modelTopology: topology, weightsManifest: [{ paths: ['nope'], weights: [] }] };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(doc));
  assert.throws(() => readTfjsModel(join(dir, 'model.json')), /weight shard 'nope' not found/);
  writeFileSync(join(dir, 'bad.json'), '{ not json');
  assert.throws(
    () => readTfjsModel(join(dir, 'bad.json')),
    (e) => e instanceof CheckpointError && e.file.endsWith('bad.json'),
  );
});

test('the literal reader refuses code and accepts minified data', () => {
  // objects come back with a null prototype: a key named __proto__ stays data
  const parsed = parseJsLiteral('{a:!0,b:[.5,-1e3,"x\\n"],c:null}').value;
  assert.deepEqual(JSON.parse(JSON.stringify(parsed)), { a: true, b: [0.5, -1000, 'x\n'], c: null });
  assert.throws(() => parseJsLiteral('{a:require("fs")}'), /unexpected token/);
  assert.throws(() => parseJsLiteral('{a:1'), /expected/);
});

test('permuteRaw turns Keras HWIO kernels into PyTorch OIHW', () => {
  // H=1 W=2 I=1 O=3: value = w*3 + o
  const src = new Float32Array([0, 1, 2, 3, 4, 5]);
  const out = permuteRaw({ dtype: 'float32', shape: [1, 2, 1, 3], data: new Uint8Array(src.buffer) }, [3, 2, 0, 1]);
  assert.deepEqual(out.shape, [3, 1, 1, 2]);
  assert.deepEqual(floats(out), [0, 3, 1, 4, 2, 5]);
});
