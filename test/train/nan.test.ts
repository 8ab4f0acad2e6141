// A NaN or infinite loss stops the run with a TrainError naming where it happened and the last
// good checkpoint, which stays as it was; nothing is exported.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { crossEntropy, type Tensor } from '../../src/tensor/index.ts';
import { fit, readCheckpoint, TrainError } from '../../src/train/index.ts';
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
