// torchvision-style transforms as plain objects (they travel to worker threads as data), and the
// executor that runs them on one image with a seeded RNG. Geometry and colour run on uint8 pixels
// (pixels.ts, PIL semantics); ToTensor and Normalize produce the float32 CHW sample.
import { ArgumentError } from '../errors.ts';
import type { Rng } from '../util/rng.ts';
import * as P from './pixels.ts';

type Size = number | [number, number];

export type Transform =
  | { type: 'resize'; size: Size; maxSize?: number; interpolation?: P.ResampleFilter }
  | { type: 'centerCrop'; size: [number, number] }
  | {
      type: 'randomResizedCrop';
      size: [number, number];
      scale: [number, number];
      ratio: [number, number];
      interpolation?: P.ResampleFilter;
    }
  | { type: 'randomCrop'; size: [number, number]; padding: number }
  | { type: 'randomHorizontalFlip'; p: number }
  | { type: 'randomVerticalFlip'; p: number }
  | {
      type: 'colorJitter';
      brightness: [number, number] | null;
      contrast: [number, number] | null;
      saturation: [number, number] | null;
      hue: [number, number] | null;
    }
  | { type: 'grayscale'; channels: 1 | 3 }
  | { type: 'randomGrayscale'; p: number }
  | { type: 'normalize'; mean: number[]; std: number[] };

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

const pair = (s: Size, what: string): [number, number] => {
  const v: [number, number] = typeof s === 'number' ? [s, s] : [s[0], s[1]];
  if (!v.every((x) => Number.isInteger(x) && x > 0))
    throw new ArgumentError(`${what}: size must be positive integers, got ${s}`);
  return v;
};
const prob = (p: number, what: string): number => {
  if (!(p >= 0 && p <= 1)) throw new ArgumentError(`${what}: p must be in [0, 1], got ${p}`);
  return p;
};
// torchvision's ColorJitter._check_input
function jitterRange(v: number | [number, number] | undefined, name: string, center: number, bound: [number, number]) {
  if (v === undefined || v === 0) return null;
  let r: [number, number];
  if (typeof v === 'number') {
    if (v < 0) throw new ArgumentError(`colorJitter: ${name} must be non-negative, got ${v}`);
    r = [center - v, center + v];
    if (name !== 'hue') r[0] = Math.max(r[0], 0);
  } else r = [v[0], v[1]];
  if (!(bound[0] <= r[0] && r[0] <= r[1] && r[1] <= bound[1]))
    throw new ArgumentError(`colorJitter: ${name} values should be between [${bound}], got [${r}]`);
  return r[0] === center && r[1] === center ? null : r;
}

function interpolation(v: P.ResampleFilter | undefined, what: string): { interpolation?: P.ResampleFilter } {
  if (v === undefined || v === 'bilinear') return {};
  if (v !== 'bicubic') throw new ArgumentError(`${what}: interpolation must be 'bilinear' or 'bicubic', got '${v}'`);
  return { interpolation: v };
}

