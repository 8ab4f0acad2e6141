// The addon's image path against PIL 9.4 / torchvision 0.14 (test/fixtures/images, made by
// scripts/fixtures/image_fixtures.py): decoding every PNG/JPEG kind pixel for pixel, the
// crop/resize/flip geometry byte for byte (bilinear and bicubic), ToTensor + Normalize bit for bit;
// and the loader's native batches equal to the sharp + JS path's, bad files handled alike.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { nativeChain, planImage } from '../../src/data/image_fast.ts';
import {
  DataLoader,
  IMAGENET_MEAN,
  IMAGENET_STD,
  imageFolder,
  pixels,
  Rng,
  readImage,
  T,
  type Transform,
} from '../../src/data/index.ts';
import {
  applyImagePlan,
  decodeImageBytes,
  IMAGE_DECODE_ERROR,
  IMAGE_OK,
  IMAGE_UNSUPPORTED,
  imageNativeAvailable,
  imagesToBatch,
  readImageFiles,
} from '../../src/tensor/image_native.ts';
import { makeFolder, tempDir, writeCorrupt } from './_helpers.ts';

const FX = new URL('../fixtures/images/', import.meta.url).pathname;
const fx = JSON.parse(readFileSync(join(FX, 'expected.json'), 'utf8'));
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const skip = imageNativeAvailable() ? false : 'the addon was built without libpng/libjpeg';

interface PlanSpec {
  crop?: [number, number, number, number];
  resize?: [number, number];
  center?: [number, number];
  hflip?: boolean;
  vflip?: boolean;
  filter?: 'bilinear' | 'bicubic';
}

// the fixture's torchvision calls as a plan (centre crop box as torchvision computes it)
function planOf(p: PlanSpec, w: number, h: number) {
  const crop1 = p.crop ?? [0, 0, w, h];
  const resize = p.resize ?? [crop1[2], crop1[3]];
  let crop2: [number, number, number, number] = [0, 0, resize[0], resize[1]];
  if (p.center) {
    const [ch, cw] = p.center;
    const rng = new Rng(0);
    crop2 = planImage(resize[0], resize[1], [T.centerCrop([ch, cw])], rng).crop2;
  }
  return { crop1, resize, crop2, hflip: !!p.hflip, vflip: !!p.vflip };
}

