// Elementwise math, type promotion, comparisons, where/clamp, matrix products, in-place ops and
// conversions against PyTorch, with gradients (PyTorch's and finite differences).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addcdiv_,
  addcmul_,
  addmm,
  bmm,
  clamp,
  lerp_,
  linear,
  matmul,
  maximum,
  minimum,
  mm,
  type Tensor,
  tensor,
  unary,
  where,
  zeros,
} from '../../src/tensor/index.ts';
import type { Impl } from './_fixture.ts';
import { runFamily } from './_fixture.ts';

const UNARY: Parameters<typeof unary>[0][] = [
  'neg',
  'exp',
  'sin',
  'cos',
  'tanh',
  'sigmoid',
  'erf',
  'abs',
  'expm1',
  'sign',
  'floor',
  'ceil',
  'round',
  'log',
  'sqrt',
  'rsqrt',
  'log1p',
  'reciprocal',
  'logical_not',
  'isnan',
  'isinf',
  'isfinite',
];
const CMP = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;

const impls: Record<string, Impl> = {
  add_broadcast: ({ a, b }) => a.add(b),
  add_alpha: ({ a, b }) => a.add(b, 2),
  add_scalar: ({ a }) => a.add(2.5),
  add_scalar_alpha: ({ a }) => a.add(2.5, -1.5),
  sub_broadcast_3d: ({ a, b }) => a.sub(b),
  sub_alpha: ({ a, b }) => a.sub(b, 0.5),
  sub_scalar: ({ a }) => a.sub(1.25),
  mul_broadcast: ({ a, b }) => a.mul(b),
  mul_scalar: ({ a }) => a.mul(-3),
  div_broadcast: ({ a, b }) => a.div(b),
  div_scalar: ({ a }) => a.div(4),
  pow_tensor: ({ a, b }) => a.pow(b),
  pow_scalar_2: ({ a }) => a.pow(2),
  pow_scalar_3_negative_base: ({ a }) => a.pow(3),
  pow_scalar_half: ({ a }) => a.pow(0.5),
  pow_scalar_neg: ({ a }) => a.pow(-1.5),
  int_add: ({ a, b }) => a.add(b),
  int_add_float_scalar: ({ a }) => a.add(0.5),
  int_mul_int_scalar: ({ a }) => a.mul(3),
  int_div_true: ({ a, b }) => a.div(b),
  int32_mul_int64: ({ a, b }) => a.mul(b),
  uint8_add_wraps: ({ a, b }) => a.add(b),
  float_add_int_tensor: ({ a, b }) => a.add(b),
  float64_add_float32: ({ a, b }) => a.add(b),
  where_tensor: ({ c, a, b }) => where(c, a, b),
  where_scalar_other: ({ c, a }) => where(c, a, 0.5),
  where_scalar_self: ({ c, b }) => where(c, -1.5, b),
  where_float_scalars: ({ c }) => where(c, 1.5, -2.5),
  where_int_scalars: ({ c }) => where(c, 1, 0),
  clamp_both: ({ x }) => clamp(x, -0.5, 0.5),
  clamp_min: ({ x }) => x.clamp(0.1),
  clamp_max: ({ x }) => x.clamp(undefined, -0.2),
  clamp_inplace: ({ x }) => x.clone().clamp_(-0.2, 0.3),
  maximum: ({ a, b }) => maximum(a, b),
  minimum: ({ a, b }) => minimum(a, b),
  matmul_dot: ({ a, b }) => matmul(a, b),
  matmul_mv: ({ a, b }) => a.matmul(b),
  matmul_vm: ({ a, b }) => a.matmul(b),
  matmul_mm: ({ a, b }) => a.matmul(b),
  matmul_batched_broadcast: ({ a, b }) => matmul(a, b),
  mm: ({ a, b }) => mm(a, b),
  bmm: ({ a, b }) => bmm(a, b),
  addmm: ({ c, a, b }) => addmm(c, a, b),
  addmm_beta_alpha: ({ c, a, b }) => addmm(c, a, b, 0.5, 2),
  linear: ({ x, w, b }) => linear(x, w, b),
  linear_nobias: ({ x, w }) => linear(x, w),
  linear_3d: ({ x, w, b }) => linear(x, w, b),
  inplace_add_alpha: ({ a, b }) => a.clone().add_(b, -2),
  inplace_sub_scalar: ({ a }) => a.clone().sub_(1.5),
  inplace_mul_broadcast: ({ a, b }) => a.clone().mul_(b),
  inplace_div_scalar: ({ a }) => a.clone().div_(3),
  inplace_copy_broadcast: ({ a, b }) => a.clone().copy_(b),
  inplace_fill: ({ a }) => a.clone().fill_(2.5),
  inplace_zero: ({ a }) => a.clone().zero_(),
  inplace_addcmul: ({ a, b, c }) => addcmul_(a.clone(), b, c, 0.5),
  inplace_addcdiv: ({ a, b, c }) => addcdiv_(a.clone(), b, c, -2),
  inplace_lerp: ({ a, b }) => lerp_(a.clone(), b, 0.3),
  to_int64: ({ x }) => x.to('int64'),
  to_float64: ({ x }) => x.double(),
  to_bfloat16: ({ x }) => x.to('bfloat16'),
  to_float16: ({ x }) => x.to({ dtype: 'float16' }),
  to_bool: ({ x }) => x.to('bool'),
  to_uint8: ({ x }) => x.abs().to('uint8'),
  int_to_float: ({ a }) => a.float(),
  bfloat16_roundtrip: ({ x }) => x.to('bfloat16').float(),
};
for (const u of UNARY) impls[`unary_${u}`] = ({ x }) => unary(u, x);
for (const c of CMP) {
  impls[`cmp_${c}`] = ({ a, b }) => a[c](b);
  impls[`cmp_${c}_scalar`] = ({ a }) => a[c](1);
}

