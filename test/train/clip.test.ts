// Clipping matches torch.nn.utils: clip_grad_norm_ scales by min(1, max_norm / (total + 1e-6)) with
// the total over all gradients; clip_grad_value_ clamps. Hand-computed, in float32 arithmetic.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tensor } from '../../src/tensor/index.ts';
import { clipGradNorm_, clipGradValue_ } from '../../src/train/index.ts';

const f = Math.fround;

function params(grads: number[][]) {
  return grads.map((g) => {
    const p = tensor(
      g.map(() => 0),
      { requiresGrad: true },
    );
    p.grad = tensor(g);
    return p;
  });
}

test('clip_grad_norm_: total norm 13 over two tensors, clipped to 6.5', () => {
  const ps = params([[3, 4], [12]]);
  const total = clipGradNorm_(ps, 6.5);
  assert.equal(total, 13);
  // torch: clip_coef = max_norm / (total + 1e-6) = (total + 1e-6).reciprocal() * max_norm, in float32
  const coef = f(f(1 / f(13 + 1e-6)) * 6.5);
  assert.deepEqual(ps[0]!.grad!.toArray(), [f(3 * coef), f(4 * coef)]);
  assert.deepEqual(ps[1]!.grad!.toArray(), [f(12 * coef)]);
  const after = Math.hypot(...ps.flatMap((p) => p.grad!.toArray()));
  assert.ok(Math.abs(after - 6.5) < 1e-5);
});

test('clip_grad_norm_ leaves gradients under the limit as they are (coefficient clamped to 1)', () => {
  const ps = params([[0.3, -0.4]]);
  const total = clipGradNorm_(ps, 1);
  assert.equal(total, f(0.5));
  assert.deepEqual(ps[0]!.grad!.toArray(), [f(0.3), f(-0.4)]);
});

test('clip_grad_norm_ with the max norm and with p = 1', () => {
  const a = params([[3, -7], [2]]);
  assert.equal(clipGradNorm_(a, 3.5, { normType: Number.POSITIVE_INFINITY }), 7);
  const coef = f(f(1 / f(7 + 1e-6)) * 3.5);
  assert.deepEqual(a[0]!.grad!.toArray(), [f(3 * coef), f(-7 * coef)]);
  const b = params([[3, -7], [2]]);
  assert.equal(clipGradNorm_(b, 100, { normType: 1 }), 12);
  assert.throws(
    () => clipGradNorm_(params([[Number.NaN]]), 1, { errorIfNonfinite: true }),
    /total norm of order 2 for gradients from 1 parameters is non-finite/,
  );
});

test('clip_grad_value_ clamps every element; parameters without a gradient are skipped', () => {
  const ps = params([[-3, 0.5, 2]]);
  const none = tensor([1, 2], { requiresGrad: true });
  clipGradValue_([...ps, none], 1);
  assert.deepEqual(ps[0]!.grad!.toArray(), [-1, 0.5, 1]);
  assert.equal(none.grad, undefined);
});