describe('native image decode and geometry vs PIL', { skip }, () => {
  for (const [name, f] of Object.entries(fx.files) as [string, any][])
    test(`${name} (PIL mode ${f.mode}) decodes to PIL's convert('RGB')`, () => {
      const d = decodeImageBytes(new Uint8Array(readFileSync(join(FX, name))), null);
      assert.equal(d.status, IMAGE_OK, d.message);
      assert.deepEqual([d.width, d.height], [f.width, f.height]);
      assert.deepEqual(d.rgb, b64(f.rgb));
    });

  test('every crop/resize/flip case equals torchvision.transforms.functional on the PIL image', () => {
    const src = b64(fx.source.rgb);
    for (const c of fx.cases) {
      const out = applyImagePlan(
        src,
        fx.source.width,
        fx.source.height,
        planOf(c.plan, fx.source.width, fx.source.height),
        c.plan.filter,
      );
      assert.equal(out.length, c.width * c.height * 3, c.name);
      assert.deepEqual(out, b64(c.out), `${c.name} ${JSON.stringify(c.plan)}`);
    }
  });

  test('ToTensor + Normalize into the batch tensor: bit for bit torchvision', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, 'src.png');
      await sharp(Buffer.from(b64(fx.source.rgb)), {
        raw: { width: fx.source.width, height: fx.source.height, channels: 3 },
      })
        .png()
        .toFile(file);
      const d = await readImageFiles([file, file], null);
      const p = planOf(fx.tensor.plan, fx.source.width, fx.source.height);
      const { x, failed } = await imagesToBatch(
        d,
        [
          { src: 0, ...p },
          { src: 1, ...p, hflip: false },
        ],
        [24, 24],
        {
          mean: fx.tensor.mean,
          std: fx.tensor.std,
        },
      );
      assert.deepEqual(failed, []);
      assert.deepEqual(x.shape, [2, 3, 24, 24]);
      const got = x.data() as Float32Array;
      const want = new Float32Array(b64(fx.tensor.out).buffer);
      assert.deepEqual(got.subarray(0, want.length), want);
      // the unflipped row is the flipped one mirrored
      assert.equal(got[want.length + 23], want[0]);
      // several threads on one batch: the same rows; a plan with src -1 is a zero row
      const many = Array.from({ length: 9 }, (_, k) => ({ src: k % 2, ...p, hflip: k % 3 === 0 }));
      const one = await imagesToBatch(await readImageFiles([file, file], null), many, [24, 24], {});
      const three = await imagesToBatch(
        await readImageFiles([file, file], null),
        [...many, { src: -1, ...p }],
        [24, 24],
        { threads: 3 },
      );
      const a = one.x.data() as Float32Array;
      const b = three.x.data() as Float32Array;
      assert.deepEqual(b.subarray(0, a.length), a);
      assert.ok(b.subarray(a.length).every((v) => v === 0));
      for (const t of [x, one.x, three.x]) t.dispose();
    } finally {
      cleanup();
    }
  });

  test("readImage on this thread decodes in the addon too: PIL's pixels for every file", async () => {
    // sharp scales 16-bit gray where PIL clips it: gray16.png tells the two paths apart
    for (const [name, f] of Object.entries(fx.files) as [string, any][])
      assert.deepEqual((await readImage(join(FX, name))).data, b64(f.rgb), name);
    const luma = await readImage(join(FX, 'gray.png'), 'L');
    assert.deepEqual(
      luma.data,
      b64(fx.files['gray.png'].rgb).filter((_, i) => i % 3 === 0),
    );
  });

  test('bytes that are not PNG/JPEG are left to sharp; broken ones are errors with a reason', () => {
    assert.equal(decodeImageBytes(new TextEncoder().encode('GIF89a......'), null).status, IMAGE_UNSUPPORTED);
    const png = new Uint8Array(readFileSync(join(FX, 'rgb.png')));
    const cut = decodeImageBytes(png.subarray(0, 200), null);
    assert.notEqual(cut.status, IMAGE_OK);
    assert.match(cut.message, /truncated|error|CRC|data/i);
    const jpg = new Uint8Array(readFileSync(join(FX, 'q90_420.jpg')));
    assert.match(decodeImageBytes(jpg.subarray(0, jpg.length - 300), null).message, /truncated/);
    const big = decodeImageBytes(png, 100);
    assert.deepEqual([big.status, big.width, big.height], [3, 19, 13]);
  });
});

describe('a JPEG decoded only as far as a crop box needs', { skip }, () => {
  // the rows/columns of the region equal a full decode's (libjpeg's cropped edges fall in the margin)
  async function jpegs(): Promise<Record<string, Uint8Array>> {
    const [w, h] = [150, 97];
    const raw = Buffer.alloc(w * h * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 7 + ((i / 3) % w) * 3 + Math.floor(i / (3 * w)) * 5) & 255;
    const src = () => sharp(raw, { raw: { width: w, height: h, channels: 3 } });
    const out: Record<string, Uint8Array> = {};
    out['420'] = await src().jpeg({ quality: 90, chromaSubsampling: '4:2:0' }).toBuffer();
    out['444'] = await src().jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer();
    out.progressive = await src().jpeg({ quality: 80, progressive: true }).toBuffer();
    out.gray = await src().grayscale().jpeg({ quality: 80 }).toBuffer();
    for (const f of ['q85_422.jpg', 'q75_444.jpg', 'progressive.jpg', 'gray.jpg'])
      out[f] = new Uint8Array(readFileSync(join(FX, f)));
    return out;
  }

  test('every region equals the same rows and columns of a full decode', async () => {
    const rng = new Rng(7);
    for (const [name, bytes] of Object.entries(await jpegs())) {
      const full = decodeImageBytes(bytes, null);
      assert.equal(full.status, IMAGE_OK, name);
      const { width: W, height: H } = full;
      let smaller = 0;
      for (let k = 0; k < 60; k++) {
        const w = 1 + Math.floor(rng.random() * W);
        const h = 1 + Math.floor(rng.random() * H);
        const x = Math.floor(rng.random() * (W - w + 1));
        const y = Math.floor(rng.random() * (H - h + 1));
        const d = decodeImageBytes(bytes, null, [x, y, w, h]);
        assert.equal(d.status, IMAGE_OK, name);
        const p = d.part;
        assert.ok(p.x0 <= x && p.y0 <= y && p.x0 + p.cols >= x + w && p.y0 + p.rows >= y + h, `${name} covers`);
        assert.equal(d.rgb!.length, p.cols * p.rows * 3);
        if (p.cols * p.rows < W * H) smaller++;
        for (let r = y; r < y + h; r++) {
          const got = d.rgb!.subarray(
            ((r - p.y0) * p.cols + (x - p.x0)) * 3,
            ((r - p.y0) * p.cols + (x - p.x0) + w) * 3,
          );
          const want = full.rgb!.subarray((r * W + x) * 3, (r * W + x + w) * 3);
          assert.deepEqual(got, want, `${name} region ${[x, y, w, h]} row ${r}`);
        }
      }
      // a large enough image decodes less than all of itself for most boxes
      if (W >= 100) assert.ok(smaller > 10, `${name}: ${smaller} of 60 regions decoded less`);
    }
  });

  test('a truncated file still fails when the region ends before the damage', async () => {
    for (const jpg of [(await jpegs())['420']!, new Uint8Array(readFileSync(join(FX, 'q90_420.jpg')))]) {
      const cut = decodeImageBytes(jpg.subarray(0, jpg.length - 300), null, [0, 0, 4, 4]);
      assert.equal(cut.status, IMAGE_DECODE_ERROR);
      assert.match(cut.message, /truncated/);
    }
  });
});

