// Decompression bombs are refused from the header (PIL's pixel limit, configurable); samples dropped
// under onBadSample 'skip' are counted, listed and warned about, one line per file, rate-limited.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import {
  type BatchContext,
  DataError,
  DataLoader,
  type Dataset,
  decodeImage,
  ImageDataset,
  type LoadedBatch,
  MAX_IMAGE_PIXELS,
  readImage,
  SKIPPED_KEPT,
  T,
} from '../../src/data/index.ts';
import { tempDir, writeImage } from './_helpers.ts';

const tmp = tempDir();
after(() => tmp.cleanup());

function crc32(buf: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/**
 * A 1-bit grayscale PNG header of width x height with the first rows of zeros: a decoder that does
 * not check the size first allocates width * height * 3 bytes (768 MB for 16000 x 16000).
 */
function bombPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  const rows = Buffer.alloc((Math.ceil(width / 8) + 1) * 2);
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const bomb = join(tmp.dir, 'bomb.png');
const small = join(tmp.dir, 'small.png');
const big = join(tmp.dir, 'big.png');
before(async () => {
  writeFileSync(bomb, bombPng(16000, 16000));
  await writeImage(small, 8, 8, 1);
  await writeImage(big, 20, 20, 2);
});

describe('pixel limit', () => {
  test("16000x16000 is refused before decoding by default (PIL's limit), naming the file, the size and the fix", async () => {
    assert.equal(MAX_IMAGE_PIXELS, 178956970);
    await assert.rejects(
      () => readImage(bomb),
      (e: DataError) =>
        e instanceof DataError &&
        e.file === bomb &&
        e.reason ===
          'image is 16000x16000 = 256.0 MP, over the limit of 178956970 pixels (179.0 MP): refused before decoding, as a possible decompression bomb' &&
        /raise maxImagePixels to at least 256000000 \(data\.maxImagePixels in a recipe; null for no limit\)/.test(
          e.message,
        ),
    );
  });

  test('the limit is configurable: a lower one refuses, null lifts it', async () => {
    await assert.rejects(
      () => readImage(big, 'RGB', { maxImagePixels: 399 }),
      /20x20 = 0\.0 MP, over the limit of 399/,
    );
    assert.equal((await readImage(big, 'RGB', { maxImagePixels: 400 })).width, 20);
    const bytes = (await import('node:fs')).readFileSync(big);
    assert.equal((await decodeImage(bytes, 'RGB', big, { maxImagePixels: null })).height, 20);
    await assert.rejects(
      () => readImage(big, 'RGB', { maxImagePixels: 0 }),
      /maxImagePixels must be a positive integer/,
    );
  });

  test("in a dataset: an error with the skip hint, or skipped under onBadSample 'skip' (main thread and workers)", async () => {
    const ds = new ImageDataset(
      [
        { file: small, label: 0 },
        { file: big, label: 1 },
        { file: small, label: 1 },
      ],
      ['a', 'b'],
      { transforms: [T.resize([4, 4])], maxImagePixels: 100 },
    );
    await assert.rejects(
      async () => {
        for await (const b of new DataLoader(ds, { batchSize: 3 })) b.dispose();
      },
      (e: DataError) =>
        e.file === big && /over the limit of 100 pixels/.test(e.message) && /onBadSample: 'skip'/.test(e.message),
    );
    for (const workers of [0, 1]) {
      const warned: string[] = [];
      const loader = new DataLoader(ds, { batchSize: 3, workers, onBadSample: 'skip', warn: (m) => warned.push(m) });
      for await (const b of loader) {
        assert.deepEqual(b.indices, [0, 2]);
        b.dispose();
      }
      await loader.close();
      assert.equal(loader.skipped, 1);
      assert.deepEqual(loader.skippedSamples, [{ index: 1, path: big, reason: loader.skippedSamples[0]!.reason }]);
      assert.match(loader.skippedSamples[0]!.reason, /^image is 20x20/);
      assert.equal(warned.length, 1);
      assert.match(warned[0]!, new RegExp(`^skipped ${big} \\(sample 1\\): image is 20x20`));
    }
  });
});

/** An in-memory dataset whose samples at `badAt` fail to load (as a corrupt file would). */
class Flaky implements Dataset {
  constructor(
    readonly length: number,
    private readonly badAt: (i: number) => boolean,
  ) {}
  loadBatch(indices: number[], ctx: BatchContext): LoadedBatch {
    const kept = indices.filter((i) => !(ctx.onBadSample === 'skip' && this.badAt(i)));
    if (ctx.onBadSample !== 'skip' && indices.some(this.badAt)) throw new DataError('f', 'bad');
    return {
      fields: { x: { data: new Float32Array(kept), shape: [kept.length] } },
      indices: kept,
      bad: indices
        .filter((i) => !kept.includes(i))
        .map((i) => ({ file: `img${i}.png`, reason: 'cannot decode', index: i })),
    };
  }
}

describe('skipped samples', () => {
  test('counted every time met, listed once per file (the first 100), one warning line per file, rate-limited', async () => {
    const warned: string[] = [];
    const loader = new DataLoader(new Flaky(400, (i) => i % 2 === 1), {
      batchSize: 50,
      onBadSample: 'skip',
      warn: (m) => warned.push(m),
    });
    for (let epoch = 0; epoch < 2; epoch++) for await (const b of loader) b.dispose();
    assert.equal(loader.skipped, 400, '200 bad samples met in each of 2 epochs');
    assert.equal(loader.skippedSamples.length, SKIPPED_KEPT);
    assert.deepEqual(loader.skippedSamples[0], { index: 1, path: 'img1.png', reason: 'cannot decode' });
    // 10 named, then counts at 20, 40, 80, 160 different files
    assert.equal(warned.length, 14);
    assert.equal(warned[0], 'skipped img1.png (sample 1): cannot decode');
    assert.equal(warned[10], '20 samples skipped so far (the first 10 are named above)');
    assert.equal(warned[13], '160 samples skipped so far (the first 10 are named above)');
  });
});
