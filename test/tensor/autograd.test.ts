// Autograd API: backward (with a gradient, retainGraph, inputs), grad() with createGraph for a
// second derivative, noGrad / enableGrad nesting, requiresGrad rules, leaves, gradFn, retainGrad.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraftError, TorchError } from '../../src/errors.ts';
import {
  backward,
  crossEntropy,
  enableGrad,
  F,
  grad,
  isGradEnabled,
  linear,
  noGrad,
  ones,
  randn,
  tensor,
  unary,
} from '../../src/tensor/index.ts';
import { assertClose, gradcheck, type Inputs } from './_fixture.ts';

const close = (a: number[], b: number[]) => assertClose(a, b, 1e-5);

test('backward of a non-scalar output with an explicit gradient', () => {
  const x = tensor([1, 2, 3]).requiresGrad_();
  const y = x.mul(x);
  y.backward(tensor([1, 0.5, -1]));
  assert.deepEqual(x.grad!.toArray(), [2, 2, -6]);
});

test('backward of a non-scalar output without a gradient is a TorchError; the graph is still usable', () => {
  const x = tensor([1, 2]).requiresGrad_();
  const y = x.mul(3);
  assert.throws(
    () => y.backward(),
    (e: Error) => e instanceof TorchError && /scalar outputs/.test(e.message),
  );
  y.sum().backward();
  assert.deepEqual(x.grad!.toArray(), [3, 3]);
});

test('a second backward needs retainGraph; gradients accumulate; zeroGrad clears them', () => {
  const x = tensor([1, 2]).requiresGrad_();
  const y = x.exp().sum();
  y.backward(undefined, { retainGraph: true });
  const once = x.grad!.toArray();
  y.backward();
  close(
    x.grad!.toArray(),
    once.map((v) => 2 * v),
  );
  assert.throws(
    () => y.backward(),
    (e: Error) => e instanceof TorchError && /second time/.test(e.message),
  );
  x.zeroGrad();
  assert.equal(x.grad, undefined);
});

test('backward with inputs accumulates only into the given leaves', () => {
  const a = tensor([1, 2]).requiresGrad_();
  const b = tensor([3, 4]).requiresGrad_();
  backward([a.mul(b).sum()], undefined, { inputs: [a] });
  assert.deepEqual(a.grad!.toArray(), [3, 4]);
  assert.equal(b.grad, undefined);
});

test('grad() with createGraph gives a second derivative; it leaves .grad alone', () => {
  const x = tensor([0.5, -1, 2], { dtype: 'float64' }).requiresGrad_();
  const y = x.pow(3).sum();
  const [dx] = grad(y, [x], { createGraph: true });
  close(dx!.toArray(), [0.75, 3, 12]);
  assert.equal(dx!.requiresGrad, true);
  const [d2x] = grad(dx!.sum(), [x]);
  close(d2x!.toArray(), [3, -6, 12]);
  assert.equal(x.grad, undefined);
  // the same second derivative through backward(createGraph) and .grad
  const z = unary('sin', x).sum();
  z.backward(undefined, { createGraph: true });
  const g = x.grad!;
  x.zeroGrad();
  g.sum().backward();
  close(x.grad!.toArray(), [-Math.sin(0.5), -Math.sin(-1), -Math.sin(2)]);
});

test('grad(): an unused input throws unless allowUnused, then it is undefined', () => {
  const x = tensor([1]).requiresGrad_();
  const unused = tensor([2]).requiresGrad_();
  assert.throws(() => grad(x.mul(2).sum(), [x, unused]), TorchError);
  const [gx, gu] = grad(x.mul(2).sum(), [x, unused], { allowUnused: true });
  assert.deepEqual(gx!.toArray(), [2]);
  assert.equal(gu, undefined);
});

test('noGrad / enableGrad nest and restore the mode, also after a throw', () => {
  const x = tensor([1]).requiresGrad_();
  assert.equal(isGradEnabled(), true);
  noGrad(() => {
    assert.equal(isGradEnabled(), false);
    assert.equal(x.mul(2).requiresGrad, false);
    enableGrad(() => {
      assert.equal(isGradEnabled(), true);
      assert.equal(x.mul(2).requiresGrad, true);
      noGrad(() => assert.equal(x.mul(2).requiresGrad, false));
      assert.equal(isGradEnabled(), true);
    });
    assert.equal(isGradEnabled(), false);
  });
  assert.throws(() =>
    noGrad(() => {
      throw new Error('boom');
    }),
  );
  assert.equal(isGradEnabled(), true);
  assert.equal(x.mul(2).requiresGrad, true);
  assert.throws(() => noGrad((async () => 1) as () => unknown), /synchronous/);
  assert.equal(isGradEnabled(), true);
});

