// Image folders and manifests written by the test: class order, files, splits, bad files.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  DataError,
  DataLoader,
  decodeImage,
  imageFolder,
  imageFolderSplits,
  imageManifest,
  readImage,
  splitDataset,
  T,
} from '../../src/data/index.ts';
import { makeFolder, pattern, tempDir, writeCorrupt, writeImage } from './_helpers.ts';

const tmp = tempDir();
const root = join(tmp.dir, 'flat');
const split = join(tmp.dir, 'split');

before(async () => {
  // class names chosen so that code-point order differs from a locale sort
  await makeFolder(root, { b_dog: 5, B_cat: 3, a_bird: 4 });
  mkdirSync(join(root, 'a_bird', 'sub'));
  await writeImage(join(root, 'a_bird', 'sub', 'x.png'), 20, 20, 99);
  writeFileSync(join(root, 'a_bird', 'notes.txt'), 'not an image');
  await makeFolder(join(split, 'train'), { cat: 2, dog: 2 });
  await makeFolder(join(split, 'val'), { dog: 1 });
});
after(() => tmp.cleanup());

describe('imageFolder', () => {
  test('classes sorted by code point, files sorted per folder, sub-folders after, non-images ignored', () => {
    const ds = imageFolder(root);
    assert.deepEqual(ds.classes, ['B_cat', 'a_bird', 'b_dog']);
    assert.equal(ds.length, 13);
    const rel = ds.samples.map((s) => `${s.label}:${s.file.slice(root.length + 1)}`);
    assert.deepEqual(rel.slice(3, 8), [
      '1:a_bird/000.png',
      '1:a_bird/001.jpg',
      '1:a_bird/002.png',
      '1:a_bird/003.jpg',
      '1:a_bird/sub/x.png',
    ]);
    assert.deepEqual(ds.classToIdx, { B_cat: 0, a_bird: 1, b_dog: 2 });
  });

  test('an empty class folder is an error, as in torchvision', () => {
    const d = join(tmp.dir, 'empty');
    mkdirSync(join(d, 'x'), { recursive: true });
    assert.throws(
      () => imageFolder(d),
      (e: DataError) => e instanceof DataError && /no valid file for the classes x/.test(e.message),
    );
  });

  test('decoding: PNG is exact, grayscale images come out as 3 equal channels', async () => {
    const ds = imageFolder(root);
    const img = await readImage(ds.samples[3]!.file); // a_bird/000.png, the 9th image written (seed 8)
    assert.deepEqual([img.width, img.height], [43, 34]);
    assert.deepEqual(Buffer.from(img.data), pattern(43, 34, 8));
    const sharp = (await import('sharp')).default;
    const gray = await sharp(Buffer.from([0, 128, 255, 7]), { raw: { width: 2, height: 2, channels: 1 } })
      .png()
      .toBuffer();
    const g = await decodeImage(gray);
    assert.deepEqual(Array.from(g.data), [0, 0, 0, 128, 128, 128, 255, 255, 255, 7, 7, 7]);
    const l = await decodeImage(gray, 'L');
    assert.deepEqual([l.channels, ...l.data], [1, 0, 128, 255, 7]);
  });
});

describe('splits', () => {
  test('train/ and val/ folders: val uses the training classes', () => {
    const { train, val } = imageFolderSplits(split);
    assert.deepEqual(train.classes, ['cat', 'dog']);
    assert.deepEqual(val.classes, ['cat', 'dog']);
    assert.deepEqual(val.targets, [1]);
  });

  test('a seeded ratio split is stratified, disjoint and reproducible', () => {
    const a = imageFolderSplits(root, { valRatio: 0.4, seed: 5 });
    const b = imageFolderSplits(root, { valRatio: 0.4, seed: 5 });
    const c = imageFolderSplits(root, { valRatio: 0.4, seed: 6 });
    const files = (d: { samples: readonly { file: string }[] }) => d.samples.map((s) => s.file);
    assert.deepEqual(files(a.val), files(b.val));
    assert.notDeepEqual(files(a.val), files(c.val));
    // per class: round(3 * .4) = 1, round(5 * .4) = 2, round(5 * .4) = 2
    const count = (t: readonly number[], k: number) => t.filter((x) => x === k).length;
    assert.deepEqual(
      [0, 1, 2].map((k) => count(a.val.targets, k)),
      [1, 2, 2],
    );
    assert.equal(a.train.length + a.val.length, 13);
    assert.equal(new Set([...files(a.train), ...files(a.val)]).size, 13);
  });

  test('splitDataset works on anything with subset()', () => {
    const ds = imageFolder(root);
    const { trainIndices, valIndices } = splitDataset(ds, { valRatio: 0.25, seed: 1, stratify: false });
    assert.equal(valIndices.length, 3);
    assert.equal(trainIndices.length, 10);
  });
});

