// The reparametrization on a module: weight_orig + weight_mask + a forward pre-hook, a training
// step that keeps pruned weights at zero (torch 1.13's numbers), remove, isPruned, sparsity.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as nn from '../../src/nn/index.ts';
import { SGD } from '../../src/optim/index.ts';
import * as prune from '../../src/prune/index.ts';
import { liveTensors, mseLoss, noGrad, ones, type Tensor } from '../../src/tensor/index.ts';
import { assertSame, bufferOf, cases, setParams, t } from './_fixtures.ts';

const weightOf = (m: nn.Module): Tensor => (m as nn.Linear).weight;

test('pruning moves weight to weight_orig (same Parameter) and adds weight_mask and a pre-hook', () => {
  const m = new nn.Linear(4, 3);
  const w = m.weight;
  prune.l1Unstructured(m, 'weight', 0.5);
  assert.equal(m.getParameter('weight'), undefined);
  assert.equal(m.getParameter('weight_orig'), w, 'the same Parameter object, so optimizers keep it');
  assert.deepEqual(
    m.parameters().map((p) => p === w),
    [false, true],
    'bias, weight_orig: as torch',
  );
  assert.ok(!(m.weight instanceof nn.Parameter), 'module.weight is a plain tensor');
  assert.equal(
    noGrad(() => m.weight.eq(0).sum().item()),
    6,
  );
  // forward uses the masked weight, recomputed from weight_orig before every call
  noGrad(() => w.fill_(2));
  const y = noGrad(() => m.call(ones([1, 4])));
  const mask = bufferOf(m, 'weight_mask');
  const rowsKept = mask.sum(1).toArray();
  const bias = m.bias!.toArray();
  for (const [i, v] of y.toArray().entries()) assert.ok(Math.abs(v - (2 * rowsKept[i]! + bias[i]!)) < 1e-5);
  assert.equal(prune.isPruned(m), true);
  assert.equal(prune.isPruned(new nn.Sequential(new nn.Linear(2, 2), m)), true);
  assert.equal(prune.isPruned(new nn.Linear(2, 2)), false);
});

test('a training step on a pruned Linear: gradient masked, pruned weights stay zero (torch numbers)', () => {
  const c = cases.train;
  const m = setParams(new nn.Linear(4, 3), c.params);
  prune.l1Unstructured(m, 'weight', 0.5);
  const opt = new SGD(m.parameters(), { lr: 0.1 });
  const loss = mseLoss(m.call(t(c.x)), t(c.target));
  assert.ok(Math.abs(loss.item() - c.loss) < 1e-6);
  loss.backward();
  const orig = m.getParameter('weight_orig')!;
  assertSame(orig.grad!, c.grad, 'weight_orig.grad (zero where pruned)');
  opt.step();
  noGrad(() => m.call(t(c.x)));
  for (const [got, want, what] of [
    [orig, c.weightOrig, 'weight_orig after the step'],
    [m.weight, c.weight, 'weight after the next forward'],
  ] as const) {
    assert.deepEqual(got.shape, want.shape);
    for (const [i, v] of got.toArray().entries()) assert.ok(Math.abs(v - want.data[i]!) < 1e-6, `${what} [${i}]`);
  }
  const mask = bufferOf(m, 'weight_mask').toArray();
  m.weight.toArray().forEach((v, i) => {
    if (mask[i] === 0) assert.equal(Math.abs(v), 0);
  });
});

test('remove bakes the mask in and restores the plain parameter at the end of the order', () => {
  const c = cases.remove;
  const m = setParams(new nn.Linear(4, 3), c.params);
  const w = m.weight;
  prune.l1Unstructured(m, 'weight', 0.5);
  assert.deepEqual([...m.stateDict().keys()], c.prunedKeys);
  prune.remove(m, 'weight');
  assert.deepEqual([...m.stateDict().keys()], c.keys);
  assert.equal(m.weight, w, 'the same Parameter object again');
  assert.equal(m.getParameter('weight'), w);
  assert.equal(m.weight.requiresGrad, c.isParameter);
  assertSame(m.weight, c.weight, 'baked weight');
  assert.equal(prune.isPruned(m), false);
  assert.throws(() => prune.remove(m, 'weight'), /has to be pruned before pruning can be removed/);
  // the hook is gone: forward uses the parameter itself
  noGrad(() => w.fill_(1));
  assert.equal(
    noGrad(() =>
      m
        .call(ones([1, 4]))
        .sub(m.bias!)
        .sum()
        .item(),
    ),
    12,
  );
});

test('sparsity reports per-layer and global zeros of what forward uses', () => {
  const net = new nn.Sequential(new nn.Linear(4, 5), new nn.ReLU(), new nn.Linear(5, 2), new nn.LayerNorm(2));
  prune.l1Unstructured(net.getSubmodule('0'), 'weight', 10);
  prune.lnStructured(net.getSubmodule('2'), 'weight', 2, 1, 0);
  prune.l1Unstructured(net.getSubmodule('2'), 'bias', 1);
  const r = prune.sparsity(net);
  assert.deepEqual(
    r.layers.map((l) => [l.name, l.numel, l.zeros, l.pruned]),
    [
      ['0.weight', 20, 10, true],
      ['2.weight', 10, 10, true],
      ['2.bias', 2, 1, true],
    ],
  );
  assert.equal(r.numel, 32);
  assert.equal(r.zeros, 21);
  assert.equal(r.sparsity, 21 / 32);
  // unpruned weights with 2+ dims count too; LayerNorm's 1-d weight does not
  const plain = prune.sparsity(new nn.Sequential(new nn.Linear(3, 3), new nn.LayerNorm(3)));
  assert.deepEqual(
    plain.layers.map((l) => [l.name, l.pruned, l.zeros]),
    [['0.weight', false, 0]],
  );
});

test('pruning refuses a parameter its forward cannot see, and importance scores of another shape', () => {
  class Hidden extends nn.Module {
    w: nn.Parameter;
    constructor() {
      super();
      this.w = this.registerParameter('weight', ones([2, 2]));
    }
    forward(x: Tensor): Tensor {
      return x.matmul(this.w);
    }
  }
  assert.throws(() => prune.l1Unstructured(new Hidden(), 'weight', 1), /in no field of that name/);
  assert.throws(
    () => prune.l1Unstructured(new nn.Linear(2, 2), 'weight', 1, { importanceScores: ones([3]) }),
    /importanceScores of shape \[3\]/,
  );
  // importance scores decide instead of |w|: prune where the scores are smallest
  const m = new nn.Linear(2, 2);
  prune.l1Unstructured(m, 'weight', 1, { importanceScores: t({ shape: [2, 2], data: [5, 5, 0.1, 5] }) });
  assert.deepEqual(bufferOf(m, 'weight_mask').toArray(), [1, 1, 0, 1]);
  assert.equal(Math.abs(weightOf(m).toArray()[2]!), 0, 'masked: 0 or -0');
});

test('each call frees the previous masked weight: repeated forwards hold no extra tensors', () => {
  const m = new nn.Linear(3, 3);
  prune.l1Unstructured(m, 'weight', 0.5);
  const x = ones([1, 3]);
  noGrad(() => m.call(x).dispose());
  const live = liveTensors();
  for (let i = 0; i < 5; i++) noGrad(() => m.call(x).dispose());
  assert.equal(liveTensors(), live);
});
