import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckpointError, ShapeError } from '../../src/errors.ts';
import {
  type RawTensor,
  rawTensor,
  readSafetensors,
  readSafetensorsHeader,
  readShardedSafetensors,
  writeSafetensors,
} from '../../src/io/index.ts';
import { describe, expected, FIX, normalize, type Rec, withTmp } from './_helpers.ts';

const MODEL = join(FIX, 'model.safetensors');

function f32(values: number[], shape: number[]): RawTensor {
  return rawTensor('float32', shape, new Uint8Array(new Float32Array(values).buffer));
}

/** A safetensors file from a header object and a data region. */
function craft(header: unknown, data: Uint8Array | number, rawHeader?: string): Uint8Array {
  const json = Buffer.from(rawHeader ?? JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = Buffer.alloc(8 + json.length + body.length);
  out.writeBigUInt64LE(BigInt(json.length));
  json.copy(out, 8);
  out.set(body, 8 + json.length);
  return out;
}

test('a hand-written safetensors file reads with the tensors torch had', () => {
  const { tensors, metadata } = readSafetensors(MODEL);
  assert.deepEqual(metadata, expected.safetensors_metadata);
  const want = normalize(expected.files['model.safetensors']!).filter((r) => r.kind === 'tensor');
  const got = describe(tensors).filter((r) => r.kind === 'tensor');
  const byPath = (rs: Rec[]) => new Map(rs.map((r) => [String(r.path[0]), r]));
  assert.deepEqual(byPath(got), byPath(want));
  // file order: descending dtype alignment, then name, as the reference writer lays them out
  assert.deepEqual([...tensors.keys()].slice(0, 3), ['bn.num_batches_tracked', 'extra.i64', 'extra.f64']);
});

test('writeSafetensors reproduces the reference layout byte for byte', () => {
  withTmp((dir) => {
    const { tensors, metadata } = readSafetensors(MODEL);
    const p = join(dir, 'out.safetensors');
    writeSafetensors(p, new Map([...tensors].reverse()), metadata);
    assert.deepEqual(readFileSync(p), readFileSync(MODEL));

    // the vectors from the reference implementation's own tests
    const t = f32([0, 1, 2, 3, 4, 5], [1, 2, 3]);
    writeSafetensors(p, { 'attn.0': t });
    const want = Buffer.concat([
      Buffer.from([64, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'),
      t.data,
    ]);
    assert.deepEqual(readFileSync(p), want);
    writeSafetensors(p, { attn0: f32([0, 1, 2, 3, 4, 5], [1, 1, 2, 3]) });
    assert.equal(readFileSync(p).readBigUInt64LE(0), 72n);
    assert.match(readFileSync(p).subarray(8, 80).toString(), /\]\}\} {7}$/);
    writeSafetensors(p, {});
    assert.deepEqual([...readFileSync(p)], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    writeSafetensors(p, {}, { framework: 'pt' });
    assert.equal(readFileSync(p).subarray(8).toString(), '{"__metadata__":{"framework":"pt"}}     ');
  });
});

test('safetensors round trip: every dtype, 0-dim, empty, names needing escapes', () => {
  withTmp((dir) => {
    const tensors = new Map<string, RawTensor>([
      ['w', f32([1, 2, 3, 4], [2, 2])],
      ['d', rawTensor('float64', [], new Uint8Array(new Float64Array([Math.E]).buffer))],
      ['h', rawTensor('float16', [1], new Uint8Array([0, 0x3c]))],
      ['b', rawTensor('bfloat16', [1], new Uint8Array([0x80, 0x3f]))],
      ['l', rawTensor('int64', [1], new Uint8Array(8).fill(0xff))],
      ['i', rawTensor('int32', [2])],
      ['s', rawTensor('int16', [3])],
      ['c', rawTensor('int8', [1], new Uint8Array([0x80]))],
      ['u', rawTensor('uint8', [2], new Uint8Array([1, 255]))],
      ['m', rawTensor('bool', [2], new Uint8Array([1, 0]))],
      ['empty', rawTensor('float32', [0, 5])],
      ['quote"\\/ü\n', f32([7], [1])],
    ]);
    const p = join(dir, 'rt.safetensors');
    writeSafetensors(p, tensors, { a: 'b', 'x"y': 'z\n' });
    const back = readSafetensors(p);
    assert.deepEqual(back.metadata, { a: 'b', 'x"y': 'z\n' });
    assert.equal(back.tensors.size, tensors.size);
    for (const [k, t] of tensors) assert.deepEqual(back.tensors.get(k), { ...t, data: new Uint8Array(t.data) }, k);
    const header = readSafetensorsHeader(p);
    assert.equal(header.entries.length, tensors.size);
    assert.deepEqual(header.entries.map((e) => e.name).slice(0, 2), ['l', 'd']);
    const some = readSafetensors(p, { filter: (n) => n === 'w' });
    assert.deepEqual([...some.tensors.keys()], ['w']);
    assert.equal(readSafetensors(join(dir, 'rt.safetensors')).metadata !== null, true);
    writeSafetensors(p, { w: f32([1], [1]) });
    assert.equal(readSafetensors(p).metadata, null);
    assert.deepEqual(readdirSync(dir), ['rt.safetensors']);
  });
});

test('writeSafetensors refuses inconsistent tensors', () => {
  withTmp((dir) => {
    const p = join(dir, 'x.safetensors');
    assert.throws(
      () => writeSafetensors(p, { a: { dtype: 'float32', shape: [2], data: new Uint8Array(4) } }),
      ShapeError,
    );
    assert.throws(() => writeSafetensors(p, { __metadata__: f32([1], [1]) }), ShapeError);
    assert.throws(
      () => writeSafetensors(p, { a: { dtype: 'complex64' as never, shape: [1], data: new Uint8Array(8) } }),
      ShapeError,
    );
    assert.throws(() => writeSafetensors(p, {}, { n: 1 as never }), ShapeError);
    assert.deepEqual(readdirSync(dir), []);
  });
});

test('broken and lying safetensors headers are CheckpointErrors naming file and reason', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const cases: [string, Uint8Array, RegExp][] = [
    ['tiny', new Uint8Array([1, 2, 3]), /too small/],
    ['header past end', craft(null, 0, '{}').fill(0xff, 0, 4), /runs past the end|exceeds/],
    [
      'huge header',
      (() => {
        const b = craft(ok, 8);
        Buffer.from(b.buffer).writeBigUInt64LE(2n ** 62n);
        return b;
      })(),
      /exceeds 100000000/,
    ],
    ['not json', craft(null, 0, '{"a": '), /not valid UTF-8 JSON/],
    ['array', craft([1, 2], 0), /not a JSON object/],
    ['bad utf8', craft(null, 0, '{"\xff"}').fill(0xff, 10, 11), /not valid UTF-8 JSON/],
    ['unknown dtype', craft({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, 8), /unsupported dtype "C64"/],
    ['fp8', craft({ a: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, 1), /unsupported dtype/],
    ['bad shape', craft({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /shape/],
    ['float shape', craft({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, 4), /shape/],
    ['huge shape', craft({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 4] } }, 4), /too large/],
    ['offsets past end', craft({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8), /run past/],
    ['offsets reversed', craft({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, 8), /end before/],
    ['size mismatch', craft({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /needs 12 bytes/],
    ['overlap', craft({ ...ok, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12), /overlaps/],
    ['gap', craft({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), /unused bytes/],
    ['trailing', craft(ok, 12), /4 bytes after the last tensor/],
    ['truncated data', craft(ok, 6), /run past/],
    ['metadata value', craft({ __metadata__: { a: 1 }, ...ok }, 8), /__metadata__\.a is not a string/],
    ['entry not object', craft({ a: [1] }, 0), /entry is not an object/],
    ['missing offsets', craft({ a: { dtype: 'F32', shape: [1] } }, 4), /data_offsets/],
  ];
  withTmp((dir) => {
    for (const [name, bytes, pattern] of cases) {
      const p = join(dir, `${name.replace(/ /g, '_')}.safetensors`);
      writeFileSync(p, bytes);
      assert.throws(
        () => readSafetensors(p),
        (e: unknown) => e instanceof CheckpointError && e.file === p && pattern.test(e.message),
        name,
      );
    }
  });
});

test('sharded checkpoints read through their index', () => {
  const idx = join(FIX, 'sharded', 'model.safetensors.index.json');
  const { tensors, metadata, shards } = readShardedSafetensors(idx);
  assert.deepEqual(shards, ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  const whole = readSafetensors(MODEL).tensors;
  assert.deepEqual(new Set(tensors.keys()), new Set(whole.keys()));
  for (const [k, t] of tensors) assert.deepEqual(t, whole.get(k), k);
  const total = [...tensors.values()].reduce((a, t) => a + t.data.byteLength, 0);
  assert.deepEqual(metadata, { total_size: total });
});

test('a shard index that lies or escapes its folder is refused', () => {
  withTmp((dir) => {
    const shardDir = join(dir, 'm');
    mkdirSync(shardDir);
    writeSafetensors(join(shardDir, 'a.safetensors'), { x: f32([1], [1]), y: f32([2], [1]) });
    const index = (wm: unknown) => {
      const p = join(shardDir, 'index.json');
      writeFileSync(p, JSON.stringify({ metadata: {}, weight_map: wm }));
      return p;
    };
    assert.equal(readShardedSafetensors(index({ x: 'a.safetensors', y: 'a.safetensors' })).tensors.size, 2);
    assert.throws(() => readShardedSafetensors(index({ x: 'a.safetensors' })), /holds y, which weight_map/);
    assert.throws(
      () => readShardedSafetensors(index({ x: 'a.safetensors', y: 'a.safetensors', z: 'a.safetensors' })),
      /puts z in a.safetensors, which lacks it/,
    );
    assert.throws(() => readShardedSafetensors(index({ x: '../a.safetensors' })), /unsafe shard path/);
    assert.throws(() => readShardedSafetensors(index({ x: '/etc/passwd' })), /unsafe shard path/);
    assert.throws(() => readShardedSafetensors(index({ x: 'b.safetensors' })), CheckpointError);
    assert.throws(() => readShardedSafetensors(index([1])), /no weight_map/);
    assert.throws(() => readShardedSafetensors(index({ x: 3 })), /not a file name/);
    writeFileSync(join(shardDir, 'bad.json'), '{');
    assert.throws(() => readShardedSafetensors(join(shardDir, 'bad.json')), /cannot read the shard index/);
  });
});
