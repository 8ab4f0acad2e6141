// batch_norm (train: output and updated running statistics; eval), layer_norm, group_norm,
// embedding (padding_idx) against PyTorch; dropout statistics.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { F, manualSeed, ones, randn, tensor, zeros } from '../../src/tensor/index.ts';
import { assertClose, type Impl, runFamily } from './_fixture.ts';

const { batchNorm, layerNorm, groupNorm, embedding, dropout } = F;

const impls: Record<string, Impl> = {
  batch_norm_train: ({ x, w, b, rm, rv }) => [batchNorm(x, rm, rv, w, b, true), rm, rv],
  batch_norm_train_momentum: ({ x, w, b, rm, rv }) => [batchNorm(x, rm, rv, w, b, true, 0.3, 1e-3), rm, rv],
  batch_norm_train_2d: ({ x, w, b, rm, rv }) => [batchNorm(x, rm, rv, w, b, true), rm, rv],
  batch_norm_train_noaffine: ({ x, rm, rv }) => [batchNorm(x, rm, rv, undefined, undefined, true), rm, rv],
  batch_norm_eval: ({ x, w, b, rm, rv }) => [batchNorm(x, rm, rv, w, b, false), rm, rv],
  batch_norm_train_no_running: ({ x, w, b }) => batchNorm(x, undefined, undefined, w, b, true),
  layer_norm_last: ({ x, w, b }) => layerNorm(x, [4], w, b),
  layer_norm_last2: ({ x, w, b }) => layerNorm(x, [3, 4], w, b),
  layer_norm_noaffine_eps: ({ x }) => layerNorm(x, [4], undefined, undefined, 1e-3),
  group_norm_2: ({ x, w, b }) => groupNorm(x, 2, w, b),
  group_norm_1_noaffine: ({ x }) => groupNorm(x, 1),
  group_norm_3_eps: ({ x, w, b }) => groupNorm(x, 3, w, b, 1e-3),
  embedding: ({ i, w }) => embedding(i, w),
  embedding_padding0: ({ i, w }) => embedding(i, w, 0),
  embedding_padding_neg: ({ i, w }) => embedding(i, w, -1),
  dropout_p0_train: ({ x }) => dropout(x, 0, true),
  dropout_eval: ({ x }) => dropout(x, 0.5, false),
};

runFamily('norm', impls);

test('batch_norm train: running statistics after two steps follow momentum exactly (unbiased var)', () => {
  const rm = zeros([2]);
  const rv = ones([2]);
  const x1 = tensor([
    [1, 2],
    [3, 6],
  ]);
  const x2 = tensor([
    [5, 0],
    [7, 4],
  ]);
  batchNorm(x1, rm, rv, undefined, undefined, true, 0.1);
  batchNorm(x2, rm, rv, undefined, undefined, true, 0.1);
  // step 1: mean [2, 4], var (n-1) [2, 8]; step 2: mean [6, 2], var [2, 8]
  const m1 = [0.2, 0.4];
  const v1 = [0.9 + 0.2, 0.9 + 0.8];
  const m2 = m1.map((m, i) => 0.9 * m + 0.1 * [6, 2][i]!);
  const v2 = v1.map((v, i) => 0.9 * v + 0.1 * [2, 8][i]!);
  assertClose(rm.toArray(), m2, 1e-6, 'running_mean');
  assertClose(rv.toArray(), v2, 1e-6, 'running_var');
});

test('dropout: mean preserved, zero fraction p, survivors scaled by 1/(1-p), gradient is the mask', () => {
  const p = 0.3;
  const n = 200_000;
  const x = ones([n]).requiresGrad_();
  const y = dropout(x, p, true);
  const v = y.toArray();
  const zerosFrac = v.filter((e) => e === 0).length / n;
  const mean = v.reduce((a, b) => a + b, 0) / n;
  assert.ok(Math.abs(zerosFrac - p) < 0.01, `zero fraction ${zerosFrac}`);
  assert.ok(Math.abs(mean - 1) < 0.01, `mean ${mean}`);
  const scale = Math.fround(1 / (1 - p));
  assert.ok(
    v.every((e) => e === 0 || Math.abs(e - scale) < 1e-6),
    'survivors are scaled by 1/(1-p)',
  );
  y.sum().backward();
  assert.deepEqual(x.grad!.toArray(), v);
});

test('dropout: p=0 and eval mode are the identity; p=1 zeroes everything; masks differ between calls', () => {
  const x = randn([4, 5]);
  assert.deepEqual(dropout(x, 0, true).toArray(), x.toArray());
  assert.deepEqual(dropout(x, 0.5, false).toArray(), x.toArray());
  assert.ok(
    dropout(x, 1, true)
      .toArray()
      .every((v) => v === 0),
  );
  const big = ones([1000]);
  assert.notDeepEqual(dropout(big, 0.5).toArray(), dropout(big, 0.5).toArray());
  manualSeed(3);
  const a = dropout(big, 0.5).toArray();
  manualSeed(3);
  assert.deepEqual(dropout(big, 0.5).toArray(), a);
});

test('embedding with float indices is a TorchError naming the op', () => {
  assert.throws(
    () => embedding(tensor([0, 1]), randn([3, 2])),
    (e: Error) => e.name === 'TorchError' && /embedding/.test(e.message),
  );
});
