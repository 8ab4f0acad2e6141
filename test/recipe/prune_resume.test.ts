// Resuming inside a prune phase: a run that fails in the middle of a pruning round, or is stopped
// there (SIGINT: the checkpoint written where it stopped), resumes and ends with the same masks,
// weights, int8 model and report records as the run that was never interrupted.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RawTensor } from '../../src/io/index.ts';
import { recipeFrom, runRecipe } from '../../src/recipe/index.ts';
import { readCheckpoint } from '../../src/train/index.ts';
import { stepLosses, writeIdx } from '../reliability/_run.ts';
import { readJsonl, withTmp } from './_helpers.ts';

// cifar_net on 16 images (4 steps an epoch): one epoch of training, then 3 pruning rounds to 60%
const tiny = (idx: string, everySteps?: number) =>
  recipeFrom({
    name: 'prune-resume',
    model: { name: 'cifar_net' },
    data: { kind: 'idx', root: idx, classes: ['a', 'b', 'c', 'd'], imageSize: 32, batchSize: 4 },
    optimizer: { type: 'SGD', lr: 0.02, momentum: 0.9, weight_decay: 5e-4 },
    phases: [
      { name: 'train', epochs: 1 },
      { name: 'prune', epochs: 3, prune: { target: 0.6 } },
    ],
    quantize: { mode: 'static', observer: 'minmax', calibrationBatches: 1 },
    train: {
      seed: 4,
      threads: 1,
      logEvery: 1,
      report: false,
      monitor: 'train.loss',
      ...(everySteps ? { checkpoint: { everySteps } } : {}),
    },
  });

const modelTensors = (file: string): Map<string, RawTensor> =>
  new Map([...(readCheckpoint(file).raw.get('model') as Map<string, RawTensor>)]);

// the records a run leaves about pruning and quantizing, without times and latencies
function compressRecords(run: string): unknown[] {
  return readJsonl(join(run, 'metrics.jsonl'))
    .filter((r) => r.type === 'prune' || r.type === 'quantize')
    .map(({ time: _t, ...r }) =>
      r.type === 'quantize'
        ? { ...r, float: { ...r.float, msPerBatch: 0 }, int8: { ...r.int8, msPerBatch: 0 }, engine: 0 }
        : r,
    );
}

function assertSameRun(run: string, full: string): void {
  for (const f of ['model.safetensors', 'model.int8.safetensors'])
    assert.deepEqual(readFileSync(join(run, f)), readFileSync(join(full, f)), `${f}: the same bytes`);
  assert.deepEqual(compressRecords(run), compressRecords(full));
  assert.deepEqual(stepLosses(run), stepLosses(full));
  // the last checkpoints: the same weight_orig and weight_mask (PyTorch's layout) and the rest
  const a = modelTensors(join(full, 'checkpoints', 'last.pth'));
  const b = modelTensors(join(run, 'checkpoints', 'last.pth'));
  assert.deepEqual([...b.keys()], [...a.keys()]);
  for (const [k, t] of a) assert.deepEqual(b.get(k)!.data, t.data, `${k} equal`);
}

test('a run interrupted inside a prune phase resumes to the same masks, weights, int8 model and report', async () => {
  await withTmp(async (dir) => {
    const idx = writeIdx(join(dir, 'idx'), { train: 16, test: 8 });
    const full = join(dir, 'full');
    await runRecipe(tiny(idx), { outDir: full });
    const prunes = compressRecords(full).filter((r) => (r as { type: string }).type === 'prune');
    assert.deepEqual(
      prunes.map((r) => (r as { round: number }).round),
      [1, 2, 3],
    );
    assert.ok(modelTensors(join(full, 'checkpoints', 'last.pth')).has('conv1.weight_mask'));

    // fails at step 10 (epoch 2, batch 2: round 2 pruned at the epoch's start), resumes from step 9
    const failed = join(dir, 'failed');
    const at = (step: number, act: () => void) => (p: { kind: string; step: number; epoch: number }) => {
      if (p.kind === 'step' && p.step === step) act();
    };
    await assert.rejects(
      runRecipe(tiny(idx, 3), {
        outDir: failed,
        onProgress: at(10, () => {
          throw new Error('interrupted');
        }),
      }),
      /interrupted/,
    );
    const ck = readCheckpoint(join(failed, 'checkpoints', 'last.pth')).tree;
    assert.deepEqual([Number(ck.epoch), Number(ck.batch)], [2, 1], 'the checkpoint is inside round 2');
    assert.deepEqual(
      ck.callbacks.prune,
      { rounds: [2], reached: [(0.6 * 2) / 3] },
      'the rounds done are in the checkpoint',
    );
    await runRecipe(tiny(idx), { outDir: failed, resume: true });
    assertSameRun(failed, full);

    // fails after epoch 2's prune record, before its checkpoint: the resume (from step 12) redoes that record
    const late = join(dir, 'late');
    await assert.rejects(
      runRecipe(tiny(idx, 3), {
        outDir: late,
        onProgress: (p) => {
          if (p.kind === 'epoch' && p.epoch === 2) throw new Error('interrupted');
        },
      }),
      /interrupted/,
    );
    await runRecipe(tiny(idx), { outDir: late, resume: true });
    assertSameRun(late, full);

    // SIGINT at step 7 (epoch 1, batch 3): stopped there, the checkpoint keeps the masks
    const stopped = join(dir, 'stopped');
    await runRecipe(tiny(idx), {
      outDir: stopped,
      handleSignals: true,
      onProgress: at(7, () => process.emit('SIGINT')),
    });
    const st = readCheckpoint(join(stopped, 'checkpoints', 'last.pth')).tree;
    assert.deepEqual([Number(st.epoch), Number(st.batch)], [1, 3]);
    assert.ok(modelTensors(join(stopped, 'checkpoints', 'last.pth')).has('conv2.weight_orig'));
    assert.ok(!compressRecords(stopped).some((r) => (r as { type: string }).type === 'quantize'), 'not quantized yet');
    await runRecipe(tiny(idx), { outDir: stopped, resume: true });
    assertSameRun(stopped, full);
  });
});
