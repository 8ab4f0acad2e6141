// Reductions with dims and keepdim against PyTorch: sum, mean, var/std with correction, max/min
// (whole and per dim with indices), argmax/argmin, logsumexp, vector norms, topk.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  argmax,
  argmin,
  logsumexp,
  maxDim,
  mean,
  minDim,
  norm,
  std,
  sum,
  tensor,
  topk,
  variance,
} from '../../src/tensor/index.ts';
import { type Impl, runFamily } from './_fixture.ts';

const impls: Record<string, Impl> = {
  sum_all: ({ x }) => x.sum(),
  sum_dim1: ({ x }) => x.sum(1),
  sum_dims_keepdim: ({ x }) => sum(x, [0, 2], true),
  sum_negdim: ({ x }) => x.sum(-1),
  sum_int: ({ a }) => a.sum(),
  sum_int_dim: ({ a }) => a.sum(0),
  sum_bool: ({ c }) => c.sum(),
  mean_all: ({ x }) => x.mean(),
  mean_dim_keepdim: ({ x }) => x.mean(1, true),
  mean_dims: ({ x }) => mean(x, [0, 2]),
  var_all: ({ x }) => x.var(),
  var_dim_c0: ({ x }) => x.var(1, { correction: 0 }),
  var_dim_c1: ({ x }) => variance(x, -1, { correction: 1 }),
  var_dims_c2_keepdim: ({ x }) => x.var([0, 2], { correction: 2, keepdim: true }),
  std_all: ({ x }) => x.std(),
  std_dim_c0: ({ x }) => x.std(1, { correction: 0 }),
  std_dim_c1: ({ x }) => std(x, -1, { correction: 1 }),
  std_dims_c2_keepdim: ({ x }) => x.std([0, 2], { correction: 2, keepdim: true }),
  max_all: ({ x }) => x.max(),
  min_all: ({ x }) => x.min(),
  max_dim: ({ x }) => maxDim(x, 1),
  max_dim_keepdim: ({ x }) => maxDim(x, -1, true),
  min_dim: ({ x }) => minDim(x, 0),
  min_dim_keepdim: ({ x }) => minDim(x, 2, true),
  argmax_all: ({ x }) => x.argmax(),
  argmax_dim: ({ x }) => x.argmax(1),
  argmax_dim_keepdim: ({ x }) => argmax(x, -1, true),
  argmin_all: ({ x }) => argmin(x),
  argmin_dim: ({ x }) => argmin(x, 2),
  logsumexp_dim: ({ x }) => x.logsumexp(1),
  logsumexp_dims_keepdim: ({ x }) => logsumexp(x, [0, 2], true),
  topk_largest: ({ x }) => topk(x, 2),
  topk_smallest_dim0: ({ x }) => topk(x, 1, 0, false),
};
for (const [p, tag] of [
  [1, 'p1'],
  [2, 'p2'],
  [Number.POSITIVE_INFINITY, 'inf'],
  [3, 'p3'],
] as const) {
  impls[`norm_${tag}_all`] = ({ x }) => x.norm(p);
  impls[`norm_${tag}_dim`] = ({ x }) => norm(x, p, 1);
  impls[`norm_${tag}_dims_keepdim`] = ({ x }) => x.norm(p, [0, 2], true);
}

runFamily('reduce', impls);

test('reductions of an empty dim follow PyTorch: sum 0, mean NaN', () => {
  const e = tensor(new Float32Array(0), { shape: [0, 3] });
  assert.deepEqual(e.sum(0).toArray(), [0, 0, 0]);
  assert.ok(Number.isNaN(e.mean().item()));
});

test('norm defaults to p=2 over every element', () => {
  assert.equal(tensor([3, 4]).norm().item(), 5);
});