runFamily('math', impls);

test('Tensor methods for unary ops agree with unary()', () => {
  const x = tensor([0.5, 1.5, 2.25]);
  for (const m of ['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sign'] as const)
    assert.deepEqual(x[m]().toArray(), unary(m, x).toArray(), m);
});

test('in-place ops return the same object and write through views', () => {
  const base = zeros([2, 3]);
  const row = base.select(0, 1);
  const r = row.add_(2);
  assert.equal(r, row);
  assert.deepEqual(base.toArray(), [0, 0, 0, 2, 2, 2]);
  const col = base.slice(1, 0, 1);
  col.fill_(-1);
  assert.deepEqual(base.toArray(), [-1, 0, 0, -1, 2, 2]);
  assert.equal(base.mul_(2), base);
  assert.deepEqual(base.toArray(), [-2, 0, 0, -2, 4, 4]);
});

test('in-place ops on a leaf that requires grad throw, and the tensor stays usable', () => {
  const w = tensor([1, 2]).requiresGrad_();
  assert.throws(() => w.add_(1), /leaf Variable that requires grad/);
  assert.deepEqual(w.add(1).toArray(), [2, 3]);
});

test('the float32 default for JS numbers: int tensors promote with float scalars, stay int with int scalars', () => {
  const i = tensor([1, 2], { dtype: 'int64' });
  assert.equal(i.mul(2).dtype, 'int64');
  assert.equal(i.mul(2.5).dtype, 'float32');
  assert.equal(i.div(2).dtype, 'float32');
  assert.equal(tensor([1, 2], { dtype: 'int32' }).add(tensor([1, 2], { dtype: 'int64' })).dtype, 'int64');
});

test('toArray/data/tolist round-trip every dtype', () => {
  const vals: Record<string, number[]> = {
    float32: [1.5, -2],
    float64: [1.5, -2],
    float16: [1.5, -2],
    bfloat16: [1.5, -2],
    int64: [7, -8],
    int32: [7, -8],
    int16: [7, -8],
    int8: [7, -8],
    uint8: [7, 8],
    bool: [1, 0],
  };
  for (const [dt, v] of Object.entries(vals)) {
    const t: Tensor = tensor(v, { dtype: dt as never });
    assert.equal(t.dtype, dt);
    assert.deepEqual(t.toArray(), v, dt);
  }
});
