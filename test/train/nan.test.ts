// A NaN or infinite loss stops the run with a TrainError naming where it happened and the last
// good checkpoint, which stays as it was; nothing is exported.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { crossEntropy, noGrad, type Tensor } from '../../src/tensor/index.ts';
import { type Callback, fit, readCheckpoint, TrainError } from '../../src/train/index.ts';
import { readJsonl, rmDir, setup, tmpDir } from './_helpers.ts';

for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
  test(`a ${bad} loss stops the run and keeps the last good checkpoint`, async () => {
    const out = tmpDir();
    try {
      let calls = 0;
      // the 9th training batch (epoch 2, batch 3) goes bad; validation batches are not counted
      const loss = (output: Tensor, target: Tensor | undefined) => {
        const l = crossEntropy(output, target!);
        return output.requiresGrad && ++calls === 9 ? l.mul(bad) : l;
      };
      const err = await fit({ ...setup(1), loss, epochs: 3, outDir: out, progress: false }).then(
        () => assert.fail('the run should stop'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof TrainError);
      assert.equal(err.code, 'GRAFT_TRAIN_NONFINITE');
      const last = join(out, 'checkpoints', 'last.pth');
      assert.match(err.message, new RegExp(`loss is ${bad} at epoch 2/3, step 9 \\(batch 3 of the epoch\\)`));
      assert.ok(err.message.includes(`The last good checkpoint is ${last}`), err.message);
      assert.equal(err.lastCheckpoint, last);
      assert.equal(err.epoch, 1);
      assert.equal(readCheckpoint(last).tree.epoch, 1);
      assert.ok(!existsSync(join(out, 'model.safetensors')));
      const recs = readJsonl(join(out, 'metrics.jsonl'));
      const end = recs.at(-1)!;
      assert.ok(end.type === 'run' && end.event === 'error' && /loss is/.test(end.message!));
      assert.ok(existsSync(join(out, 'report.html')), 'the report is still written');
    } finally {
      rmDir(out);
    }
  });
}

test('a NaN loss before any checkpoint says so', async () => {
  const loss = (o: Tensor, t: Tensor | undefined) => crossEntropy(o, t!).mul(Number.NaN);
  await assert.rejects(fit({ ...setup(1), loss, epochs: 1, progress: false }), /No checkpoint was written before it/);
});

/** Weights that turn NaN right after optimizer step `at`: the checkpoint written after it is bad. */
const poisonAt = (at: number): Callback => ({
  afterStep: (t) => {
    if (t.step === at) noGrad(() => t.model.parameters().at(-1)!.fill_(Number.NaN));
  },
});

test('the checkpoint named after a NaN stop gives a finite loss: a bad last.pth is passed over for best.pth', async () => {
  const out = tmpDir();
  try {
    // epoch 1 (steps 1-6) ends with last.pth and best.pth; step 8's weights are NaN and written as last.pth
    const s = setup(1);
    const err = await fit({
      ...s,
      epochs: 3,
      outDir: out,
      progress: false,
      checkpoint: { everySteps: 1 },
      callbacks: [poisonAt(8)],
    }).then(
      () => assert.fail('the run should stop'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TrainError, String(err));
    const last = join(out, 'checkpoints', 'last.pth');
    const best = join(out, 'checkpoints', 'best.pth');
    assert.equal(readCheckpoint(last).tree.step, 8, 'last.pth holds the NaN weights');
    assert.match(err.message, /loss is NaN at epoch 2\/3, step 9/);
    assert.ok(err.message.includes(`The last good checkpoint is ${best}`), err.message);
    assert.ok(err.message.includes(`${last} gives a non-finite loss on this batch too`), err.message);
    assert.equal(err.lastCheckpoint, best);
    assert.ok(
      s.model
        .parameters()
        .at(-1)!
        .toArray()
        .every((v) => Number.isNaN(v)),
      "the model's own state is put back after the check",
    );
  } finally {
    rmDir(out);
  }
});

test('a NaN stop where no checkpoint gives a finite loss says none is good', async () => {
  const out = tmpDir();
  try {
    const err = await fit({
      ...setup(1),
      epochs: 2,
      outDir: out,
      progress: false,
      checkpoint: { everySteps: 1 },
      callbacks: [poisonAt(2)],
    }).then(
      () => assert.fail('the run should stop'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TrainError);
    assert.match(err.message, /No checkpoint is good: .*last\.pth gives a non-finite loss on this batch too/);
    assert.equal(err.lastCheckpoint, undefined);
    assert.match(err.hint ?? '', /check this batch for NaN/);
  } finally {
    rmDir(out);
  }
});