test('requiresGrad on an int tensor is a clean GraftError; the tensor stays usable', () => {
  const i = tensor([1, 2], { dtype: 'int64' });
  assert.throws(
    () => {
      i.requiresGrad = true;
    },
    (e: Error) => e instanceof GraftError && /floating point/.test(e.message),
  );
  assert.equal(i.requiresGrad, false);
  assert.deepEqual(i.add(1).toArray(), [2, 3]);
  assert.throws(() => tensor([1], { dtype: 'int32', requiresGrad: true }), GraftError);
});

test('isLeaf, gradFn, retainGrad, detach', () => {
  const x = tensor([1, 2]).requiresGrad_();
  const c = tensor([1, 2]);
  assert.equal(x.isLeaf, true);
  assert.equal(c.isLeaf, true);
  assert.equal(x.gradFn, undefined);
  const y = x.mul(2);
  const z = y.sum();
  assert.equal(y.isLeaf, false);
  assert.equal(y.gradFn, 'MulBackward1'); // mul.Scalar; Python wraps the 2 in a tensor and gets MulBackward0
  assert.equal(x.mul(tensor(2)).gradFn, 'MulBackward0');
  assert.equal(z.gradFn, 'SumBackward0');
  y.retainGrad();
  const w = x.add(1);
  z.add(w.sum()).backward();
  assert.deepEqual(y.grad!.toArray(), [1, 1]);
  assert.equal(w.grad, undefined);
  assert.deepEqual(x.grad!.toArray(), [3, 3]);
  const d = y.detach();
  assert.equal(d.requiresGrad, false);
  assert.equal(d.isLeaf, true);
  assert.equal(y.toString(), 'Tensor(shape=[2], dtype=float32, device=cpu, requiresGrad)');
});

test('the .grad setter replaces the gradient, and backward accumulates into it', () => {
  const x = tensor([1, 2]).requiresGrad_();
  x.grad = tensor([10, 20]);
  x.mul(2).sum().backward();
  assert.deepEqual(x.grad!.toArray(), [12, 22]);
  x.grad = undefined;
  assert.equal(x.grad, undefined);
});

test('backward through an in-place op on a non-leaf; modifying a saved tensor is a TorchError', () => {
  const x = tensor([1, 2, 3]).requiresGrad_();
  const y = x.mul(2);
  y.add_(1);
  y.mul(y).sum().backward();
  assert.deepEqual(x.grad!.toArray(), [12, 20, 28]);
  const z = x.exp();
  const out = z.sum();
  z.mul_(2);
  assert.throws(
    () => out.backward(),
    (e: Error) => e instanceof TorchError && /modified by an inplace operation/.test(e.message),
  );
});

test('finite differences (float64): a two-layer MLP with cross-entropy, composed end to end', () => {
  const o = { dtype: 'float64' as const };
  const inputs = {
    x: randn([3, 4], o),
    w1: randn([5, 4], o),
    b1: randn([5], o),
    w2: randn([3, 5], o),
    t: tensor([0, 2, 1], { dtype: 'int64' }),
  };
  const fn = ({ x, w1, b1, w2, t }: Inputs) => [
    crossEntropy(F.gelu(linear(x, w1, b1)).matmul(w2.T), t, { labelSmoothing: 0.1 }),
  ];
  gradcheck(fn, inputs, ['x', 'w1', 'b1', 'w2'], [ones([], o)], 'mlp');
});

test('finite differences (float64): a second derivative from grad(createGraph)', () => {
  const fn = ({ x }: Inputs) => {
    const leaf = x.requiresGrad ? x : x.detach().requiresGrad_();
    const [g] = grad(unary('tanh', leaf).pow(2).sum(), [leaf], { createGraph: true });
    return g!;
  };
  const x = randn([4], { dtype: 'float64' });
  gradcheck(fn, { x }, ['x'], [tensor([1, -0.5, 2, 0.25], { dtype: 'float64' })], 'hessian-vector');
});
