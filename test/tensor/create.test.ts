// Creation ops and dtypes against PyTorch; manualSeed reproducibility; tensor() from JS data.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentError } from '../../src/errors.ts';
import {
  arange,
  type DType,
  eye,
  F,
  full,
  fullLike,
  linspace,
  manualSeed,
  ones,
  onesLike,
  rand,
  randint,
  randn,
  randperm,
  scalarTensor,
  tensor,
  zeros,
  zerosLike,
} from '../../src/tensor/index.ts';
import { fixCase, type Impl, runFamily } from './_fixture.ts';

const DTYPES: DType[] = [
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'bool',
];

const seeded = <T>(seed: number, fn: () => T): T => {
  manualSeed(seed);
  return fn();
};

const impls: Record<string, Impl> = {
  arange_end: () => arange(5),
  arange_start_end_step: () => arange(2, 11, 3),
  arange_neg_step: () => arange(5, -2, -2),
  arange_float_step: () => arange(0, 1, 0.25),
  arange_float_start: () => arange(0.5, 3),
  arange_float64: () => arange(0, 3, 1, { dtype: 'float64' }),
  arange_int32: () => arange(1, 7, 2, { dtype: 'int32' }),
  linspace_5: () => linspace(0, 1, 5),
  linspace_float64: () => linspace(-1, 2, 7, { dtype: 'float64' }),
  linspace_1: () => linspace(3, 10, 1),
  eye_3: () => eye(3),
  eye_int64: () => eye(2, { dtype: 'int64' }),
  full_default: () => full([2, 3], 1.5),
  full_int64: () => full([2], 7, { dtype: 'int64' }),
  full_bool: () => full([3], 1, { dtype: 'bool' }),
  zeros_empty: () => zeros([0, 3]),
  zeros_like_int64: ({ x }) => zerosLike(x, { dtype: 'int64' }),
  ones_like: ({ x }) => onesLike(x),
  full_like: ({ x }) => fullLike(x, 2.5),
  seed0_randn5: () => seeded(0, () => randn([5])),
  seed0_rand4: () => seeded(0, () => rand([4])),
  seed0_randint: () => seeded(0, () => randint(0, 10, [6])),
  seed0_randperm: () => seeded(0, () => randperm(6)),
  seed0_randn_float64: () => seeded(0, () => randn([4], { dtype: 'float64' })),
  seed42_randn_twice: () => seeded(42, () => [randn([3]), randn([2, 2])]),
  seed0_dropout: () => seeded(0, () => F.dropout(ones([16]), 0.5)),
};
for (const dt of DTYPES) {
  impls[`zeros_${dt}`] = () => zeros([2, 3], { dtype: dt });
  impls[`ones_${dt}`] = () => ones([3], { dtype: dt });
}

runFamily('create', impls);

test('manualSeed: the same seed gives the same randn in two calls, another seed differs', () => {
  manualSeed(7);
  const a = randn([6]).toArray();
  manualSeed(7);
  const b = randn([6]).toArray();
  manualSeed(8);
  const c = randn([6]).toArray();
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('manualSeed(0); randn([5]) equals torch.manual_seed(0); torch.randn(5) bit for bit', () => {
  const want = fixCase('create', 'seed0_randn5').outputs[0]!.data as number[];
  const got = seeded(0, () => randn([5]).toArray());
  assert.deepEqual(
    got.map((v) => Math.fround(v)),
    want.map((v) => Math.fround(v)),
  );
});

test('manualSeed rejects negative and fractional seeds', () => {
  assert.throws(() => manualSeed(-1), ArgumentError);
  assert.throws(() => manualSeed(1.5), ArgumentError);
});

test('tensor() from nested arrays infers the shape; numbers are float32, booleans bool', () => {
  const t = tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assert.deepEqual(t.shape, [2, 3]);
  assert.equal(t.dtype, 'float32');
  assert.deepEqual(t.tolist(), [
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const b = tensor([true, false, true]);
  assert.equal(b.dtype, 'bool');
  assert.deepEqual(b.tolist(), [true, false, true]);
  const s = scalarTensor(2.5);
  assert.deepEqual(s.shape, []);
  assert.equal(s.item(), 2.5);
  assert.equal(s.tolist(), 2.5);
});

test('tensor() with a dtype, and from typed arrays (dtype from the array type)', () => {
  const cases: [ArrayBufferView, DType][] = [
    [new Float32Array([1.5, -2]), 'float32'],
    [new Float64Array([1.5, -2]), 'float64'],
    [new BigInt64Array([3n, -4n]), 'int64'],
    [new Int32Array([3, -4]), 'int32'],
    [new Int16Array([3, -4]), 'int16'],
    [new Int8Array([3, -4]), 'int8'],
    [new Uint8Array([3, 250]), 'uint8'],
  ];
  for (const [arr, dt] of cases) {
    const t = tensor(arr);
    assert.equal(t.dtype, dt);
    assert.deepEqual(t.shape, [2]);
    assert.deepEqual(
      t.toArray(),
      Array.from(arr as unknown as ArrayLike<number | bigint>, (v) => Number(v)),
    );
  }
  assert.deepEqual(tensor([1.7, -2.2], { dtype: 'int64' }).toArray(), [1, -2]);
  assert.deepEqual(tensor([0.1, 1], { dtype: 'bfloat16' }).toArray(), [0.10009765625, 1]);
  assert.deepEqual(tensor([0.1, 1], { dtype: 'float16' }).toArray(), [0.0999755859375, 1]);
  assert.deepEqual(tensor(new Float32Array(6), { shape: [2, 3] }).shape, [2, 3]);
  assert.ok(tensor(new Float32Array(6)).data() instanceof Float32Array);
  assert.ok(tensor([1], { dtype: 'int64' }).data() instanceof BigInt64Array);
});

test('tensor() rejects ragged arrays, a typed array whose size does not fit the shape, and unknown dtypes', () => {
  assert.throws(() => tensor([[1, 2], [3]]), ArgumentError);
  assert.throws(() => tensor(new Float32Array(5), { shape: [2, 3] }), ArgumentError);
  assert.throws(() => zeros([2], { dtype: 'float8' as DType }), ArgumentError);
  assert.throws(() => zeros([2, -1]), ArgumentError);
  assert.throws(() => zeros([1.5]), ArgumentError);
});

test('creation options: requiresGrad makes a leaf; zero-size tensors work', () => {
  const t = zeros([2, 2], { requiresGrad: true });
  assert.equal(t.requiresGrad, true);
  assert.equal(t.isLeaf, true);
  const e = zeros([0, 3]);
  assert.equal(e.numel(), 0);
  assert.deepEqual(e.toArray(), []);
  assert.equal(e.sum().item(), 0);
});

test('metadata: ndim, size(), numel(), strides(), device, isFloatingPoint', () => {
  const t = zeros([2, 3, 4]);
  assert.equal(t.ndim, 3);
  assert.equal(t.size(-1), 4);
  assert.equal(t.numel(), 24);
  assert.deepEqual(t.strides(), [12, 4, 1]);
  assert.deepEqual(t.transpose(0, 2).strides(), [1, 4, 12]);
  assert.equal(t.device, 'cpu');
  assert.equal(t.isFloatingPoint, true);
  assert.equal(arange(3).isFloatingPoint, false);
  assert.throws(() => t.size(3), ArgumentError);
});
