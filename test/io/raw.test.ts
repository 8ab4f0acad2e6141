import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShapeError } from '../../src/errors.ts';
import {
  byteSize,
  checkRawTensor,
  checkView,
  contiguousStrides,
  flattenTensors,
  isContiguous,
  isRawTensor,
  materialize,
  numel,
  PyOrderedDict,
  rawTensor,
  type ViewLayout,
} from '../../src/io/index.ts';

test('numel and byteSize validate shapes', () => {
  assert.equal(numel([]), 1);
  assert.equal(numel([2, 0, 3]), 0);
  assert.equal(byteSize('bfloat16', [3, 4]), 24);
  assert.throws(() => numel([-1]), ShapeError);
  assert.throws(() => numel([1.5]), ShapeError);
  assert.throws(() => numel([2 ** 30, 2 ** 30, 2 ** 30]), ShapeError);
});

test('rawTensor / checkRawTensor / isRawTensor', () => {
  const t = rawTensor('int16', [2, 3]);
  assert.equal(t.data.byteLength, 12);
  assert.ok(isRawTensor(t));
  assert.ok(!isRawTensor({ dtype: 'float32', shape: [1], data: [0, 0, 0, 0] }));
  assert.ok(!isRawTensor(new Map()));
  assert.throws(() => rawTensor('float32', [2], new Uint8Array(7)), /needs 8 bytes, data has 7/);
  assert.throws(() => rawTensor('complex64' as never, [1]), ShapeError);
  assert.throws(() => checkRawTensor({ dtype: 'float32' }), ShapeError);
});

test('strides and contiguity follow PyTorch', () => {
  assert.deepEqual(contiguousStrides([2, 3, 4]), [12, 4, 1]);
  assert.deepEqual(contiguousStrides([]), []);
  assert.ok(isContiguous([2, 3], [3, 1]));
  assert.ok(isContiguous([1, 3], [99, 1]), 'size-1 dims may have any stride');
  assert.ok(!isContiguous([3, 2], [1, 3]));
});

/** Element values of a view computed one index at a time, the slow obvious way. */
function naive(storage: Float32Array, v: ViewLayout): number[] {
  const out: number[] = [];
  const n = numel(v.shape);
  for (let lin = 0; lin < n; lin++) {
    let rem = lin;
    let at = v.offset;
    for (let d = v.shape.length - 1; d >= 0; d--) {
      at += (rem % v.shape[d]!) * v.stride[d]!;
      rem = Math.floor(rem / v.shape[d]!);
    }
    out.push(storage[at]!);
  }
  return out;
}

test('materialize gathers any strided view correctly', () => {
  const storage = Float32Array.from({ length: 64 }, (_, i) => i);
  const bytes = new Uint8Array(storage.buffer);
  const views: ViewLayout[] = [
    { dtype: 'float32', shape: [4, 4], stride: [4, 1], offset: 0 },
    { dtype: 'float32', shape: [4, 4], stride: [1, 4], offset: 3 },
    { dtype: 'float32', shape: [2, 3, 4], stride: [1, 16, 2], offset: 5 },
    { dtype: 'float32', shape: [3, 5], stride: [0, 1], offset: 7 },
    { dtype: 'float32', shape: [], stride: [], offset: 63 },
    { dtype: 'float32', shape: [0, 9], stride: [9, 1], offset: 0 },
    { dtype: 'float32', shape: [2, 1, 3], stride: [7, 100, 2], offset: 1 },
  ];
  for (const v of views) {
    const out = materialize(bytes, v);
    const got = Array.from(new Float32Array(out.slice().buffer));
    assert.deepEqual(got, naive(storage, v), JSON.stringify(v));
  }
  const contiguous = materialize(bytes, { dtype: 'float32', shape: [2, 2], stride: [2, 1], offset: 4 });
  assert.equal(contiguous.buffer, bytes.buffer, 'contiguous views are not copied');
});

test('checkView refuses views outside their storage or expanding too far', () => {
  const v = (shape: number[], stride: number[], offset = 0): ViewLayout => ({
    dtype: 'float32',
    shape,
    stride,
    offset,
  });
  assert.equal(checkView(v([4], [1]), 16), null);
  assert.match(checkView(v([5], [1]), 16)!, /reaches element 4/);
  assert.match(checkView(v([2], [1], 3), 16)!, /reaches element 4/);
  assert.match(checkView(v([2], [-1], 1), 16)!, /invalid stride/);
  assert.match(checkView(v([2], [1, 1]), 16)!, /differ in length/);
  assert.match(checkView(v([2], [1], -1), 16)!, /invalid storage offset/);
  assert.match(checkView(v([2 ** 40, 2 ** 40], [0, 0]), 16)!, /too large|expands/);
  assert.match(checkView(v([1000], [0]), 4, 100)!, /expands a 4-byte storage to 4000 bytes/);
  assert.equal(checkView(v([0], [1], 99), 0), null, 'empty views need no storage');
  assert.throws(() => materialize(new Uint8Array(4), v([2], [1])), ShapeError);
});

test('flattenTensors joins nested keys with dots', () => {
  const t = rawTensor('float32', [1]);
  const sd = new PyOrderedDict([['fc.weight', t]]);
  const tree = new Map<string | number, unknown>([
    ['state_dict', sd],
    ['opt', new Map([['state', new Map([[0, new Map([['m', t]])]])]])],
    ['list', [t]],
  ]);
  assert.deepEqual([...flattenTensors(tree as never).keys()], ['state_dict.fc.weight', 'opt.state.0.m', 'list.0']);
});
