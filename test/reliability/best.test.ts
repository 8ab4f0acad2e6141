// best.pth and the keep-copies follow the record inside the checkpoint: on resume a best.pth behind
// its record, or a missing keep-copy of the resumed epoch, is recreated; a best.pth whose bytes are
// gone for good makes the record follow the folder (never a record naming a file that holds
// another epoch).
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Callback, CheckpointCallback, type FitOptions, fit, readCheckpoint } from '../../src/train/index.ts';
import { setup } from '../train/_helpers.ts';
import { withTmp } from './_run.ts';

const stopAfterEpoch = (n: number): Callback => ({
  afterEpoch: (t) => {
    if (t.epoch + 1 === n) t.requestStop('test stop');
  },
});

const run = (out: string, extra: Partial<FitOptions>) =>
  fit({
    ...setup(1),
    epochs: 3,
    outDir: out,
    progress: false,
    export: false,
    report: false,
    checkpoint: { keep: 2 },
    ...extra,
  });

const bestOf = (file: string): number => Number(readCheckpoint(file).tree.trainer.best.epoch);
const recordOf = (file: string) => readCheckpoint(file).tree.callbacks.checkpoint;

test('resume recreates a best.pth left behind its record and a missing keep-copy', async () => {
  await withTmp(async (out) => {
    const ck = join(out, 'checkpoints');
    // lower train loss every epoch: epoch 2 is best; then the folder as a kill after last.pth left it
    await run(out, { monitor: 'train.loss', callbacks: [stopAfterEpoch(1)] });
    copyFileSync(join(ck, 'best.pth'), join(out, 'epoch1.pth'));
    await run(out, { monitor: 'train.loss', resume: true, callbacks: [stopAfterEpoch(2)] });
    assert.equal(recordOf(join(ck, 'last.pth')).best_epoch, 1);
    copyFileSync(join(out, 'epoch1.pth'), join(ck, 'best.pth'));
    rmSync(join(ck, 'epoch-0002.pth'));

    const cb = new CheckpointCallback({ dir: ck, keep: 2 });
    const r = await run(out, { monitor: 'train.loss', resume: true, epochs: 2, checkpoint: false, callbacks: [cb] });
    assert.equal(r.best?.epoch, 1);
    assert.deepEqual(cb.repairs, [
      'best.pth was behind its record: recreated from last.pth (epoch 2)',
      'epoch-0002.pth was missing: recreated from last.pth',
    ]);
    assert.equal(bestOf(join(ck, 'best.pth')), 1);
    assert.ok(existsSync(join(ck, 'epoch-0002.pth')));
  });
});

test('a best.pth whose epoch is gone for good: the record follows the folder, best tracking starts again', async () => {
  await withTmp(async (out) => {
    const ck = join(out, 'checkpoints');
    // the highest train loss is epoch 1's: it stays best while epoch 2 is trained
    const monitor = { metric: 'train.loss', mode: 'max' as const };
    await run(out, { monitor, checkpoint: { keep: 1 }, callbacks: [stopAfterEpoch(2)] });
    assert.equal(recordOf(join(ck, 'last.pth')).best_epoch, 0);
    assert.ok(!existsSync(join(ck, 'epoch-0001.pth')), 'only the last epoch is kept');
    rmSync(join(ck, 'best.pth'));

    const cb = new CheckpointCallback({ dir: ck, keep: 1 });
    const r = await run(out, { monitor, resume: true, checkpoint: false, callbacks: [cb] });
    assert.deepEqual(cb.repairs, [
      'best.pth (epoch 1) is missing, unreadable or another checkpoint: the best is tracked again from here',
    ]);
    // epoch 3 is the first epoch tracked since: it is best, and best.pth holds it
    assert.equal(r.best?.epoch, 2);
    assert.equal(recordOf(join(ck, 'last.pth')).best_epoch, 2);
    assert.equal(bestOf(join(ck, 'best.pth')), 2);
  });
});

test("a best.pth holding another epoch is recreated from the recorded best epoch's keep-copy", async () => {
  await withTmp(async (out) => {
    const ck = join(out, 'checkpoints');
    const monitor = { metric: 'train.loss', mode: 'max' as const };
    await run(out, { monitor, checkpoint: { keep: 3 } });
    assert.equal(recordOf(join(ck, 'last.pth')).best_epoch, 0);
    copyFileSync(join(ck, 'epoch-0003.pth'), join(ck, 'best.pth'));
    const cb = new CheckpointCallback({ dir: ck, keep: 3 });
    await run(out, { monitor, resume: true, checkpoint: false, callbacks: [cb] });
    assert.deepEqual(cb.repairs, ['best.pth did not hold the recorded best epoch: recreated from epoch-0001.pth']);
    assert.equal(Number(readCheckpoint(join(ck, 'best.pth')).tree.epoch), 1);
  });
});
