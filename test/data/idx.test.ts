// IDX files: the real Fashion-MNIST when installed (skipped elsewhere), and small files written here.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  DataError,
  DataLoader,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
  fashionMnist,
  idxDataset,
  readIdx,
  T,
} from '../../src/data/index.ts';
import { tempDir } from './_helpers.ts';

const tmp = tempDir();
after(() => tmp.cleanup());

function idx(type: number, shape: number[], body: Uint8Array): Buffer {
  const h = Buffer.alloc(4 + 4 * shape.length);
  h[2] = type;
  h[3] = shape.length;
  shape.forEach((s, i) => {
    h.writeUInt32BE(s, 4 + 4 * i);
  });
  return Buffer.concat([h, body]);
}

describe('IDX files', () => {
  test('images + labels (gzipped or not) make a dataset; ToTensor scales to [0, 1]', async () => {
    const img = join(tmp.dir, 'img.gz');
    const lab = join(tmp.dir, 'lab');
    writeFileSync(img, gzipSync(idx(0x08, [2, 2, 3], Uint8Array.from([0, 51, 102, 153, 204, 255, 1, 2, 3, 4, 5, 6]))));
    writeFileSync(lab, idx(0x08, [2], Uint8Array.from([9, 4])));
    const ds = idxDataset(img, lab);
    assert.equal(ds.length, 2);
    assert.deepEqual(ds.targets, [9, 4]);
    const l = new DataLoader(ds, { batchSize: 2 });
    for await (const b of l) {
      assert.deepEqual(b.x.shape, [2, 1, 2, 3]);
      assert.deepEqual(
        b.x
          .toArray()
          .slice(0, 6)
          .map((v) => Math.round(v * 255)),
        [0, 51, 102, 153, 204, 255],
      );
      assert.equal(b.y!.dtype, 'int64');
      b.dispose();
    }
  });

  test('a truncated file is a DataError naming it', () => {
    const f = join(tmp.dir, 'bad');
    writeFileSync(f, idx(0x08, [5, 2], Uint8Array.from([1, 2, 3])));
    assert.throws(
      () => readIdx(f),
      (e: DataError) => e instanceof DataError && e.file === f && /header says 10 values/.test(e.message),
    );
  });
});

const haveFashion = existsSync(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'));

describe('Fashion-MNIST', { skip: haveFashion ? false : `not installed at ${FASHION_MNIST_DIR}` }, () => {
  test('the test split: 10000 images of 28x28, balanced classes, named as torchvision', async () => {
    const ds = fashionMnist({ train: false });
    assert.equal(ds.length, 10000);
    assert.deepEqual([ds.height, ds.width, ds.channels], [28, 28, 1]);
    assert.deepEqual(ds.classes, FASHION_MNIST_CLASSES);
    const counts = new Array(10).fill(0);
    for (const t of ds.targets) counts[t]++;
    assert.deepEqual(counts, new Array(10).fill(1000));
    // the first test image is an ankle boot (label 9), as in every Fashion-MNIST copy
    assert.equal(ds.targets[0], 9);
    assert.equal(ds.classes[ds.targets[0]!], 'Ankle boot');
  });

  test('batches for an RGB model: grayscale(3) + resize + normalize on the main thread', async () => {
    const ds = fashionMnist({ train: false }).withTransforms([
      T.grayscale(3),
      T.resize([32, 32]),
      T.normalize([0.5], [0.5]),
    ]);
    const loader = new DataLoader(ds, { batchSize: 64, shuffle: true, seed: 0 });
    let seen = 0;
    for await (const b of loader.iterate({ startBatch: loader.length - 3 })) {
      assert.deepEqual(b.x.shape.slice(1), [3, 32, 32]);
      const v = b.x.toArray();
      assert.ok(v.every((x) => x >= -1 && x <= 1));
      seen += b.size;
      b.dispose();
    }
    assert.equal(seen, 64 * 2 + (10000 % 64));
  });
});
