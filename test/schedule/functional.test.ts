// The pure lr-at-step functions: PyTorch's closed forms (what step(epoch) gives), hand-computed
// values, and transformers' warm-up factors.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  constantLrAt,
  constantWithWarmupFactor,
  cosineAnnealingLrAt,
  cosineWarmRestartsLrAt,
  cosineWithHardRestartsFactor,
  cosineWithWarmupFactor,
  exponentialLrAt,
  linearLrAt,
  linearWithWarmupFactor,
  multiStepLrAt,
  oneCycleAt,
  PolynomialLR,
  polynomialLrAt,
  polynomialWithWarmupFactor,
  stepLrAt,
  warmRestartsPosition,
} from '../../src/schedule/index.ts';
import { loadCases } from './_helpers.ts';

const LRS = [0.1, 0.01];

function near(actual: number, expected: number, label: string): void {
  // Hand-computed decimals are not the doubles PyTorch's operation order gives: 1e-15 relative.
  assert.ok(
    Math.abs(actual - expected) <= 1e-15 * Math.max(Math.abs(expected), 1e-300),
    `${label}: ${actual} vs ${expected}`,
  );
}

const CLOSED: Record<string, (base: number, epoch: number, spec: any) => number> = {
  StepLR: stepLrAt,
  MultiStepLR: multiStepLrAt,
  ExponentialLR: exponentialLrAt,
  ConstantLR: constantLrAt,
  LinearLR: linearLrAt,
  PolynomialLR: polynomialLrAt,
  CosineAnnealingLR: cosineAnnealingLrAt,
  CosineAnnealingWarmRestarts: cosineWarmRestartsLrAt,
};

test('closed forms equal what torch gives for step(epoch)', () => {
  let checked = 0;
  for (const c of [...loadCases('basic'), ...loadCases('cosine')]) {
    const fn = CLOSED[c.spec.type];
    if (!fn || c.spec.last_epoch !== undefined) continue;
    c.calls.forEach((call, i) => {
      if (typeof call !== 'number') return;
      LRS.forEach((base, g) => {
        assert.equal(fn(base, call, c.spec), c.lr[i + 1]![g], `${c.name}: step(${call}) group ${g}`);
        checked++;
      });
    });
  }
  assert.ok(checked > 50, `only ${checked} closed-form values checked`);
});

test('PolynomialLR by hand (the torch docstring example: lr 0.001, total_iters 4)', () => {
  const want = [0.001, 0.00075, 0.0005, 0.00025, 0.0, 0.0];
  for (const [e, w] of want.entries()) near(polynomialLrAt(0.001, e, { total_iters: 4, power: 1.0 }), w, `epoch ${e}`);
  // power 2: 0.001 * (1 - e/4)^2
  for (const [e, w] of [0.001, 0.0005625, 0.00025, 0.0000625, 0].entries())
    near(polynomialLrAt(0.001, e, { total_iters: 4, power: 2 }), w, `power 2 epoch ${e}`);
  // The recursive class reaches the same values.
  const opt = { paramGroups: [{ lr: 0.001 }] };
  const s = new PolynomialLR(opt, { total_iters: 4, power: 2 });
  const seen = [opt.paramGroups[0]!.lr];
  for (let i = 0; i < 5; i++) {
    s.step();
    seen.push(opt.paramGroups[0]!.lr);
  }
  for (const [e, w] of [0.001, 0.0005625, 0.00025, 0.0000625, 0, 0].entries())
    near(seen[e]!, w, `recursive epoch ${e}`);
});

