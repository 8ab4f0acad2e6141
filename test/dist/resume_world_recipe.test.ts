// A recipe with a train.distributed section trains in one process in the data-parallel sample
// order (torch's DistributedSampler), recording its sample position: one process with batch 16
// gives the weights of 2 processes with batch 8, and a one-process run stopped mid-epoch goes on
// under --nproc 2 with the rest of that epoch.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { readSafetensors } from '../../src/io/index.ts';
import { readCheckpoint } from '../../src/train/index.ts';
import { checkpointAt, graft, graftChild, readJsonl, withTmp, writeIdx, writeRecipe } from '../reliability/_run.ts';

function floats(file: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, raw] of readSafetensors(file).tensors)
    out.set(k, new Float32Array(raw.data.buffer.slice(raw.data.byteOffset, raw.data.byteOffset + raw.data.byteLength)));
  return out;
}

test('train.distributed in one process: the order and weights of --nproc 2 at the same effective batch', async () => {
  await withTmp(async (dir) => {
    const idx = writeIdx(join(dir, 'idx'), { train: 32, test: 8 });
    const recipe = writeRecipe(dir, idx, { epochs: 1 });
    const dist = ['--set', 'train.distributed.timeout=30'];
    const two = graftChild(['train', recipe, '--nproc', '2', '--out', join(dir, 'two'), '--quiet', ...dist]);
    assert.equal((await two.exit).code, 0, two.err());
    const one = await graft(
      'train',
      recipe,
      '--out',
      join(dir, 'one'),
      '--quiet',
      '--set',
      'data.batchSize=16',
      ...dist,
    );
    assert.equal(one.code, 0, one.err);
    const a = floats(join(dir, 'one', 'model.safetensors'));
    const b = floats(join(dir, 'two', 'model.safetensors'));
    for (const [k, v] of b) {
      const worst = Math.max(...Array.from(v, (x, i) => Math.abs(x - a.get(k)![i]!)));
      assert.ok(worst < 1e-5, `${k}: off by ${worst}`);
    }
    // the one-process checkpoint records its place in the world's order (at the epoch's end: 0 of the next)
    const ck = readCheckpoint(join(dir, 'one', 'checkpoints', 'last.pth'));
    assert.deepEqual(ck.tree.callbacks?.dist, { world_size: 1, batch_size: 16, epoch_samples: 0 });
  });
});

test('one process stopped mid-epoch (train.distributed) resumes with --nproc 2 on the samples left', async () => {
  await withTmp(async (dir) => {
    // 64 samples, batch 8: the one process stops after 2 steps (16 samples); 48 are left, 3 steps on 2
    const idx = writeIdx(join(dir, 'idx'), { train: 64, test: 8 });
    const recipe = writeRecipe(dir, idx, { epochs: 2 });
    const run = join(dir, 'run');
    const cut = graftChild(
      [
        'train',
        recipe,
        '--out',
        run,
        '--quiet',
        '--set',
        'train.checkpoint.everySteps=1',
        '--set',
        'train.distributed.timeout=30',
      ],
      { GRAFT_TEST_KILL_AT: 'checkpoint-write:3' },
    );
    assert.equal((await cut.exit).signal, 'SIGKILL', cut.err());
    const at = checkpointAt(join(run, 'checkpoints', 'last.pth'));
    assert.deepEqual([at.epoch, at.batch, at.step], [0, 2, 2]);
    // a position in the data-parallel order, which --nproc 2 goes on from
    const cutDist = readCheckpoint(join(run, 'checkpoints', 'last.pth')).tree.callbacks?.dist;
    assert.deepEqual(cutDist, { world_size: 1, batch_size: 8, epoch_samples: 16 });
    const resumed = graftChild(['train', '--resume', run, '--nproc', '2', '--quiet']);
    assert.equal((await resumed.exit).code, 0, resumed.err());
    const records = readJsonl(join(run, 'metrics.jsonl'));
    assert.deepEqual(
      records.filter((r) => r.type === 'epoch').map((e) => [e.epoch, e.train.items]),
      [
        [0, 64],
        [1, 64],
      ],
    );
    assert.equal(records.filter((x) => x.type === 'step').at(-1)!.step, 2 + 3 + 4);
  });
});
