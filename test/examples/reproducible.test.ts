// A seeded recipe run twice by `graft train` in separate processes logs the same losses bit for bit:
// pretrained weights with a new (randomly initialised) head, dropout, random augmentation decoded
// in worker threads, a shuffled loader, two phases and two intra-op threads.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { imageFolder, ROOT, recipe, withTmp } from '../recipe/_helpers.ts';
import { firstDifference, loggedLosses } from './_losses.ts';

const RECIPE = (dataRoot: string) => `
extends: ${JSON.stringify(recipe('003_head_then_all.yaml'))}
name: reproducible
data:
  kind: image-folder
  root: ${JSON.stringify(dataRoot)}
  imageSize: 32
  batchSize: 4
  workers: 2
  transforms:
    train: [{ randomResizedCrop: 32 }, randomHorizontalFlip, { normalize: imagenet }]
phases:
  - { name: classifier only, epochs: 1, freeze: { freeze: features } }
  - { name: all layers, epochs: 1, freeze: none }
train: { monitor: eval.accuracy, logEvery: 1, threads: 2, report: false, seed: 7 }
`;

test('graft train twice in separate processes: every logged loss is the same bit for bit', async () => {
  await withTmp(async (dir) => {
    const data = await imageFolder(join(dir, 'data'), ['cat', 'dog', 'fox'], { train: 4, val: 2 });
    const file = join(dir, 'recipe.yaml');
    writeFileSync(file, RECIPE(data));
    const runs = [join(dir, 'a'), join(dir, 'b')];
    for (const out of runs) {
      const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'graft.mjs'), 'train', file, '--out', out, '--quiet'], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 180_000,
      });
      assert.equal(r.status, 0, `${r.stdout.slice(-1000)}\n${r.stderr.slice(-2000)}`);
    }
    const [a, b] = runs.map((out) => loggedLosses(join(out, 'metrics.jsonl'))) as [
      Map<string, number>,
      Map<string, number>,
    ];
    // 12 images in batches of 4: 3 steps per epoch, 2 epochs -> 6 step losses + 2 train + 2 eval
    assert.equal(a.size, 10, [...a.keys()].join(', '));
    assert.equal(firstDifference(a, b), undefined);
  });
});
