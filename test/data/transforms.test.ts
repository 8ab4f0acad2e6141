// Transforms against torchvision 0.14 / Pillow 9.4 (test/fixtures/data/gen_transforms.py), plus the
// random transforms' bounds and determinism.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  applyTransforms,
  checkTransforms,
  pixels as P,
  type RawImage,
  Rng,
  randomResizedCropParams,
  T,
  type Transform,
} from '../../src/data/index.ts';

const fx = JSON.parse(readFileSync(new URL('../fixtures/data/transforms.json', import.meta.url), 'utf8'));
const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const floats = (s: string) => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};
const src: Record<string, RawImage> = {
  rgb: { data: bytes(fx.rgb.data), width: fx.rgb.width, height: fx.rgb.height, channels: 3 },
  gray: { data: bytes(fx.gray.data), width: fx.gray.width, height: fx.gray.height, channels: 1 },
};

function pipeline(c: any): Transform[] {
  switch (c.name) {
    case 'resize':
      return [T.resize(c.size)];
    case 'resize_short':
      return [T.resize(c.size)];
    case 'center_crop':
      return [T.centerCrop(c.size)];
    case 'hflip':
      return [T.randomHorizontalFlip(1)];
    case 'grayscale3':
      return [T.grayscale(3)];
    case 'grayscale1':
      return [T.grayscale(1)];
    case 'to_tensor_normalize':
      return [T.normalize(c.mean, c.std)];
    case 'to_tensor':
      return [];
    case 'eval_pipeline':
      return [T.resize(20), T.centerCrop(16), T.normalize(c.mean, c.std)];
    default:
      throw new Error(c.name);
  }
}

function run(c: any): { data: Uint8Array | Float32Array; shape: number[] } {
  const img = src[c.src]!;
  const direct: Record<string, () => RawImage> = {
    brightness: () => P.adjustBrightness(img, c.factor),
    contrast: () => P.adjustContrast(img, c.factor),
    saturation: () => P.adjustSaturation(img, c.factor),
    hue: () => P.adjustHue(img, c.factor),
    resized_crop: () => P.resize(P.crop(img, c.left, c.top, c.width, c.height), c.size[1], c.size[0]),
  };
  if (direct[c.name]) {
    const o = direct[c.name]!();
    return { data: o.data, shape: [o.height, o.width, o.channels] };
  }
  const ts = pipeline(c);
  if (c.kind === 'uint8') {
    const o = applyTransformsRaw(img, ts);
    return { data: o.data, shape: [o.height, o.width, o.channels] };
  }
  const f = applyTransforms(img, ts, new Rng(0));
  return { data: f.data, shape: f.shape };
}

// the pixel stage alone (no ToTensor), to compare uint8 outputs exactly
function applyTransformsRaw(img: RawImage, ts: Transform[]): RawImage {
  const f = applyTransforms(img, ts, new Rng(0));
  const [C, H, W] = f.shape;
  const data = new Uint8Array(C * H * W);
  for (let c = 0; c < C; c++)
    for (let i = 0; i < H * W; i++) data[i * C + c] = Math.round(f.data[c * H * W + i]! * 255);
  return { data, width: W, height: H, channels: C as 1 | 3 };
}

describe('transforms match torchvision + Pillow exactly', () => {
  for (const c of fx.cases) {
    const label = `${c.name} ${c.src} ${JSON.stringify(c.size ?? c.factor ?? '')}`;
    test(label, () => {
      const out = run(c);
      assert.deepEqual(out.shape, c.shape);
      if (c.kind === 'uint8') assert.deepEqual(Array.from(out.data), Array.from(bytes(c.data)));
      else assert.deepEqual(Array.from(out.data), Array.from(floats(c.data))); // float32-exact
    });
  }
});

describe('random transforms', () => {
  test('randomResizedCrop params stay inside the image and within scale/ratio', () => {
    const rng = new Rng(3);
    for (let k = 0; k < 2000; k++) {
      const H = 20 + (k % 37);
      const W = 15 + ((k * 7) % 53);
      const [i, j, h, w] = randomResizedCropParams(H, W, [0.08, 1], [3 / 4, 4 / 3], rng);
      assert.ok(i >= 0 && j >= 0 && h > 0 && w > 0 && i + h <= H && j + w <= W, `${[i, j, h, w]} in ${H}x${W}`);
    }
  });

  test('randomResizedCrop falls back to a central crop when no try fits', () => {
    // ratio far from the image's: every try is too wide, so torchvision's fallback crops the center
    const [i, j, h, w] = randomResizedCropParams(10, 100, [0.99, 1], [0.5, 0.5], new Rng(0));
    // in_ratio 10 > max ratio 0.5: full height, width round(10 * 0.5), centered
    assert.deepEqual([i, j, h, w], [0, 47, 10, 5]);
  });

  test('the output has the requested size and the RNG decides it all', () => {
    const img = src.rgb!;
    const ts = [
      T.randomResizedCrop([12, 10]),
      T.randomHorizontalFlip(),
      T.colorJitter({ brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 }),
      T.randomGrayscale(0.2),
      T.normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
    ];
    const a = applyTransforms(img, ts, Rng.derive(1, 0, 5));
    const b = applyTransforms(img, ts, Rng.derive(1, 0, 5));
    const c = applyTransforms(img, ts, Rng.derive(1, 0, 6));
    assert.deepEqual(a.shape, [3, 12, 10]);
    assert.deepEqual(a.data, b.data);
    assert.notDeepEqual(a.data, c.data);
  });

  test('horizontal flip mirrors the columns; p=0 leaves the image alone', () => {
    const img: RawImage = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), width: 3, height: 2, channels: 1 };
    assert.deepEqual(Array.from(P.hflip(img).data), [3, 2, 1, 6, 5, 4]);
    const same = applyTransforms(img, [T.randomHorizontalFlip(0)], new Rng(0));
    assert.deepEqual(
      Array.from(same.data, (v) => Math.round(v * 255)),
      [1, 2, 3, 4, 5, 6],
    );
  });

  test('normalize gives (x/255 - mean) / std per channel', () => {
    const img: RawImage = { data: Uint8Array.from([255, 0, 51]), width: 1, height: 1, channels: 3 };
    const f = applyTransforms(img, [T.normalize([0.5, 0.5, 0.2], [0.5, 0.25, 0.1])], new Rng(0));
    assert.deepEqual(
      Array.from(f.data, (v) => Number(v.toFixed(5))),
      [1, -2, 0],
    );
  });

  test('resize of a constant image stays constant; grayscale(3) repeats the luma', () => {
    const img: RawImage = { data: new Uint8Array(7 * 5 * 3).fill(200), width: 7, height: 5, channels: 3 };
    const r = P.resize(img, 16, 11);
    assert.ok(r.data.every((v) => v === 200));
    const g = P.grayscale({ data: Uint8Array.from([255, 0, 0]), width: 1, height: 1, channels: 3 }, 3);
    assert.deepEqual(Array.from(g.data), [76, 76, 76]);
  });

  test('bad arguments are refused', () => {
    assert.throws(() => T.colorJitter({ hue: 0.6 }), /hue/);
    assert.throws(() => T.centerCrop(0), /positive/);
    assert.throws(() => T.randomHorizontalFlip(2), /\[0, 1\]/);
    assert.throws(() => checkTransforms([T.normalize([0], [1]), T.resize(3)]), /last/);
  });
});