describe('the JS fallback resizes as Pillow too (bilinear and bicubic)', () => {
  test('crop + resize cases equal torchvision', () => {
    const img = { data: b64(fx.source.rgb), width: fx.source.width, height: fx.source.height, channels: 3 as const };
    for (const c of fx.cases.filter((c: any) => c.name === 'resized_crop')) {
      const [x, y, w, h] = c.plan.crop;
      const out = pixels.resize(pixels.crop(img, x, y, w, h), c.plan.resize[0], c.plan.resize[1], c.plan.filter);
      assert.deepEqual(out.data, b64(c.out), JSON.stringify(c.plan));
    }
    assert.throws(() => T.resize(8, { interpolation: 'nearest' as 'bicubic' }), /bilinear' or 'bicubic/);
  });
});

describe('which chains the addon runs', () => {
  test('(resize | randomResizedCrop)? (centerCrop | randomCrop)? flips normalize?, RGB only', () => {
    const n = T.normalize(IMAGENET_MEAN, IMAGENET_STD);
    const yes: Transform[][] = [
      [],
      [T.randomResizedCrop(8), T.randomHorizontalFlip(), n],
      [T.resize(10), T.centerCrop(8), n],
      [T.resize([12, 12]), T.randomCrop(8, { padding: 2 }), T.randomVerticalFlip(), T.randomHorizontalFlip()],
      [T.centerCrop(8)],
    ];
    const no: Transform[][] = [
      [T.randomHorizontalFlip(), T.randomResizedCrop(8)],
      [T.resize(10), T.resize(8)],
      [T.centerCrop(8), T.resize(10)],
      [T.randomResizedCrop(8), T.colorJitter({ brightness: 0.2 })],
      [T.grayscale(3)],
    ];
    for (const ts of yes) assert.ok(nativeChain(ts, 'RGB'), JSON.stringify(ts));
    for (const ts of no) assert.ok(!nativeChain(ts, 'RGB'), JSON.stringify(ts));
    assert.ok(!nativeChain([T.centerCrop(8)], 'L'));
  });
});

