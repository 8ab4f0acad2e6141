// createOptimizer: optimizers from plain objects in PyTorch's terms, with errors that name the key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentError } from '../../src/errors.ts';
import {
  Adam,
  AdamW,
  createOptimizer,
  OPTIMIZER_TYPES,
  optimizerDefaults,
  optimizerType,
  RMSprop,
  SGD,
} from '../../src/optim/index.ts';
import { tensor } from '../../src/tensor/index.ts';
import { pow as pyPow } from '../../src/util/pymath.ts';

const params = () => [tensor([1, 2], { requiresGrad: true })];

test('builds each optimizer type from its torch.optim name, case-insensitively', () => {
  assert.ok(createOptimizer({ type: 'SGD', lr: 0.01, momentum: 0.9 }, params()) instanceof SGD);
  assert.ok(createOptimizer({ type: 'adam' }, params()) instanceof Adam);
  assert.ok(createOptimizer({ type: 'ADAMW', weight_decay: 0.05 }, params()) instanceof AdamW);
  assert.ok(createOptimizer({ type: 'rmsprop', alpha: 0.9 }, params()) instanceof RMSprop);
  assert.deepEqual(OPTIMIZER_TYPES, ['SGD', 'Adam', 'AdamW', 'RMSprop']);
  assert.equal(optimizerType('adamw'), 'AdamW');
});

test('hyper-parameters land in the groups under their PyTorch names', () => {
  const opt = createOptimizer({ type: 'Adam', lr: 0.01, betas: [0.8, 0.99] }, [
    { params: params(), lr: 0.1 },
    { params: params() },
  ]);
  assert.deepEqual(
    opt.paramGroups.map((g) => [g.lr, g.betas]),
    [
      [0.1, [0.8, 0.99]],
      [0.01, [0.8, 0.99]],
    ],
  );
  assert.equal(opt.paramGroups[0]!.eps, 1e-8);
});

test('an unknown key is an ArgumentError naming it, the keys expected and a suggestion', () => {
  assert.throws(
    () => createOptimizer({ type: 'SGD', lr: 0.1, weightDecay: 1e-4 }, params()),
    (e: Error) =>
      e instanceof ArgumentError &&
      e.message.includes("unknown option 'weightDecay'") &&
      e.message.includes('expected one of lr, momentum, dampening, weight_decay, nesterov, maximize') &&
      e.message.includes("did you mean 'weight_decay'?"),
  );
  assert.throws(() => createOptimizer({ type: 'Adam', beta: [0.9, 0.99] }, params()), /did you mean 'betas'/);
  assert.throws(() => createOptimizer({ type: 'AdamW', momentum: 0.9 }, params()), /unknown option 'momentum'/);
});

test('a bad value is an ArgumentError naming the key and what was expected', () => {
  assert.throws(() => createOptimizer({ type: 'SGD', lr: '0.1' }, params()), /'lr' must be a number >= 0, got '0.1'/);
  assert.throws(
    () => createOptimizer({ type: 'SGD', lr: 0.1, nesterov: 1 }, params()),
    /'nesterov' must be true or false, got 1/,
  );
  assert.throws(
    () => createOptimizer({ type: 'Adam', betas: 0.9 }, params()),
    /'betas' must be two numbers in \[0, 1\)/,
  );
  assert.throws(() => createOptimizer({ type: 'RMSprop', eps: Number.NaN }, params()), /'eps' must be a number >= 0/);
  assert.throws(() => createOptimizer({ type: 'SGD' }, params()), /required optimization parameter lr/);
});

test('an unknown or missing type lists the known ones', () => {
  assert.throws(
    () => createOptimizer({ type: 'Adagrad' }, params()),
    /'type' must be one of SGD, Adam, AdamW, RMSprop, got "Adagrad"/,
  );
  assert.throws(() => createOptimizer({ type: 'adamm' }, params()), /did you mean 'Adam'/);
  assert.throws(() => createOptimizer({} as never, params()), /'type' must be one of/);
  assert.throws(() => createOptimizer(null as never, params()), /optimizer spec must be an object/);
});

test('optimizerDefaults lists the defaults in PyTorch order', () => {
  assert.deepEqual(Object.keys(optimizerDefaults('RMSprop')), [
    'lr',
    'momentum',
    'alpha',
    'eps',
    'centered',
    'weight_decay',
    'foreach',
    'maximize',
    'differentiable',
  ]);
  assert.equal(optimizerDefaults('SGD').lr, undefined);
  assert.equal(optimizerDefaults('AdamW').weight_decay, 0.01);
});

test("bias-correction powers are correctly rounded (V8's Math.pow is not)", () => {
  // exact values from Python's fractions.Fraction
  assert.equal(pyPow(0.9, 4), 0.6561); // Math.pow: 0.6561000000000001
  assert.equal(pyPow(0.9, 23), 0.08862938119652507); // Math.pow: ...505
  assert.equal(pyPow(0.9, 10), 0.3486784401000001);
  assert.equal(pyPow(0.999, 1000), 0.36769542477096373);
  assert.equal(pyPow(0.95, 482), 1.8313769729336268e-11);
  assert.equal(pyPow(0.9, 0), 1);
  assert.equal(pyPow(0.9, 2.5), 0.9 ** 2.5);
});