test('other closed forms by hand', () => {
  near(stepLrAt(0.05, 29, { step_size: 30 }), 0.05, 'StepLR 29');
  near(stepLrAt(0.05, 30, { step_size: 30 }), 0.005, 'StepLR 30');
  near(stepLrAt(0.05, 60, { step_size: 30 }), 0.0005, 'StepLR 60');
  near(multiStepLrAt(0.05, 80, { milestones: [30, 80] }), 0.0005, 'MultiStepLR 80');
  near(multiStepLrAt(1, 20, { milestones: [20, 20], gamma: 0.5 }), 0.25, 'repeated milestone');
  near(constantLrAt(0.05, 3, { factor: 0.5, total_iters: 4 }), 0.025, 'ConstantLR 3');
  near(constantLrAt(0.05, 4, { factor: 0.5, total_iters: 4 }), 0.05, 'ConstantLR 4');
  for (const [e, w] of [0.025, 0.03125, 0.0375, 0.04375, 0.05].entries())
    near(linearLrAt(0.05, e, { start_factor: 0.5, total_iters: 4 }), w, `LinearLR ${e}`);
  near(cosineAnnealingLrAt(1, 5, { T_max: 10 }), 0.5, 'cosine half way');
  near(cosineAnnealingLrAt(1, 10, { T_max: 10, eta_min: 0.1 }), 0.1, 'cosine bottom');
  near(exponentialLrAt(2, 3, { gamma: 0.5 }), 0.25, 'ExponentialLR');
});

test('warm restarts position and lr', () => {
  assert.deepEqual(warmRestartsPosition(3, 5, 1), { T_cur: 3, T_i: 5 });
  assert.deepEqual(warmRestartsPosition(12, 5, 1), { T_cur: 2, T_i: 5 });
  // T_0 5, T_mult 2: cycles [0,5) [5,15) [15,35)
  assert.deepEqual(warmRestartsPosition(5, 5, 2), { T_cur: 0, T_i: 10 });
  assert.deepEqual(warmRestartsPosition(14.5, 5, 2), { T_cur: 9.5, T_i: 10 });
  assert.deepEqual(warmRestartsPosition(15, 5, 2), { T_cur: 0, T_i: 20 });
  near(cosineWarmRestartsLrAt(1, 7.5, { T_0: 5, T_mult: 2 }), 0.5 * (1 + Math.cos(Math.PI / 4)), 'lr');
});

test('transformers warm-up factors by hand', () => {
  const lin = { num_warmup_steps: 10, num_training_steps: 50 };
  assert.deepEqual(
    [0, 5, 10, 30, 50, 60].map((s) => linearWithWarmupFactor(s, lin)),
    [0, 0.5, 1, 0.5, 0, 0],
  );
  const cosOpts = { num_warmup_steps: 5, num_training_steps: 45 };
  assert.equal(cosineWithWarmupFactor(5, cosOpts), 1);
  near(cosineWithWarmupFactor(25, cosOpts), 0.5, 'cosine mid');
  assert.equal(cosineWithWarmupFactor(45, cosOpts), 0);
  assert.equal(cosineWithWarmupFactor(2, cosOpts), 0.4);
  assert.deepEqual(
    [0, 4, 8, 100].map((s) => constantWithWarmupFactor(s, { num_warmup_steps: 8 })),
    [0, 0.5, 1, 1],
  );
  const hard = { num_warmup_steps: 0, num_training_steps: 30, num_cycles: 3 };
  assert.equal(cosineWithHardRestartsFactor(10, hard), 1, 'restart');
  near(cosineWithHardRestartsFactor(5, hard), 0.5, 'half a cycle');
  assert.equal(cosineWithHardRestartsFactor(30, hard), 0, 'done');
  const poly = { num_warmup_steps: 0, num_training_steps: 10, lr_end: 0, power: 2, lr_init: 1 };
  near(polynomialWithWarmupFactor(5, poly), 0.25, 'polynomial mid');
  assert.equal(polynomialWithWarmupFactor(11, { ...poly, lr_end: 0.1 }), 0.1, 'past the end: lr_end / lr_init');
});

test('oneCycleAt equals OneCycleLR (torch) without an optimizer', () => {
  const c = loadCases('onecycle').find((x) => x.name === 'OneCycleLR linear three_phase')!;
  c.lr.forEach((row, step) => {
    const v = oneCycleAt(step, c.spec as any);
    assert.equal(v.lr, row[0], `lr at ${step}`);
    assert.equal(v.momentum, c.momentum![step]![0], `momentum at ${step}`);
  });
});
