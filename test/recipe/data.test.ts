// A recipe's data options reach the datasets: data.classes refuses unknown labels and folders,
// data.maxImagePixels bounds every image, onBadSample 'skip' counts what it drops.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataError } from '../../src/data/index.ts';
import { buildData } from '../../src/recipe/data.ts';
import { recipeFrom } from '../../src/recipe/load.ts';
import { imageFolder, withTmp, writeImage } from './_helpers.ts';

const recipe = (data: Record<string, unknown>) =>
  recipeFrom({ model: { name: 'cifar_net' }, data, optimizer: { type: 'SGD', lr: 0.1 }, phases: [{ epochs: 1 }] })
    .recipe;
const build = (data: Record<string, unknown>) => buildData(recipe(data), { seed: 0, meta: undefined });

test('data.classes: an image folder with an undeclared folder, a manifest with an unknown label', async () => {
  await withTmp(async (dir) => {
    await imageFolder(join(dir, 'imgs'), ['cat', 'dgo', 'dog'], { train: 1, val: 1 });
    assert.throws(
      () => build({ kind: 'image-folder', root: join(dir, 'imgs'), classes: ['cat', 'dog'] }),
      (e: DataError) => e instanceof DataError && /folder 'dgo' is not one of the 2 declared classes/.test(e.message),
    );
    await writeImage(join(dir, 'a.png'), 0, 0);
    writeFileSync(join(dir, 'm.csv'), 'path,label\na.png,cat\na.png,dgo\n');
    assert.throws(
      () => build({ kind: 'manifest', train: join(dir, 'm.csv'), valRatio: 0.5, classes: ['cat', 'dog'] }),
      /m\.csv: line 3: label 'dgo' is not one of the 2 declared classes \(did you mean 'dog'\?\)/,
    );
  });
});

test("data.maxImagePixels: an image over it is an error, or under onBadSample 'skip' counted by the loader", async () => {
  await withTmp(async (dir) => {
    await imageFolder(join(dir, 'imgs'), ['a', 'b'], { train: 2, val: 1 }); // 20 x 16 = 320 pixels each
    await writeImage(join(dir, 'imgs', 'train', 'a', 'big.png'), 0, 9, 40, 40);
    const data = { kind: 'image-folder', root: join(dir, 'imgs'), imageSize: 8, batchSize: 8, maxImagePixels: 400 };
    const strict = build(data);
    await assert.rejects(async () => {
      for await (const b of strict.loader('train')) b.dispose();
    }, /big\.png: image is 40x40 = 0\.0 MP, over the limit of 400 pixels/);
    const skip = build({ ...data, onBadSample: 'skip' });
    const warned: string[] = [];
    const error = console.error;
    console.error = (m: string) => warned.push(m);
    try {
      const loader = skip.loader('train');
      let n = 0;
      for await (const b of loader) {
        n += b.size;
        b.dispose();
      }
      assert.equal(n, 4);
      assert.equal(loader.skipped, 1);
      assert.equal(loader.skippedSamples[0]!.path, join(dir, 'imgs', 'train', 'a', 'big.png'));
    } finally {
      console.error = error;
    }
    assert.equal(warned.length, 1);
    assert.match(warned[0]!, /^graft: warning: skipped .*big\.png \(sample \d\): image is 40x40/);
    assert.throws(() => build({ ...data, maxImagePixels: 0 }), /data\.maxImagePixels/);
  });
});
