// memoryFormat: 'channels_last' stores conv weights and image batches NHWC: the same training math as
// contiguous NCHW (losses and weights within float32 summation-order tolerance), the weights stay
// channels_last through optimizer steps, a state dict reads the same values, and the recipe accepts it.
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as nn from '../../src/nn/index.ts';
import { SGD } from '../../src/optim/index.ts';
import { loadRecipe } from '../../src/recipe/index.ts';
import { isMemoryFormat, manualSeed, randint, randn, type Tensor, toMemoryFormat } from '../../src/tensor/index.ts';
import { Trainer } from '../../src/train/index.ts';

function net(): nn.Sequential {
  manualSeed(7);
  return new nn.Sequential(
    new nn.Conv2d(3, 8, 3, { padding: 1, bias: false }),
    new nn.BatchNorm2d(8),
    new nn.ReLU(),
    new nn.Conv2d(8, 8, 3, { stride: 2, padding: 1 }),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(8, 4),
  );
}

async function train(memoryFormat?: 'channels_last') {
  const model = net();
  manualSeed(1);
  const batches = Array.from({ length: 3 }, () => ({ input: randn([4, 3, 12, 12]), target: randint(0, 4, [4]) }));
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const losses: number[] = [];
  const t = new Trainer({
    model,
    optimizer,
    train: batches,
    valid: batches.slice(0, 1),
    memoryFormat,
    callbacks: [{ afterLoss: (tr) => void losses.push(tr.lossValue!) }],
  });
  await t.fit(2);
  return { model, losses, eval: t.metrics['eval.loss'] as number };
}

const close = (a: number[], b: number[], tol: number) =>
  a.every((v, i) => Math.abs(v - b[i]!) <= tol * (1 + Math.abs(b[i]!)));
const values = (t: Tensor) => t.contiguous().toArray();

test('toMemoryFormat / isMemoryFormat: channels_last strides, same values, 4-d only', () => {
  const x = randn([2, 3, 4, 5]);
  const y = toMemoryFormat(x, 'channels_last');
  assert.deepEqual(y.strides(), [60, 1, 15, 3]);
  assert.ok(isMemoryFormat(y, 'channels_last') && !isMemoryFormat(y, 'contiguous'));
  assert.ok(isMemoryFormat(x, 'contiguous') && !isMemoryFormat(x, 'channels_last'));
  assert.deepEqual(values(y), values(x));
  assert.ok(isMemoryFormat(toMemoryFormat(y, 'contiguous'), 'contiguous'));
  assert.throws(() => toMemoryFormat(randn([2, 3]), 'channels_last'), /4-d/);
});

test("trainer memoryFormat 'channels_last': the contiguous run's losses and weights within tolerance", async () => {
  const plain = await train();
  const last = await train('channels_last');
  assert.equal(last.losses.length, 6); // 3 batches, 2 epochs
  assert.ok(close(last.losses, plain.losses, 1e-5), `${last.losses} vs ${plain.losses}`);
  assert.ok(Math.abs(last.eval - plain.eval) < 1e-5);
  const conv = last.model.at<nn.Conv2d>(0).weight;
  assert.ok(isMemoryFormat(conv, 'channels_last'), 'the conv weight stayed channels_last through the steps');
  assert.ok(!isMemoryFormat(plain.model.at<nn.Conv2d>(0).weight, 'channels_last'));
  const a = last.model.stateDict();
  const b = plain.model.stateDict();
  for (const [k, v] of b) assert.ok(close(values(a.get(k)!), values(v), 1e-4), k);
});

test('recipe train.memoryFormat: channels_last is accepted, anything else is not', () => {
  const file = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'recipes', '002_resnet18_fc_only.yaml');
  const ok = loadRecipe(file, { set: ['train.memoryFormat=channels_last'] });
  assert.equal(ok.recipe.train?.memoryFormat, 'channels_last');
  assert.throws(() => loadRecipe(file, { set: ['train.memoryFormat=nhwc'] }), /memoryFormat/);
});
