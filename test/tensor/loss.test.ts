// Losses against PyTorch: cross_entropy (weights, ignore_index, label_smoothing, probability
// targets, every reduction, spatial), nll, mse, l1, smooth_l1 (beta), BCE with logits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  binaryCrossEntropyWithLogits,
  crossEntropy,
  l1Loss,
  mseLoss,
  nllLoss,
  type Reduction,
  randn,
  smoothL1Loss,
  tensor,
} from '../../src/tensor/index.ts';
import { type Impl, runFamily } from './_fixture.ts';

const impls: Record<string, Impl> = {
  ce_ignore_default: ({ x, t }) => crossEntropy(x, t),
  ce_ignore_custom: ({ x, t }) => crossEntropy(x, t, { ignoreIndex: 2 }),
  ce_smooth: ({ x, t }) => crossEntropy(x, t, { labelSmoothing: 0.1 }),
  ce_prob_smooth: ({ x, t }) => crossEntropy(x, t, { labelSmoothing: 0.1 }),
  ce_prob_weight: ({ x, t, w }) => crossEntropy(x, t, { weight: w }),
  ce_spatial_weight: ({ x, t, w }) => crossEntropy(x, t, { weight: w }),
  nll_weight_ignore: ({ x, t, w }) => nllLoss(x, t, { weight: w, ignoreIndex: 4 }),
  nll_spatial: ({ x, t }) => nllLoss(x, t),
  smooth_l1_beta05: ({ x, y }) => smoothL1Loss(x, y, { beta: 0.5 }),
  smooth_l1_beta2_sum: ({ x, y }) => smoothL1Loss(x, y, { reduction: 'sum', beta: 2 }),
  smooth_l1_beta0: ({ x, y }) => smoothL1Loss(x, y, { beta: 0 }),
  bce_logits_weight: ({ x, y, w }) => binaryCrossEntropyWithLogits(x, y, { weight: w }),
  bce_logits_pos_weight: ({ x, y, p }) => binaryCrossEntropyWithLogits(x, y, { posWeight: p }),
  bce_logits_weight_pos_weight_sum: ({ x, y, w, p }) =>
    binaryCrossEntropyWithLogits(x, y, { weight: w, posWeight: p, reduction: 'sum' }),
};
for (const reduction of ['mean', 'sum', 'none'] as Reduction[]) {
  const r = reduction;
  impls[`ce_${r}`] = ({ x, t }) => crossEntropy(x, t, { reduction: r });
  impls[`ce_weight_${r}`] = ({ x, t, w }) => crossEntropy(x, t, { weight: w, reduction: r });
  impls[`ce_smooth_weight_ignore_${r}`] = ({ x, t, w }) =>
    crossEntropy(x, t, { weight: w, reduction: r, labelSmoothing: 0.2 });
  impls[`ce_prob_${r}`] = ({ x, t }) => crossEntropy(x, t, { reduction: r });
  impls[`nll_${r}`] = ({ x, t }) => nllLoss(x, t, { reduction: r });
  impls[`mse_${r}`] = ({ x, y }) => mseLoss(x, y, r);
  impls[`l1_${r}`] = ({ x, y }) => l1Loss(x, y, r);
  impls[`smooth_l1_${r}`] = ({ x, y }) => smoothL1Loss(x, y, { reduction: r });
  impls[`bce_logits_${r}`] = ({ x, y }) => binaryCrossEntropyWithLogits(x, y, { reduction: r });
}

runFamily('loss', impls);

test('an unknown reduction is an ArgumentError before reaching libtorch', () => {
  assert.throws(() => mseLoss(randn([2]), randn([2]), 'avg' as Reduction), /reduction 'avg'/);
});

test('cross_entropy with a float index target of the wrong shape, or a class out of range, is a TorchError', () => {
  const x = randn([2, 3]);
  assert.throws(
    () => crossEntropy(x, tensor([0, 5], { dtype: 'int64' })),
    (e: Error) => e.name === 'TorchError',
  );
  assert.throws(
    () => crossEntropy(x, tensor([0.5, 1])),
    (e: Error) => e.name === 'TorchError' && /cross_entropy/.test(e.message),
  );
  assert.ok(Number.isFinite(crossEntropy(x, tensor([0, 2], { dtype: 'int64' })).item()));
});
