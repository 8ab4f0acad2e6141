// The _foreach_ family (list, scalar and scalar-list overloads) and autocast (bf16 on CPU)
// against PyTorch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  autocast,
  bmm,
  F,
  foreach,
  linear,
  matmul,
  mseLoss,
  ones,
  randn,
  type Tensor,
  tensor,
} from '../../src/tensor/index.ts';
import { type Impl, type Inputs, runFamily } from './_fixture.ts';

type Lists = { a: Tensor[]; b: Tensor[]; c: Tensor[] };
const lists = (x: Inputs): Lists => ({
  a: [x.a0!, x.a1!],
  b: x.b0 ? [x.b0, x.b1!] : [],
  c: x.c0 ? [x.c0, x.c1!] : [],
});
/** Runs an in-place update on the `a` list and returns it (or the op's own result). */
const fe =
  (fn: (l: Lists) => unknown): Impl =>
  (x) => {
    const l = lists(x);
    const r = fn(l);
    return Array.isArray(r) ? (r as Tensor[]) : l.a;
  };

runFamily('foreach', {
  add_list_alpha: fe(({ a, b }) => foreach.add_(a, b, 0.5)),
  add_scalar: fe(({ a }) => foreach.add_(a, 1.5)),
  add_scalarlist: fe(({ a }) => foreach.add_(a, [1.5, -2.0])),
  sub_list: fe(({ a, b }) => foreach.sub_(a, b)),
  sub_scalar: fe(({ a }) => foreach.sub_(a, 0.25)),
  mul_list: fe(({ a, b }) => foreach.mul_(a, b)),
  mul_scalar: fe(({ a }) => foreach.mul_(a, -3)),
  mul_scalarlist: fe(({ a }) => foreach.mul_(a, [0.5, 4])),
  div_list: fe(({ a, c }) => foreach.div_(a, c)),
  div_scalar: fe(({ a }) => foreach.div_(a, 8)),
  addcmul_scalar: fe(({ a, b, c }) => foreach.addcmul_(a, b, c, 0.5)),
  addcmul_scalarlist: fe(({ a, b, c }) => foreach.addcmul_(a, b, c, [0.5, -1.5])),
  addcdiv_scalar: fe(({ a, b, c }) => foreach.addcdiv_(a, b, c, -0.1)),
  addcdiv_scalarlist: fe(({ a, b, c }) => foreach.addcdiv_(a, b, c, [0.1, 2.5])),
  lerp: fe(({ a, b }) => foreach.lerp_(a, b, 0.25)),
  zero: fe(({ a }) => foreach.zero_(a)),
  sqrt_inplace: fe(({ c }) => {
    foreach.sqrt_(c);
    return c;
  }),
  maximum_inplace: fe(({ a, b }) => foreach.maximum_(a, b)),
  sqrt: fe(({ c }) => foreach.sqrt(c)),
  norm_p2: fe(({ a }) => foreach.norm(a)),
  norm_p1: fe(({ a }) => foreach.norm(a, 1)),
  addcdiv_out_of_place: fe(({ a, b, c }) => foreach.addcdiv(a, b, c, 0.5)),
});

test('foreach ops on empty lists are no-ops; mismatched list lengths throw', () => {
  foreach.add_([], []);
  assert.deepEqual(foreach.norm([]), []);
  assert.throws(
    () => foreach.add_([ones([2]), ones([2])], [ones([2])]),
    (e: Error) => e.name === 'TorchError',
  );
  assert.throws(() => foreach.lerp_([ones([2]), ones([2])], [ones([2])], 0.5));
});

runFamily('autocast', {
  matmul: ({ a, b }) => autocast(() => matmul(a, b)),
  linear: ({ x, w, b }) => autocast(() => linear(x, w, b)),
  conv2d: ({ x, w, b }) => autocast(() => F.conv2d(x, w, b, { padding: 1 })),
  bmm: ({ a, b }) => autocast(() => bmm(a, b)),
  add_stays_float32: ({ a, b }) => autocast(() => a.add(b)),
  mse_runs_in_float32: ({ a, b, t }) => autocast(() => mseLoss(matmul(a, b), t)),
  disabled_inside: ({ a, b }) => autocast(() => autocast(() => matmul(a, b), { enabled: false })),
});

test('autocast restores the previous state on exit, after nesting, and after a throw', () => {
  const [a, b] = [randn([2, 3]), randn([3, 2])];
  assert.equal(matmul(a, b).dtype, 'float32');
  autocast(() => {
    assert.equal(matmul(a, b).dtype, 'bfloat16');
    autocast(() => assert.equal(matmul(a, b).dtype, 'float32'), { enabled: false });
    assert.equal(matmul(a, b).dtype, 'bfloat16');
  });
  assert.equal(matmul(a, b).dtype, 'float32');
  assert.throws(() =>
    autocast(() => {
      throw new Error('boom');
    }),
  );
  assert.equal(matmul(a, b).dtype, 'float32');
});

test('autocast: float16 on cpu and async functions are rejected', () => {
  assert.throws(() => autocast(() => 1, { dtype: 'float16' }), /bfloat16/);
  assert.throws(() => autocast((async () => 1) as () => unknown), /synchronous/);
  assert.equal(matmul(tensor([[1]]), tensor([[2]])).dtype, 'float32');
});
