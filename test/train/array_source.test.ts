// An array of fixed batches (reused every epoch) reaches the trainer as the caller's own tensors in
// borrowed batches: no new handles per step (each one was counted as external memory and kept V8 in
// major GCs), never freed by the trainer, the same training as fresh copies; a tensor that requires
// grad still goes in detached.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SGD } from '../../src/optim/index.ts';
import { liveTensors, type Tensor } from '../../src/tensor/index.ts';
import { type BatchSource, type Callback, Trainer } from '../../src/train/index.ts';
import { makeData, mlp, weights } from './_helpers.ts';

function batches(n: number) {
  const { x, y } = makeData(8 * n, 11);
  return Array.from({ length: n }, (_, i) => ({ input: x.narrow(0, 8 * i, 8), target: y.narrow(0, 8 * i, 8) }));
}

async function train(data: unknown, callbacks: Callback[] = []) {
  const model = mlp(3, 0);
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const t = new Trainer({ model, optimizer, train: data as BatchSource, callbacks, seed: 1 });
  await t.fit(2);
  return weights(model);
}

test('fixed batches: the caller keeps its tensors, the trainer gets them without new handles', async () => {
  const data = batches(6);
  const before = data.map((b) => b.input.toArray());
  const seen: boolean[] = [];
  let live0 = 0;
  const grown: number[] = [];
  const cb: Callback = {
    beforeFit: () => {
      live0 = liveTensors();
    },
    beforeBatch: (t) => {
      seen.push(t.batch!.input === data[t.batchIndex]!.input && t.batch!.target === data[t.batchIndex]!.target);
      grown.push(liveTensors() - live0);
    },
  };
  const w = await train(data, [cb]);
  assert.deepEqual(seen, Array(12).fill(true));
  // detached views made 2 handles per batch of the epoch at its start (12 here)
  assert.ok(Math.max(...grown) < 6, `live handles grew by ${Math.max(...grown)} during the epoch`);
  // not freed, not changed: a third epoch can use them
  assert.deepEqual(
    data.map((b) => b.input.toArray()),
    before,
  );
  // the same training as fresh copies handed in by a source the trainer frees
  const copies: BatchSource = {
    length: data.length,
    batches: (_e: number, start: number) =>
      data.slice(start).map((b) => ({ input: b.input.clone(), target: b.target.clone() })),
  };
  assert.deepEqual(await train(copies), w);
});

test('fixed batches: an input that requires grad goes in detached', async () => {
  const data = batches(2);
  const x: Tensor = data[0]!.input.clone();
  x.requiresGrad = true;
  data[0]!.input = x;
  const seen: boolean[] = [];
  await train(data, [
    { beforeBatch: (t) => void seen.push(t.batch!.input === x || (t.batch!.input as Tensor).requiresGrad) },
  ]);
  assert.deepEqual(seen, [false, false, false, false]);
  assert.equal(x.grad, undefined);
  assert.equal(x.requiresGrad, true);
});
