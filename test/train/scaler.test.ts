// GradScaler with torch.cuda.amp.GradScaler's semantics (here on the CPU path): scaled backward,
// unscale before the step, skip on inf/NaN with backoff, growth after growth_interval clean steps.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SGD } from '../../src/optim/index.ts';
import { tensor } from '../../src/tensor/index.ts';
import { GradScaler } from '../../src/train/index.ts';

function problem() {
  const w = tensor([1, 2], { requiresGrad: true });
  const opt = new SGD([w], { lr: 0.1 });
  return { w, opt };
}

test('defaults are torch’s: 65536, x2 every 2000 clean steps, x0.5 on inf', () => {
  const s = new GradScaler();
  assert.equal(s.getScale(), 65536);
  assert.deepEqual(s.stateDict(), {
    scale: 65536,
    growth_factor: 2,
    backoff_factor: 0.5,
    growth_interval: 2000,
    _growth_tracker: 0,
  });
});

test('scaled loss, unscaled gradients, a normal step', () => {
  const { w, opt } = problem();
  const s = new GradScaler({ initScale: 1024 });
  s.scale(w.mul(w).sum()).backward();
  assert.deepEqual(w.grad!.toArray(), [2048, 4096]);
  s.unscale_(opt);
  assert.deepEqual(w.grad!.toArray(), [2, 4]);
  assert.equal(s.step(opt), true);
  s.update();
  assert.deepEqual(w.toArray(), [Math.fround(1 - 0.2), Math.fround(2 - 0.4)]);
  assert.equal(s.getScale(), 1024);
  assert.throws(() => s.update(), /no inf checks were recorded/);
});

test('an inf gradient skips the step and halves the scale; growth after the interval', () => {
  const { w, opt } = problem();
  const s = new GradScaler({ initScale: 8, growthInterval: 2 });
  s.scale(w.mul(Number.POSITIVE_INFINITY).sum()).backward();
  assert.equal(s.step(opt), false);
  s.update();
  assert.deepEqual(w.toArray(), [1, 2], 'weights untouched');
  assert.equal(s.getScale(), 4);
  for (let i = 0; i < 2; i++) {
    opt.zeroGrad();
    s.scale(w.sum()).backward();
    assert.equal(s.step(opt), true);
    s.update();
  }
  assert.equal(s.getScale(), 8, 'grown after 2 clean steps');
  assert.equal(s.stateDict()._growth_tracker, 0);
  const t = new GradScaler();
  t.loadStateDict(s.stateDict());
  assert.equal(t.getScale(), 8);
  assert.equal(t.growthInterval, 2);
});

test('a disabled scaler is a pass-through', () => {
  const { w, opt } = problem();
  const s = new GradScaler({ enabled: false });
  const l = w.sum();
  assert.equal(s.scale(l), l);
  l.backward();
  assert.equal(s.step(opt), true);
  assert.deepEqual(s.stateDict(), {});
});

test('in the trainer: an overflowing step is skipped (weights kept), the scale backs off, training goes on', async () => {
  const { Trainer } = await import('../../src/train/index.ts');
  const { setup } = await import('./_helpers.ts');
  const s = setup(3);
  const seen: { skipped: boolean; scale: number; changed: boolean }[] = [];
  let prev = JSON.stringify(s.model.parameters().map((p) => p.toArray()));
  let calls = 0;
  const t = new Trainer({
    ...s,
    valid: undefined,
    // the first batch's logits are huge: the loss stays finite, its scaled gradients do not
    forward: (m, x) => {
      const out = m.call(x);
      return calls++ === 0 ? out.mul(1e36) : out;
    },
    amp: { dtype: 'bfloat16', scaler: {} },
    callbacks: [
      {
        afterStep: (tr) => {
          const now = JSON.stringify(tr.model.parameters().map((p) => p.toArray()));
          seen.push({ skipped: tr.skippedStep, scale: tr.scaler!.getScale(), changed: now !== prev });
          prev = now;
        },
      },
    ],
  });
  await t.fit(1);
  assert.deepEqual(seen[0], { skipped: true, scale: 32768, changed: false });
  assert.deepEqual(seen[1], { skipped: false, scale: 32768, changed: true });
});