/** Transform constructors, named and defaulted as torchvision.transforms. Sizes are [height, width]. */
export const T = {
  /**
   * An int resizes the shorter side (keeping the aspect ratio); [h, w] resizes exactly. Antialiased,
   * bilinear by default (torchvision's default) or bicubic.
   */
  resize: (size: Size, o: { maxSize?: number; interpolation?: P.ResampleFilter } = {}): Transform => {
    if (typeof size !== 'number') pair(size, 'resize');
    else if (!(Number.isInteger(size) && size > 0))
      throw new ArgumentError(`resize: size must be a positive integer, got ${size}`);
    return { type: 'resize', size, maxSize: o.maxSize, ...interpolation(o.interpolation, 'resize') };
  },
  centerCrop: (size: Size): Transform => ({ type: 'centerCrop', size: pair(size, 'centerCrop') }),
  randomResizedCrop: (
    size: Size,
    o: { scale?: [number, number]; ratio?: [number, number]; interpolation?: P.ResampleFilter } = {},
  ): Transform => {
    const scale = o.scale ?? [0.08, 1.0];
    const ratio = o.ratio ?? [3 / 4, 4 / 3];
    if (scale[0] > scale[1] || ratio[0] > ratio[1])
      throw new ArgumentError(`randomResizedCrop: scale and ratio should be of kind (min, max), got ${scale} ${ratio}`);
    return {
      type: 'randomResizedCrop',
      size: pair(size, 'randomResizedCrop'),
      scale,
      ratio,
      ...interpolation(o.interpolation, 'randomResizedCrop'),
    };
  },
  /** A random crop; `padding` pads every side with zeros first. */
  randomCrop: (size: Size, o: { padding?: number } = {}): Transform => ({
    type: 'randomCrop',
    size: pair(size, 'randomCrop'),
    padding: o.padding ?? 0,
  }),
  randomHorizontalFlip: (p = 0.5): Transform => ({ type: 'randomHorizontalFlip', p: prob(p, 'randomHorizontalFlip') }),
  randomVerticalFlip: (p = 0.5): Transform => ({ type: 'randomVerticalFlip', p: prob(p, 'randomVerticalFlip') }),
  /** Factors drawn uniformly from [max(0, 1 - v), 1 + v] (hue: [-v, v], v <= 0.5), applied in a random order. */
  colorJitter: (
    o: {
      brightness?: number | [number, number];
      contrast?: number | [number, number];
      saturation?: number | [number, number];
      hue?: number | [number, number];
    } = {},
  ): Transform => ({
    type: 'colorJitter',
    brightness: jitterRange(o.brightness, 'brightness', 1, [0, Infinity]),
    contrast: jitterRange(o.contrast, 'contrast', 1, [0, Infinity]),
    saturation: jitterRange(o.saturation, 'saturation', 1, [0, Infinity]),
    hue: jitterRange(o.hue, 'hue', 0, [-0.5, 0.5]),
  }),
  /** Luma (PIL's convert('L')), as 1 channel or repeated to 3 (for RGB models on grayscale data). */
  grayscale: (channels: 1 | 3 = 1): Transform => ({ type: 'grayscale', channels }),
  randomGrayscale: (p = 0.1): Transform => ({ type: 'randomGrayscale', p: prob(p, 'randomGrayscale') }),
  /** (x - mean) / std per channel, after the implicit ToTensor. */
  normalize: (mean: number[], std: number[]): Transform => {
    if (std.some((s) => s === 0)) throw new ArgumentError(`normalize: std evaluated to zero: [${std}]`);
    return { type: 'normalize', mean: [...mean], std: [...std] };
  },
};

/** Checks a pipeline: Normalize comes last (it runs on the float tensor). */
export function checkTransforms(ts: readonly Transform[]): Transform[] {
  ts.forEach((t, i) => {
    if (!t || typeof t !== 'object' || !('type' in t))
      throw new ArgumentError(`transform ${i} is not a transform object`);
    if (t.type === 'normalize' && i !== ts.length - 1)
      throw new ArgumentError('normalize must be the last transform (it runs after ToTensor)');
  });
  return [...ts];
}

/** The usual evaluation pipeline: Resize(size / 0.875) -> CenterCrop(size) -> Normalize. */
export function evalTransforms(size = 224, mean = IMAGENET_MEAN, std = IMAGENET_STD): Transform[] {
  return [T.resize(Math.floor(size / 0.875)), T.centerCrop(size), T.normalize(mean, std)];
}

/** The usual training augmentation: RandomResizedCrop -> HorizontalFlip -> Normalize. */
export function trainTransforms(size = 224, mean = IMAGENET_MEAN, std = IMAGENET_STD): Transform[] {
  return [T.randomResizedCrop(size), T.randomHorizontalFlip(), T.normalize(mean, std)];
}

/** Python's round(): half to even. */
export function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision's _compute_resized_output_size for an int size: [h, w]. */
export function resizedSize(h: number, w: number, size: number, maxSize?: number): [number, number] {
  const [short, long] = w <= h ? [w, h] : [h, w];
  let newShort = size;
  let newLong = Math.trunc((size * long) / short);
  if (maxSize !== undefined) {
    if (maxSize <= size) throw new ArgumentError(`resize: maxSize ${maxSize} must be greater than size ${size}`);
    if (newLong > maxSize) {
      newShort = Math.trunc((maxSize * newShort) / newLong);
      newLong = maxSize;
    }
  }
  return w <= h ? [newLong, newShort] : [newShort, newLong];
}

/** torchvision's RandomResizedCrop.get_params: [top, left, height, width]; 10 tries, then a central crop. */
export function randomResizedCropParams(
  height: number,
  width: number,
  scale: [number, number],
  ratio: [number, number],
  rng: Rng,
): [number, number, number, number] {
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = pyRound(Math.sqrt(targetArea * aspect));
    const h = pyRound(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const i = rng.randint(0, height - h + 1);
      const j = rng.randint(0, width - w + 1);
      return [i, j, h, w];
    }
  }
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(...ratio)) {
    w = width;
    h = pyRound(w / Math.min(...ratio));
  } else if (inRatio > Math.max(...ratio)) {
    h = height;
    w = pyRound(h * Math.max(...ratio));
  } else {
    w = width;
    h = height;
  }
  return [Math.floor((height - h) / 2), Math.floor((width - w) / 2), h, w];
}

