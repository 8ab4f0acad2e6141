// Masks against torch.nn.utils.prune (torch 1.13) on fixed weights with many |w| ties: single
// methods, iterative pruning (PruningContainer), global L1, random with the same seed; amounts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentError, ShapeError } from '../../src/errors.ts';
import * as nn from '../../src/nn/index.ts';
import { pyRound } from '../../src/prune/amount.ts';
import * as prune from '../../src/prune/index.ts';
import { manualSeed, ones } from '../../src/tensor/index.ts';
import { assertSame, bufferOf, cases, setParams } from './_fixtures.ts';

// the module each single case was built on, and the call that prunes it, as in the fixture script
const SINGLE: Record<string, [() => nn.Module, (m: nn.Module) => void]> = {
  'l1 0.3 linear': [() => new nn.Linear(6, 4), (m) => prune.l1Unstructured(m, 'weight', 0.3)],
  'l1 count 5 linear': [() => new nn.Linear(6, 4), (m) => prune.l1Unstructured(m, 'weight', 5)],
  'l1 0.5 bias of 5 (round half to even)': [() => new nn.Linear(3, 5), (m) => prune.l1Unstructured(m, 'bias', 0.5)],
  'l1 0.7 conv': [() => new nn.Conv2d(3, 4, 2), (m) => prune.l1Unstructured(m, 'weight', 0.7)],
  'ln n=2 dim=0 0.5 conv': [() => new nn.Conv2d(3, 4, 2), (m) => prune.lnStructured(m, 'weight', 0.5, 2, 0)],
  'ln n=1 dim=1 count 1 conv': [() => new nn.Conv2d(3, 4, 2), (m) => prune.lnStructured(m, 'weight', 1, 1, 1)],
  'ln n=inf dim=-1 0.4 linear': [
    () => new nn.Linear(5, 4),
    (m) => prune.lnStructured(m, 'weight', 0.4, Number.POSITIVE_INFINITY, -1),
  ],
  'identity linear': [() => new nn.Linear(3, 2), (m) => prune.identity(m, 'weight')],
};

test('each single method gives torch 1.13 mask bit for bit, ties included', () => {
  assert.deepEqual(
    cases.single.map((c) => c.label),
    Object.keys(SINGLE),
  );
  for (const c of cases.single) {
    const [make, apply] = SINGLE[c.label]!;
    const m = setParams(make(), c.params);
    apply(m);
    assertSame(bufferOf(m, `${c.name}_mask`), c.mask, c.label);
    assert.deepEqual([...m.stateDict().keys()], c.keys, `${c.label}: state-dict keys`);
  }
});

test('iterative pruning combines masks as PruningContainer: each step sees only what is left', () => {
  const m = setParams(new nn.Conv2d(4, 6, 3), cases.iterative.params);
  const steps: ((m: nn.Module) => void)[] = [
    (m) => prune.l1Unstructured(m, 'weight', 0.3),
    (m) => prune.lnStructured(m, 'weight', 0.5, 2, 0),
    (m) => prune.l1Unstructured(m, 'weight', 20),
    (m) => prune.lnStructured(m, 'weight', 0.5, 1, 1),
    (m) => prune.identity(m, 'weight'),
  ];
  assert.equal(steps.length, cases.iterative.steps.length);
  cases.iterative.steps.forEach((s, i) => {
    steps[i]!(m);
    assertSame(bufferOf(m, 'weight_mask'), s.mask, `after ${s.label}`);
  });
  const method = prune.pruningOf(m).get('weight');
  assert.ok(method instanceof prune.PruningContainer);
  assert.equal(method.methods.length, 5);
});

