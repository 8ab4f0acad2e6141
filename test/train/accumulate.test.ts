// Gradient accumulation: the gradient the optimizer sees equals the big batch's mean-loss gradient,
// normalised over the items the window actually had (a short last batch, a partial last window).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Linear } from '../../src/nn/index.ts';
import { SGD } from '../../src/optim/index.ts';
import { crossEntropy, manualSeed, randint, randn, type Tensor } from '../../src/tensor/index.ts';
import { type Callback, Trainer, tensorData } from '../../src/train/index.ts';

function problem() {
  manualSeed(21);
  const x = randn([10, 3]);
  const y = randint(0, 2, [10]);
  const model = new Linear(3, 2);
  return { x, y, model };
}

/** The gradient of the mean loss over items [lo, hi) with the model's current weights. */
function reference(model: Linear, x: Tensor, y: Tensor, lo: number, hi: number): number[][] {
  model.zeroGrad();
  crossEntropy(model.call(x.narrow(0, lo, hi - lo)), y.narrow(0, lo, hi - lo)).backward();
  const g = model.parameters().map((p) => p.grad!.toArray());
  model.zeroGrad();
  return g;
}

function close(a: number[][], b: number[][], what: string): void {
  a.forEach((row, i) => {
    row.forEach((v, j) => {
      assert.ok(Math.abs(v - b[i]![j]!) < 1e-6, `${what}[${i}][${j}]: ${v} vs ${b[i]![j]}`);
    });
  });
}

async function windows(accumulate: number): Promise<{ grads: number[][][]; model: Linear; x: Tensor; y: Tensor }> {
  const { x, y, model } = problem();
  const grads: number[][][] = [];
  const cb: Callback = { beforeStep: (t) => void grads.push(t.model.parameters().map((p) => p.grad!.toArray())) };
  // lr 0: the weights stay, so every window's gradient can be recomputed from the same model
  const optimizer = new SGD(model.parameters(), { lr: 0 });
  await new Trainer({ model, optimizer, train: tensorData(x, y, { batchSize: 4 }), accumulate, callbacks: [cb] }).fit(
    1,
  );
  return { grads, model, x, y };
}

test('accumulating batches of 4, 4 and 2 equals one batch of 10', async () => {
  const { grads, model, x, y } = await windows(3);
  assert.equal(grads.length, 1);
  close(grads[0]!, reference(model, x, y, 0, 10), 'window of 10');
});

test('a partial last window is normalised over its own items', async () => {
  const { grads, model, x, y } = await windows(2);
  assert.equal(grads.length, 2, 'windows [4, 4] and [2]');
  close(grads[0]!, reference(model, x, y, 0, 8), 'first window');
  close(grads[1]!, reference(model, x, y, 8, 10), 'last window');
});

test('accumulate 1 steps every batch; steps are counted per window', async () => {
  const { x, y, model } = problem();
  const t = new Trainer({
    model,
    optimizer: new SGD(model.parameters(), { lr: 0.1 }),
    train: tensorData(x, y, { batchSize: 4 }),
    accumulate: 2,
  });
  await t.fit(2);
  assert.equal(t.step, 4);
  assert.throws(
    () => new Trainer({ model, optimizer: new SGD(model.parameters(), { lr: 0.1 }), train: [], accumulate: 0 }),
    /accumulate must be an integer >= 1/,
  );
});