describe('the loader: native batches equal the sharp + JS path', { skip }, () => {
  let dir = '';
  let cleanup = () => {};
  const chains: Record<string, Transform[]> = {
    train: [T.randomResizedCrop(24), T.randomHorizontalFlip(), T.normalize(IMAGENET_MEAN, IMAGENET_STD)],
    eval: [T.resize(20), T.centerCrop(22), T.normalize([0.5], [0.25])],
    crop: [T.resize([30, 26]), T.randomCrop(20, { padding: 3 }), T.randomVerticalFlip(), T.randomHorizontalFlip()],
    bicubic: [T.randomResizedCrop(24, { interpolation: 'bicubic' }), T.randomHorizontalFlip()],
  };
  before(async () => {
    ({ dir, cleanup } = tempDir());
    await makeFolder(dir, { a: 5, b: 4 }, { width: 41, height: 33 });
    // formats the addon leaves to sharp (WebP) and PIL's odd PNG kinds go through the same batches
    await sharp(Buffer.alloc(41 * 33 * 3, 90), { raw: { width: 41, height: 33, channels: 3 } })
      .webp({ lossless: true })
      .toFile(join(dir, 'b', 'z.webp'));
    for (const f of ['palette_trns.png', 'la16.png', 'gray.jpg']) copyFileSync(join(FX, f), join(dir, 'a', f));
  });
  after(() => cleanup());

  async function epoch(ts: Transform[], native: boolean, workers: number) {
    process.env.GRAFT_IMAGE_NATIVE = native ? '1' : '0';
    try {
      const ds = imageFolder(dir, { transforms: ts });
      assert.equal(ds.nativeBatches(1) !== null, native, 'the path under test');
      const l = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 5, workers });
      const out: { x: Float32Array; shape: number[]; y: number[]; indices: number[] }[] = [];
      for await (const b of l) {
        out.push({ x: b.x.data() as Float32Array, shape: b.x.shape, y: b.y!.toArray(), indices: b.indices });
        b.dispose();
      }
      await l.close();
      return out;
    } finally {
      delete process.env.GRAFT_IMAGE_NATIVE;
    }
  }

  for (const [name, ts] of Object.entries(chains))
    test(`${name}: the same batches, workers 0 and 2`, async () => {
      const want = await epoch(ts, false, 0);
      for (const workers of [0, 2]) {
        const got = await epoch(ts, true, workers);
        assert.equal(got.length, want.length);
        got.forEach((b, k) => {
          assert.deepEqual(b.shape, want[k]!.shape);
          assert.deepEqual(b.indices, want[k]!.indices);
          assert.deepEqual(b.y, want[k]!.y);
          assert.deepEqual(b.x, want[k]!.x, `batch ${k}`);
        });
      }
    });

  test('bad files: the same errors and skips as the sharp path', async () => {
    const { dir: d, cleanup: done } = tempDir();
    try {
      await makeFolder(d, { a: 3, b: 3 }, { width: 20, height: 16 });
      writeCorrupt(join(d, 'a', 'bad.png'));
      const jpg = readFileSync(join(FX, 'q90_420.jpg'));
      writeFileSync(join(d, 'b', 'cut.jpg'), jpg.subarray(0, jpg.length - 300));
      writeFileSync(join(d, 'b', 'gone.png'), '');
      const ts = chains.train!;
      const ds = imageFolder(d, { transforms: ts });
      rmSync(join(d, 'b', 'gone.png')); // listed, then removed: a read error
      await assert.rejects(
        async () => {
          for await (const b of new DataLoader(ds, { batchSize: 16 })) b.dispose();
        },
        (e: Error & { file?: string }) =>
          e.file === join(d, 'a', 'bad.png') && /cannot decode image/.test(e.message) && /onBadSample/.test(e.message),
      );
      for (const native of [true, false]) {
        process.env.GRAFT_IMAGE_NATIVE = native ? '1' : '0';
        const l = new DataLoader(ds, { batchSize: 16, onBadSample: 'skip', warn: () => {} });
        for await (const b of l) {
          assert.equal(b.size, 6);
          b.dispose();
        }
        const reasons = Object.fromEntries(l.badSamples);
        assert.deepEqual(
          Object.keys(reasons).sort(),
          ['a/bad.png', 'b/cut.jpg', 'b/gone.png'].map((f) => join(d, f)),
        );
        assert.equal(reasons[join(d, 'b', 'gone.png')], 'cannot read file: ENOENT');
      }
      // refused from the header with the limit's message
      process.env.GRAFT_IMAGE_NATIVE = '1';
      const small = imageFolder(join(d), { transforms: ts, maxImagePixels: 100, classes: ['a'] });
      await assert.rejects(async () => {
        for await (const b of new DataLoader(small, { batchSize: 2 })) b.dispose();
      }, /image is 20x16 = 0\.0 MP, over the limit of 100 pixels/);
    } finally {
      delete process.env.GRAFT_IMAGE_NATIVE;
      rmSync(d, { recursive: true, force: true });
      done();
    }
  });
});