describe('manifests', () => {
  test('CSV with quoted paths and label names; JSONL with integer labels', () => {
    const m = join(tmp.dir, 'm');
    mkdirSync(m);
    const ds = imageFolder(root);
    const csv = ['path,label', ...ds.samples.slice(0, 4).map((s, k) => `"${s.file}",${k % 2 ? 'zebra' : 'ant'}`)].join(
      '\n',
    );
    writeFileSync(join(m, 'train.csv'), `${csv}\n`);
    const a = imageManifest(join(m, 'train.csv'));
    assert.deepEqual(a.classes, ['ant', 'zebra']);
    assert.deepEqual(a.targets, [0, 1, 0, 1]);
    writeFileSync(
      join(m, 'train.jsonl'),
      ds.samples
        .slice(0, 3)
        .map((s, k) => JSON.stringify({ image: s.file.slice(root.length + 1), label: k * 2 }))
        .join('\n'),
    );
    const b = imageManifest(join(m, 'train.jsonl'), { root });
    assert.deepEqual(b.targets, [0, 2, 4]);
    assert.equal(b.classes.length, 5);
  });

  test('a missing file or a bad row names the line; skip mode records it', () => {
    const m = join(tmp.dir, 'm2');
    mkdirSync(m);
    writeFileSync(join(m, 'x.jsonl'), '{"path":"nope.png","label":"a"}\n{oops\n');
    assert.throws(() => imageManifest(join(m, 'x.jsonl')), /x\.jsonl: line 2: invalid JSON/);
    writeFileSync(join(m, 'y.csv'), 'path,label\nnope.png,a\n');
    assert.throws(() => imageManifest(join(m, 'y.csv')), /y\.csv: line 2: image .*nope\.png does not exist/);
    writeFileSync(
      join(m, 'z.jsonl'),
      `{"path":"nope.png","label":"a"}\n{oops\n{"path":${JSON.stringify(imageFolder(root).samples[0]!.file)},"label":"b"}\n`,
    );
    const ds = imageManifest(join(m, 'z.jsonl'), { onBadSample: 'skip' });
    assert.equal(ds.length, 1);
    assert.equal(ds.bad.length, 2);
  });
});

describe('bad images', () => {
  test('a corrupt image fails the batch with a DataError naming the file', async () => {
    const d = join(tmp.dir, 'corrupt');
    await makeFolder(d, { a: 3, b: 2 });
    writeCorrupt(join(d, 'b', 'zzz.jpg'));
    const ds = imageFolder(d, { transforms: [T.resize([8, 8])] });
    const loader = new DataLoader(ds, { batchSize: 6 });
    await assert.rejects(
      async () => {
        for await (const b of loader) b.dispose();
      },
      (e: DataError) => e instanceof DataError && e.file.endsWith('zzz.jpg') && /cannot decode image/.test(e.message),
    );
    const pooled = new DataLoader(ds, { batchSize: 6, workers: 1 });
    await assert.rejects(
      async () => {
        for await (const b of pooled) b.dispose();
      },
      (e: DataError) => e instanceof DataError && e.file.endsWith('zzz.jpg'),
    );
    await pooled.close();
    const skip = new DataLoader(ds, { batchSize: 4, onBadSample: 'skip' });
    const sizes: number[] = [];
    for await (const b of skip) {
      sizes.push(b.size);
      assert.deepEqual(b.x.shape, [b.size, 3, 8, 8]);
      b.dispose();
    }
    assert.deepEqual(sizes, [4, 1]);
    assert.equal(skip.skipped, 1);
    assert.deepEqual(
      [...skip.badSamples.keys()].map((f) => f.slice(d.length)),
      ['/b/zzz.jpg'],
    );
  });

  test('images of different sizes without a fixed-size transform: error says how to fix it', async () => {
    const ds = imageFolder(root);
    const loader = new DataLoader(ds, { batchSize: 4 });
    await assert.rejects(async () => {
      for await (const b of loader) b.dispose();
    }, /a batch needs one size.*T\.resize/);
  });
});
