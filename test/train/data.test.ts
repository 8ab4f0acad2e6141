// The trainer with src/data's DataLoader (seeded shuffle, resumable with startBatch): batches are
// taken as { x, y }, freed after each step, and a resumed run sees the same batches.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataLoader, TensorDataset } from '../../src/data/index.ts';
import { SGD } from '../../src/optim/index.ts';
import { type Tensor, tensor } from '../../src/tensor/index.ts';
import { type Callback, fit, toBatch, toSource } from '../../src/train/index.ts';
import { makeData, mlp, readJsonl, rmDir, stepLosses, tmpDir, weights } from './_helpers.ts';

function loaders() {
  const a = makeData(80, 31);
  const b = makeData(24, 32);
  return {
    train: new DataLoader(new TensorDataset(a.x, a.y), { batchSize: 16, shuffle: true, seed: 4 }),
    valid: new DataLoader(new TensorDataset(b.x, b.y), { batchSize: 16 }),
  };
}

async function run(out: string, extra: Record<string, unknown> = {}, init = 5) {
  const model = mlp(init);
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  await fit({
    model,
    optimizer,
    ...loaders(),
    epochs: 2,
    outDir: out,
    logEvery: 1,
    seed: 4,
    progress: false,
    export: false,
    ...extra,
  });
  return weights(model);
}

test('a DataLoader feeds the trainer, and a mid-epoch resume gets the same batches', async () => {
  const a = tmpDir();
  const b = tmpDir();
  try {
    const ref = await run(a);
    const refLosses = stepLosses(readJsonl(join(a, 'metrics.jsonl')));
    assert.equal(refLosses.length, 10);
    const stop: Callback = { afterBatch: (t) => (t.step === 7 ? t.requestStop('test') : undefined) };
    await run(b, { callbacks: [stop] });
    const w = await run(b, { resume: true }, 99);
    assert.deepEqual(stepLosses(readJsonl(join(b, 'metrics.jsonl'))), refLosses);
    assert.deepEqual(w, ref);
  } finally {
    rmDir(a);
    rmDir(b);
  }
});

test('toBatch reads the loader batch shapes: {x, y}, text batches with attention masks, arrays', () => {
  const x = tensor([[1, 2]], { dtype: 'int64' });
  const m = tensor([[1, 1]], { dtype: 'int64' });
  const y = tensor([0], { dtype: 'int64' });
  const text = toBatch({ x, y, attentionMask: m, fields: { x, y, attentionMask: m } });
  assert.deepEqual(Object.keys(text.input as Record<string, Tensor>), ['inputIds', 'attentionMask']);
  assert.equal(text.target, y);
  assert.equal(toBatch({ x, y, fields: { x, y } }).input, x);
  assert.equal(toBatch([x, y]).target, y);
  assert.equal(toBatch({ image: x, label: y }).input, x);
  assert.throws(() => toBatch({ a: 1 }), /no input tensor/);
});

test("a source forwards its loader's count of skipped bad samples, read live", () => {
  let n = 0;
  const epochLoader = {
    iterate: () => [],
    length: 0,
    get skipped() {
      return n;
    },
  };
  const torchStyle = {
    setEpoch() {},
    *[Symbol.iterator]() {},
    get skipped() {
      return n;
    },
  };
  const a = toSource(epochLoader);
  const b = toSource(torchStyle);
  n = 3;
  assert.equal(a.skipped, 3);
  assert.equal(b.skipped, 3);
  assert.equal(toSource([]).skipped, undefined);
  const { train } = loaders();
  assert.equal(toSource(train).skipped, (train as { skipped?: number }).skipped);
});