/** torchvision's center_crop box [left, top, width, height] on an h x w image (outside: zero padding). */
export function centerCropBox(h: number, w: number, ch: number, cw: number): [number, number, number, number] {
  const top = pyRound((h - ch) / 2);
  const left = pyRound((w - cw) / 2);
  // torchvision pads (left, top) by floor((crop - size) / 2) first, then crops at 0 in that axis
  const x = cw > w ? -Math.floor((cw - w) / 2) : left;
  const y = ch > h ? -Math.floor((ch - h) / 2) : top;
  return [x, y, cw, ch];
}

/** torchvision's center_crop (zero padding when the crop is larger than the image). */
export function centerCrop(img: P.RawImage, ch: number, cw: number): P.RawImage {
  const [x, y] = centerCropBox(img.height, img.width, ch, cw);
  return P.crop(img, x, y, cw, ch);
}

/** RandomCrop's box [left, top, width, height] on an h x w image, padding counted (outside: zeros). */
export function randomCropBox(
  h: number,
  w: number,
  t: Extract<Transform, { type: 'randomCrop' }>,
  rng: Rng,
): [number, number, number, number] {
  const pad = t.padding;
  const H = h + 2 * pad;
  const W = w + 2 * pad;
  const [th, tw] = t.size;
  if (H < th || W < tw)
    throw new ArgumentError(`randomCrop: crop size [${th}, ${tw}] larger than the (padded) image [${H}, ${W}]`);
  const i = rng.randint(0, H - th + 1);
  const j = rng.randint(0, W - tw + 1);
  return [j - pad, i - pad, tw, th];
}

function colorJitter(img: P.RawImage, t: Extract<Transform, { type: 'colorJitter' }>, rng: Rng): P.RawImage {
  const order = rng.permutation(4);
  const b = t.brightness ? rng.uniform(t.brightness[0], t.brightness[1]) : null;
  const c = t.contrast ? rng.uniform(t.contrast[0], t.contrast[1]) : null;
  const s = t.saturation ? rng.uniform(t.saturation[0], t.saturation[1]) : null;
  const h = t.hue ? rng.uniform(t.hue[0], t.hue[1]) : null;
  for (const fn of order) {
    if (fn === 0 && b !== null) img = P.adjustBrightness(img, b);
    else if (fn === 1 && c !== null) img = P.adjustContrast(img, c);
    else if (fn === 2 && s !== null) img = P.adjustSaturation(img, s);
    else if (fn === 3 && h !== null) img = P.adjustHue(img, h);
  }
  return img;
}

/** Runs the pixel transforms on one image (everything but Normalize). */
export function applyPixelTransforms(img: P.RawImage, ts: readonly Transform[], rng: Rng): P.RawImage {
  for (const t of ts) {
    switch (t.type) {
      case 'resize': {
        const [h, w] =
          typeof t.size === 'number' ? resizedSize(img.height, img.width, t.size, t.maxSize) : [t.size[0], t.size[1]];
        if (h !== img.height || w !== img.width) img = P.resize(img, w, h, t.interpolation);
        break;
      }
      case 'centerCrop':
        img = centerCrop(img, t.size[0], t.size[1]);
        break;
      case 'randomResizedCrop': {
        const [i, j, h, w] = randomResizedCropParams(img.height, img.width, t.scale, t.ratio, rng);
        img = P.crop(img, j, i, w, h);
        if (h !== t.size[0] || w !== t.size[1]) img = P.resize(img, t.size[1], t.size[0], t.interpolation);
        break;
      }
      case 'randomCrop': {
        const [x, y, w, h] = randomCropBox(img.height, img.width, t, rng);
        img = P.crop(img, x, y, w, h);
        break;
      }
      case 'randomHorizontalFlip':
        if (rng.random() < t.p) img = P.hflip(img);
        break;
      case 'randomVerticalFlip':
        if (rng.random() < t.p) img = P.vflip(img);
        break;
      case 'colorJitter':
        img = colorJitter(img, t, rng);
        break;
      case 'grayscale':
        img = P.grayscale(img, t.channels);
        break;
      case 'randomGrayscale':
        if (rng.random() < t.p) img = P.grayscale(img, img.channels);
        break;
      case 'normalize':
        break;
      default:
        throw new ArgumentError(`unknown transform ${JSON.stringify(t)}`);
    }
  }
  return img;
}

export interface FloatImage {
  data: Float32Array;
  shape: [number, number, number];
}

/** The whole pipeline on one image: pixel transforms, ToTensor (CHW, /255), then Normalize if present. */
export function applyTransforms(img: P.RawImage, ts: readonly Transform[], rng: Rng): FloatImage {
  const out = applyPixelTransforms(img, ts, rng);
  const data = P.toCHW(out);
  const last = ts[ts.length - 1];
  if (last?.type === 'normalize') P.normalizeCHW(data, out.channels, last.mean, last.std);
  return { data, shape: [out.channels, out.height, out.width] };
}