test('globalUnstructured ranks |w| across tensors; a second call prunes a fraction of the rest', () => {
  const net = setParams(
    new nn.Sequential(new nn.Linear(5, 4), new nn.ReLU(), new nn.Linear(4, 3), new nn.Conv2d(2, 2, 2)),
    cases.global.params,
  );
  const pairs: [nn.Module, string][] = ['0', '2', '3'].map((k) => [net.getSubmodule(k), 'weight']);
  prune.globalUnstructured(pairs, { amount: 0.4 });
  for (const [k, mask] of Object.entries(cases.global.first)) assertSame(net.stateDict().get(k)!, mask, `first ${k}`);
  prune.globalUnstructured(pairs, { amount: 0.25 });
  for (const [k, mask] of Object.entries(cases.global.second)) assertSame(net.stateDict().get(k)!, mask, `second ${k}`);
  assert.deepEqual([...net.stateDict().keys()], cases.global.keys);
});

test('randomUnstructured after manualSeed draws the same mask as torch.manual_seed (also iterated)', () => {
  const m = setParams(new nn.Linear(6, 4), cases.random.params);
  manualSeed(cases.random.seed);
  prune.randomUnstructured(m, 'weight', 0.5);
  assertSame(bufferOf(m, 'weight_mask'), cases.random.first, 'first');
  prune.randomUnstructured(m, 'weight', 3);
  assertSame(bufferOf(m, 'weight_mask'), cases.random.second, 'second');
});

test('randomStructured after manualSeed keeps the same channels as torch (also iterated on another dim)', () => {
  const c = cases.randomStructured;
  const m = setParams(new nn.Conv2d(4, 6, 2), c.params);
  manualSeed(c.seed);
  prune.randomStructured(m, 'weight', 0.5, 0);
  assertSame(bufferOf(m, 'weight_mask'), c.first, 'first');
  prune.randomStructured(m, 'weight', 1, 1);
  assertSame(bufferOf(m, 'weight_mask'), c.second, 'second');
});

test('amounts follow PyTorch: integers count, fractions round half to even, bad ones throw', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 3.5, 2.4999, 7.2].map(pyRound), [0, 2, 2, 4, 2, 7]);
  const m = new nn.Linear(2, 2);
  assert.throws(() => prune.l1Unstructured(m, 'weight', 5), /amount=5 should be smaller than .*=4/);
  assert.throws(() => prune.l1Unstructured(m, 'weight', -1), ArgumentError);
  assert.throws(() => prune.l1Unstructured(m, 'weight', 1.5), ArgumentError);
  assert.throws(() => prune.l1Unstructured(m, 'weight', Number.NaN), ArgumentError);
  // a failed prune leaves the module untouched
  assert.deepEqual([...m.stateDict().keys()], ['weight', 'bias']);
  assert.equal(prune.isPruned(m), false);
  // `1` is one entry (Python's int 1); { fraction: 1 } is all of them
  prune.l1Unstructured(m, 'weight', 1);
  assert.equal(bufferOf(m, 'weight_mask').sum().item(), 3);
  prune.l1Unstructured(m, 'weight', { fraction: 1 });
  assert.equal(bufferOf(m, 'weight_mask').sum().item(), 0);
  assert.throws(() => prune.lnStructured(new nn.Linear(2, 2), 'bias', 0.5, 2, 0), ShapeError);
  assert.throws(() => prune.lnStructured(new nn.Linear(2, 2), 'weight', 0.5, 2, 2), /dim 2 is out of range/);
  assert.throws(() => prune.l1Unstructured(new nn.Linear(2, 2), 'gamma', 0.5), /no parameter 'gamma'/);
  assert.throws(
    () => prune.l1Unstructured(new nn.Sequential(new nn.Linear(2, 2)), '0.weight', 0.5),
    (e: ArgumentError) => /not a parameter name/.test(e.message) && /getSubmodule\('0'\), 'weight'/.test(e.hint ?? ''),
  );
  const l = new nn.Linear(2, 2);
  assert.throws(
    () => prune.globalUnstructured([[l, 'weight']], { amount: 0.5, importanceScores: [ones([3])] }),
    /importanceScores\[0\] has shape \[3\]/,
  );
  assert.equal(prune.isPruned(l), false);
});
