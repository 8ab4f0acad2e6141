// kill -9 drills: `graft train` is killed (SIGKILL, by the test-only GRAFT_TEST_KILL_AT hook) at
// the points where a run folder could be left inconsistent: half-way through a checkpoint's temp
// file, between last.pth and best.pth, during a keep-copy, and during recipe.yaml. Each time
// `graft train --resume` must go on to the same step losses as a run never killed, with best.pth
// holding the recorded best epoch, no keep-copy missing and no temp file left.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readSafetensors } from '../../src/io/index.ts';
import { readCheckpoint, sameBytes } from '../../src/train/index.ts';
import { checkpointAt, graft, graftChild, stepLosses, temps, withTmp, writeIdx, writeRecipe } from './_run.ts';

const killedAt = async (args: string[], point: string) => {
  const c = graftChild(args, { GRAFT_TEST_KILL_AT: point });
  const e = await c.exit;
  assert.equal(e.signal, 'SIGKILL', `expected the kill at ${point}; exit ${e.code}: ${c.err()}`);
  return c;
};

test('kill -9 at each injected point, then --resume: same losses as an uninterrupted run, files consistent', {
  timeout: 600_000,
}, async () => {
  await withTmp(async (dir) => {
    const idx = writeIdx(join(dir, 'idx'));
    const recipe = writeRecipe(dir, idx);
    const twoEpochs = writeRecipe(dir, idx, { epochs: 2, name: 'two' });
    const runs = Object.fromEntries(['a', 'b', 'c', 'd'].map((k) => [k, join(dir, k)]));
    // the four kills run side by side while the reference trains here
    const kills = Promise.all([
      killedAt(['train', recipe, '--out', runs.a!, '--quiet'], 'checkpoint-write:2'),
      killedAt(
        ['train', twoEpochs, '--out', runs.b!, '--quiet', '--set', 'train.export={weights: best}'],
        'after-last:2',
      ),
      killedAt(['train', recipe, '--out', runs.c!, '--quiet'], 'keep-copy:2'),
      killedAt(['train', recipe, '--out', runs.d!, '--quiet'], 'after-last:1'),
    ]);
    const ref = join(dir, 'ref');
    assert.equal((await graft('train', recipe, '--out', ref, '--quiet')).code, 0);
    const refLosses = stepLosses(ref);
    assert.equal(refLosses.length, 12);
    assert.equal(checkpointAt(join(ref, 'checkpoints', 'last.pth')).best, 2, 'train.loss falls every epoch');
    await kills;

    // (a) half a temp file of epoch 2's last.pth: last.pth is still epoch 1's
    assert.equal(temps(runs.a!).length, 1, 'the half-written temp file is there');
    assert.equal(checkpointAt(join(runs.a!, 'checkpoints', 'last.pth')).epoch, 1);
    // (d) killed between epoch 1's last.pth and its best / keep copies; its resume is killed while
    // writing recipe.yaml: the old recipe.yaml stays whole
    const recipeText = readFileSync(join(runs.d!, 'recipe.yaml'), 'utf8');
    await killedAt(['train', '--resume', runs.d!, '--quiet'], 'recipe-write:1');
    assert.equal(readFileSync(join(runs.d!, 'recipe.yaml'), 'utf8'), recipeText);
    assert.ok(temps(runs.d!).some((n) => n.startsWith('recipe.yaml.tmp-')));

    for (const k of ['a', 'c', 'd']) {
      const run = runs[k]!;
      const r = await graft('train', '--resume', run, '--quiet');
      assert.equal(r.code, 0, `${k}: ${r.err}`);
      assert.deepEqual(stepLosses(run), refLosses, `${k}: the same step losses`);
      const last = checkpointAt(join(run, 'checkpoints', 'last.pth'));
      assert.equal(last.best, 2, k);
      assert.ok(sameBytes(join(run, 'checkpoints', 'last.pth'), join(run, 'checkpoints', 'best.pth')), k);
      assert.deepEqual(last.kept, ['epoch-0002.pth', 'epoch-0003.pth'], k);
      for (const e of [2, 3]) assert.equal(checkpointAt(join(run, 'checkpoints', `epoch-000${e}.pth`)).epoch, e, k);
      assert.deepEqual(temps(run), [], `${k}: no temp file left`);
    }

    // (b) last.pth (epoch 2, recorded best) written, best.pth one best-epoch behind, epoch-0002.pth
    // missing: the resume repairs both before anything else, and the export takes the recorded best
    const b = join(runs.b!, 'checkpoints');
    assert.equal(checkpointAt(join(b, 'best.pth')).epoch, 1, 'best.pth is one best-epoch behind');
    const r = await graft('train', '--resume', runs.b!, '--quiet');
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /best\.pth was behind its record: recreated/);
    assert.match(r.err, /epoch-0002\.pth was missing: recreated/);
    assert.ok(sameBytes(join(b, 'last.pth'), join(b, 'best.pth')));
    assert.equal(checkpointAt(join(b, 'epoch-0002.pth')).epoch, 2);
    const exported = readSafetensors(join(runs.b!, 'model.safetensors')).tensors;
    const best = readCheckpoint(join(b, 'last.pth')).raw.get('model') as Map<string, { data: Uint8Array }>;
    for (const [k, t] of best)
      assert.deepEqual(Buffer.from(exported.get(k)!.data), Buffer.from(t.data), `exported ${k} is the best epoch's`);
    assert.deepEqual(stepLosses(runs.b!), refLosses.slice(0, 8));
  });
});
