// Shared by the io tests: fixture paths, a describer matching scripts/fixtures/io_fixtures.py, a sample checkpoint.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  isRawTensor,
  isTuple,
  type PyKey,
  PyObject,
  PyOrderedDict,
  type PyValue,
  type RawTensor,
  rawTensor,
  tuple,
} from '../../src/io/index.ts';

export const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'io');

export type Rec = Record<string, unknown> & { path: PyKey[]; kind: string };

export const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as {
  files: Record<string, Rec[]>;
  safetensors_metadata: Record<string, string>;
};

export function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'graft-io-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function half(bits: number): number {
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The first n elements of a tensor as JS numbers/booleans (like tensor.reshape(-1)[:n].tolist()). */
export function firstValues(t: RawTensor, n = 4): (number | boolean)[] {
  const v = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out: (number | boolean)[] = [];
  const size = {
    float32: 4,
    float64: 8,
    float16: 2,
    bfloat16: 2,
    int64: 8,
    int32: 4,
    int16: 2,
    int8: 1,
    uint8: 1,
    bool: 1,
  }[t.dtype];
  for (let i = 0; i < Math.min(n, t.data.byteLength / size); i++) {
    const o = i * size;
    const x = {
      float32: () => v.getFloat32(o, true),
      float64: () => v.getFloat64(o, true),
      float16: () => half(v.getUint16(o, true)),
      bfloat16: () => {
        const b = new DataView(new ArrayBuffer(4));
        b.setUint16(0, v.getUint16(o, true), false);
        return b.getFloat32(0, false);
      },
      int64: () => Number(v.getBigInt64(o, true)),
      int32: () => v.getInt32(o, true),
      int16: () => v.getInt16(o, true),
      int8: () => v.getInt8(o),
      uint8: () => v.getUint8(o),
      bool: () => v.getUint8(o) !== 0,
    }[t.dtype]();
    out.push(x);
  }
  return out;
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const keyOut = (k: PyKey): PyKey => k;

/** Records in the schema of io_fixtures.py's describe(); numbers are 'number' (JS cannot tell 1 from 1.0). */
export function describe(v: PyValue, path: PyKey[] = [], out: Rec[] = []): Rec[] {
  if (isRawTensor(v)) {
    out.push({ path, kind: 'tensor', dtype: v.dtype, shape: v.shape, sha256: sha256(v.data), first: firstValues(v) });
  } else if (v instanceof Map) {
    const rec: Rec = {
      path,
      kind: v instanceof PyOrderedDict ? 'ordereddict' : 'dict',
      keys: [...v.keys()].map(keyOut),
    };
    if (v instanceof PyOrderedDict && v.metadata instanceof Map) rec.metadata_keys = [...v.metadata.keys()];
    out.push(rec);
    for (const [k, x] of v) describe(x, [...path, k], out);
  } else if (Array.isArray(v)) {
    out.push({ path, kind: isTuple(v) ? 'tuple' : 'list', len: v.length });
    for (let i = 0; i < v.length; i++) describe(v[i]!, [...path, i], out);
  } else if (v instanceof Set) {
    out.push({ path, kind: 'set', items: [...v].sort((a, b) => (a! < b! ? -1 : a! > b! ? 1 : 0)) });
  } else if (v instanceof Uint8Array) {
    out.push({ path, kind: 'bytes', hex: Buffer.from(v).toString('hex') });
  } else if (v instanceof PyObject) {
    out.push({ path, kind: 'namespace', attrs: Object.fromEntries(v.attributes) });
  } else if (typeof v === 'bigint') {
    out.push({ path, kind: 'bigint', value: String(v) });
  } else if (typeof v === 'number') {
    out.push({ path, kind: 'number', value: v });
  } else {
    out.push({ path, kind: 'value', value: v });
  }
  return out;
}

/** Python's records with int/float values folded into 'number', to compare with describe(). */
export function normalize(recs: Rec[]): Rec[] {
  return recs.map((r) =>
    r.kind === 'float' || (r.kind === 'value' && typeof r.value === 'number') ? { ...r, kind: 'number' } : r,
  );
}

function f32(values: number[], shape: number[]): RawTensor {
  return rawTensor('float32', shape, new Uint8Array(new Float32Array(values).buffer));
}

/** A state dict of every dtype, a 0-dim and an empty tensor, two views of one buffer, a tied tensor. */
export function sampleStateDict(): PyOrderedDict {
  const sd = new PyOrderedDict();
  sd.set('fc.weight', f32([0.5, -1.25, 3, 4.5, 1e-8, -0], [2, 3]));
  sd.set('fc.bias', f32([0.1, 0.2], [2]));
  sd.set('bn.num_batches_tracked', rawTensor('int64', [], new Uint8Array(new BigInt64Array([7n]).buffer)));
  sd.set('half', rawTensor('float16', [2], new Uint8Array([0x00, 0x3c, 0x00, 0xc0])));
  sd.set('bf16', rawTensor('bfloat16', [2], new Uint8Array([0x80, 0x3f, 0x49, 0x40])));
  sd.set('f64', rawTensor('float64', [1], new Uint8Array(new Float64Array([Math.PI]).buffer)));
  sd.set('i32', rawTensor('int32', [2], new Uint8Array(new Int32Array([-7, 2 ** 31 - 1]).buffer)));
  sd.set('i16', rawTensor('int16', [1, 1], new Uint8Array(new Int16Array([-300]).buffer)));
  sd.set('i8', rawTensor('int8', [2], new Uint8Array([0x80, 0x7f])));
  sd.set('u8', rawTensor('uint8', [3], new Uint8Array([0, 128, 255])));
  sd.set('mask', rawTensor('bool', [2, 2], new Uint8Array([1, 0, 0, 1])));
  sd.set('empty', rawTensor('float32', [0, 4]));
  // shared.a and shared.b view one buffer: written as one storage, as PyTorch would
  const shared = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const bytes = new Uint8Array(shared.buffer);
  sd.set('shared.a', rawTensor('float32', [2, 3], bytes.subarray(0, 24)));
  sd.set('shared.b', rawTensor('float32', [4], bytes.subarray(24)));
  const tied = f32([9, 8, 7, 6], [2, 2]);
  sd.set('tied.x', tied);
  sd.set('tied.y', tied);
  sd.attributes.set('_metadata', new PyOrderedDict([['', new Map([['version', 1]])]]));
  return sd;
}

/** A checkpoint exercising everything writePth supports; deterministic, so its bytes are stable. */
export function sampleCheckpoint(): PyValue {
  const sd = sampleStateDict();
  const state = new Map<PyKey, PyValue>([
    [0, new Map<PyKey, PyValue>([['momentum_buffer', f32([0.25, -0.5, 0, 1, 2, 3], [2, 3])]])],
    [1, new Map<PyKey, PyValue>([['momentum_buffer', f32([1, 1], [2])]])],
  ]);
  const group = new Map<PyKey, PyValue>([
    ['lr', 0.01],
    ['momentum', 0.9],
    ['betas', tuple(0.9, 0.999)],
    ['params', [0, 1]],
  ]);
  return new Map<PyKey, PyValue>([
    ['epoch', 3],
    ['state_dict', sd],
    [
      'optimizer',
      new Map<PyKey, PyValue>([
        ['state', state],
        ['param_groups', [group]],
      ]),
    ],
    ['model', new Map<PyKey, PyValue>([['ema', new PyOrderedDict([['w', f32([1.5], [1])]])]])],
    ['best_acc', 0.875],
    ['neg', -5],
    ['big', 2 ** 40],
    ['huge', 2n ** 70n],
    ['neg_huge', -(2n ** 64n) - 1n],
    ['name', 'grüße ✓'],
    ['flags', [true, false, null]],
    ['raw', new Uint8Array([0, 1, 255])],
    ['uniq', new Set<PyKey>([1, 2])],
    ['pair', tuple('a', 'b', 'c', 'd')],
    [
      'args',
      new PyObject(
        'argparse.Namespace',
        new Map<string, PyValue>([
          ['lr', 0.1],
          ['name', 'x'],
        ]),
      ),
    ],
  ]);
}
