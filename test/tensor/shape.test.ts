// Views and shape ops against PyTorch (values, shapes, gradients), plus view aliasing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arange, cat, chunk, split, stack, tensor, zeros } from '../../src/tensor/index.ts';
import { type Impl, runFamily } from './_fixture.ts';

const impls: Record<string, Impl> = {
  reshape: ({ x }) => x.reshape(6, 4),
  reshape_infer: ({ x }) => x.reshape([-1, 2]),
  view: ({ x }) => x.view(4, 6),
  permute: ({ x }) => x.permute(2, 0, 1),
  transpose: ({ x }) => x.transpose(0, 2),
  T_2d: ({ x }) => x.T,
  narrow: ({ x }) => x.narrow(1, 1, 2),
  slice_step: ({ x }) => x.slice(1, undefined, undefined, 2),
  slice_range_step: ({ x }) => x.slice(2, 1, 4, 2),
  slice_negative_start: ({ x }) => x.slice(1, -2),
  select_neg: ({ x }) => x.select(1, -1),
  index_select: ({ x, i }) => x.indexSelect(2, i),
  gather: ({ x, i }) => x.gather(1, i),
  scatter_src: ({ x, i, s }) => x.scatter(0, i, s),
  scatter_value: ({ x, i }) => x.scatter(1, i, 2.5),
  masked_fill_scalar: ({ x, m }) => x.maskedFill(m, -1),
  masked_fill_tensor: ({ x, m, v }) => x.maskedFill(m, v),
  cat_dim0: ({ a, b }) => cat([a, b]),
  cat_dim1_three: ({ a, b, c }) => cat([a, b, c], 1),
  cat_negdim: ({ a, b }) => cat([a, b], -1),
  stack_dim0: ({ a, b }) => stack([a, b]),
  stack_dim_last: ({ a, b }) => stack([a, b], -1),
  split_int: ({ x }) => x.split(2),
  split_sizes: ({ x }) => split(x, [1, 4]),
  split_dim1: ({ x }) => x.split(1, 1),
  chunk_uneven: ({ x }) => x.chunk(3),
  chunk_dim1: ({ x }) => chunk(x, 2, 1),
  squeeze_all: ({ x }) => x.squeeze(),
  squeeze_dim: ({ x }) => x.squeeze(1),
  squeeze_noop: ({ x }) => x.squeeze(0),
  unsqueeze_0: ({ x }) => x.unsqueeze(0),
  unsqueeze_neg: ({ x }) => x.unsqueeze(-1),
  expand: ({ x }) => x.expand(3, 4),
  expand_keep: ({ x }) => x.expand([2, -1]),
  expand_new_dim: ({ x }) => x.expand(2, 3),
  flatten_all: ({ x }) => x.flatten(),
  flatten_start: ({ x }) => x.flatten(1),
  flatten_range: ({ x }) => x.flatten(1, 2),
  contiguous_transposed: ({ x }) => x.transpose(0, 1).contiguous(),
  clone: ({ x }) => x.clone(),
};

runFamily('shape', impls);

test('views share storage with their base; clone and contiguous-of-a-transpose do not', () => {
  const base = arange(0, 6, 1, { dtype: 'float32' }).reshape(2, 3);
  const views = [base.view(3, 2), base.transpose(0, 1), base.narrow(1, 0, 2), base.select(0, 0), base.expand(2, 2, 3)];
  const copy = base.clone();
  const contiguous = base.T.contiguous();
  base.add_(10);
  for (const v of views)
    assert.ok(
      v.toArray().every((x) => x >= 10),
      String(v),
    );
  assert.deepEqual(copy.toArray(), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(contiguous.toArray(), [0, 3, 1, 4, 2, 5]);
  assert.deepEqual(base.T.strides(), [1, 3]);
  assert.deepEqual(contiguous.strides(), [2, 1]);
});

test('view of a non-contiguous tensor throws and names the op; reshape copies instead', () => {
  const t = zeros([2, 3]).T;
  assert.throws(() => t.view(6), /aten::view/);
  assert.deepEqual(t.reshape(6).shape, [6]);
});

test('detach shares storage and drops the graph', () => {
  const x = tensor([1, 2]).requiresGrad_();
  const y = x.mul(2);
  const d = y.detach();
  assert.equal(d.requiresGrad, false);
  assert.equal(d.gradFn, undefined);
  assert.deepEqual(d.toArray(), [2, 4]);
});

test('cat and stack reject an empty list with an ArgumentError', () => {
  assert.throws(() => cat([]), /at least one tensor/);
  assert.throws(() => stack([]), /at least one tensor/);
});
