// Raw-pixel image ops in plain JS (no native addon: they run in worker threads). Each one reproduces
// what torchvision does to a PIL image, down to Pillow's fixed-point arithmetic: bilinear resize is
// Pillow's antialiased two-pass resample, colour ops are ImageEnhance blends, hue goes through
// Pillow's HSV conversion. Images are interleaved HWC uint8 with 1 (L) or 3 (RGB) channels.

export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

export function blank(width: number, height: number, channels: 1 | 3): RawImage {
  return { data: new Uint8Array(width * height * channels), width, height, channels };
}

/** Pillow's resampling filters that torchvision uses on PIL images. */
export type ResampleFilter = 'bilinear' | 'bicubic';

const bilinearFilter = (x: number): number => {
  const t = Math.abs(x);
  return t < 1 ? 1 - t : 0;
};
// Pillow's bicubic_filter, a = -0.5
const bicubicFilter = (x: number): number => {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2.0) * t - (a + 3.0)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc
function coeffs(
  inSize: number,
  outSize: number,
  filter: ResampleFilter = 'bilinear',
): { bounds: Int32Array; kk: Int32Array; ksize: number } {
  const fn = filter === 'bicubic' ? bicubicFilter : bilinearFilter;
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = (filter === 'bicubic' ? 2 : 1) * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let ww = 0;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    for (let x = 0; x < xmax; x++) {
      w[x] = fn((x + xmin - center + 0.5) * ss);
      ww += w[x]!;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x]! / ww : w[x]!;
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, kk, ksize };
}

// sums stay below 2^31 (weights add up to ~ONE; bicubic's negative lobes add < 30 %), so >> is exact
const clip8 = (ss: number): number => {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : Math.min(v, 255);
};

function resizeH(img: RawImage, width: number, filter: ResampleFilter): RawImage {
  const C = img.channels;
  const { bounds, kk, ksize } = coeffs(img.width, width, filter);
  const out = blank(width, img.height, C);
  const src = img.data;
  const dst = out.data;
  const inRow = img.width * C;
  for (let y = 0; y < img.height; y++) {
    const rowIn = y * inRow;
    let o = y * width * C;
    for (let xx = 0; xx < width; xx++) {
      const xmax = bounds[xx * 2 + 1]!;
      const k0 = xx * ksize;
      let p = rowIn + bounds[xx * 2]! * C;
      if (C === 3 && xmax <= 3) {
        const ka = kk[k0]!;
        const kb = xmax > 1 ? kk[k0 + 1]! : 0;
        const kc = xmax > 2 ? kk[k0 + 2]! : 0;
        const pb = xmax > 1 ? p + 3 : p;
        const pc = xmax > 2 ? p + 6 : p;
        dst[o++] = clip8(HALF + src[p]! * ka + src[pb]! * kb + src[pc]! * kc);
        dst[o++] = clip8(HALF + src[p + 1]! * ka + src[pb + 1]! * kb + src[pc + 1]! * kc);
        dst[o++] = clip8(HALF + src[p + 2]! * ka + src[pb + 2]! * kb + src[pc + 2]! * kc);
      } else if (C === 3) {
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        for (let x = 0; x < xmax; x++, p += 3) {
          const k = kk[k0 + x]!;
          s0 += src[p]! * k;
          s1 += src[p + 1]! * k;
          s2 += src[p + 2]! * k;
        }
        dst[o++] = clip8(s0);
        dst[o++] = clip8(s1);
        dst[o++] = clip8(s2);
      } else {
        let s0 = HALF;
        for (let x = 0; x < xmax; x++) s0 += src[p + x]! * kk[k0 + x]!;
        dst[o++] = clip8(s0);
      }
    }
  }
  return out;
}

function resizeV(img: RawImage, height: number, filter: ResampleFilter): RawImage {
  const { bounds, kk, ksize } = coeffs(img.height, height, filter);
  const out = blank(img.width, height, img.channels);
  const src = img.data;
  const dst = out.data;
  const row = img.width * img.channels;
  const acc = new Int32Array(row);
  for (let yy = 0; yy < height; yy++) {
    const ymin = bounds[yy * 2]!;
    const ymax = bounds[yy * 2 + 1]!;
    const o = yy * row;
    const k0 = yy * ksize;
    if (ymax <= 3) {
      // upscaling and mild downscaling: two or three taps, no accumulator
      const a = ymin * row;
      const ka = kk[k0]!;
      const kb = ymax > 1 ? kk[k0 + 1]! : 0;
      const kc = ymax > 2 ? kk[k0 + 2]! : 0;
      const b = ymax > 1 ? a + row : a;
      const c = ymax > 2 ? a + 2 * row : a;
      for (let i = 0; i < row; i++) dst[o + i] = clip8(HALF + src[a + i]! * ka + src[b + i]! * kb + src[c + i]! * kc);
      continue;
    }
    acc.fill(HALF);
    for (let y = 0; y < ymax; y++) {
      const k = kk[k0 + y]!;
      const off = (y + ymin) * row;
      for (let i = 0; i < row; i++) acc[i] = acc[i]! + src[off + i]! * k;
    }
    for (let i = 0; i < row; i++) dst[o + i] = clip8(acc[i]!);
  }
  return out;
}

/** Resize to exactly width x height, as PIL's Image.resize(..., BILINEAR or BICUBIC) (antialiased). */
export function resize(img: RawImage, width: number, height: number, filter: ResampleFilter = 'bilinear'): RawImage {
  let cur = img;
  // Pillow: horizontal pass first, each pass only when its size changes
  if (width !== cur.width) cur = resizeH(cur, width, filter);
  if (height !== cur.height) cur = resizeV(cur, height, filter);
  return cur === img ? { ...img, data: img.data.slice() } : cur;
}

/** Crops the box (left, top, width, height); parts outside the image are black (PIL's crop). */
export function crop(img: RawImage, left: number, top: number, width: number, height: number): RawImage {
  const C = img.channels;
  const out = blank(width, height, C);
  const x0 = Math.max(0, left);
  const x1 = Math.min(img.width, left + width);
  if (x1 <= x0) return out;
  for (let y = 0; y < height; y++) {
    const sy = top + y;
    if (sy < 0 || sy >= img.height) continue;
    const s = (sy * img.width + x0) * C;
    out.data.set(img.data.subarray(s, s + (x1 - x0) * C), (y * width + (x0 - left)) * C);
  }
  return out;
}

export function hflip(img: RawImage): RawImage {
  const C = img.channels;
  const { width: W, height: H } = img;
  const out = blank(W, H, C);
  for (let y = 0; y < H; y++) {
    const r = y * W * C;
    if (C === 1) for (let x = 0; x < W; x++) out.data[r + W - 1 - x] = img.data[r + x]!;
    else
      for (let x = 0; x < W; x++) {
        const s = r + x * 3;
        const d = r + (W - 1 - x) * 3;
        out.data[d] = img.data[s]!;
        out.data[d + 1] = img.data[s + 1]!;
        out.data[d + 2] = img.data[s + 2]!;
      }
  }
  return out;
}

export function vflip(img: RawImage): RawImage {
  const row = img.width * img.channels;
  const out = blank(img.width, img.height, img.channels);
  for (let y = 0; y < img.height; y++)
    out.data.set(img.data.subarray(y * row, (y + 1) * row), (img.height - 1 - y) * row);
  return out;
}

/** PIL's convert('L'): ITU-R 601-2 luma in 16-bit fixed point. */
export function luma(img: RawImage): Uint8Array {
  if (img.channels === 1) return img.data.slice();
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const d = img.data;
  for (let i = 0; i < n; i++)
    out[i] = (d[i * 3]! * 19595 + d[i * 3 + 1]! * 38470 + d[i * 3 + 2]! * 7471 + 0x8000) >>> 16;
  return out;
}

/** torchvision's to_grayscale: luma, repeated to `channels` channels. */
export function grayscale(img: RawImage, channels: 1 | 3): RawImage {
  const l = luma(img);
  if (channels === 1) return { data: l, width: img.width, height: img.height, channels: 1 };
  const out = blank(img.width, img.height, 3);
  for (let i = 0; i < l.length; i++) {
    const v = l[i]!;
    out.data[i * 3] = v;
    out.data[i * 3 + 1] = v;
    out.data[i * 3 + 2] = v;
  }
  return out;
}

/** The same pixels as 3 channels (PIL's convert('RGB') of an L image). */
export function toRgb(img: RawImage): RawImage {
  return img.channels === 3 ? img : grayscale(img, 3);
}

// Pillow's ImagingBlend(degenerate, image, alpha) with C float arithmetic: out = deg + alpha * (img - deg)
function blendPixel(a: number, v: number, alpha: number, interpolate: boolean): number {
  const t = Math.fround(a + Math.fround(alpha * (v - a)));
  return interpolate ? Math.trunc(t) : t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
}

function blendConst(img: RawImage, a: number, factor: number): RawImage {
  const alpha = Math.fround(factor);
  if (alpha === 1) return { ...img, data: img.data.slice() };
  const out = blank(img.width, img.height, img.channels);
  const src = img.data;
  const dst = out.data;
  const interpolate = alpha >= 0 && alpha <= 1;
  // one result per input value: a 256-entry table
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = blendPixel(a, v, alpha, interpolate);
  for (let i = 0; i < src.length; i++) dst[i] = lut[src[i]!]!;
  return out;
}

/** ImageEnhance.Brightness: blend with black. */
export const adjustBrightness = (img: RawImage, factor: number): RawImage => blendConst(img, 0, factor);

/** ImageEnhance.Contrast: blend with the rounded mean luma. */
export function adjustContrast(img: RawImage, factor: number): RawImage {
  const l = luma(img);
  let sum = 0;
  for (let i = 0; i < l.length; i++) sum += l[i]!;
  return blendConst(img, Math.trunc(sum / l.length + 0.5), factor);
}

/** ImageEnhance.Color: blend with the luma image. */
export function adjustSaturation(img: RawImage, factor: number): RawImage {
  if (img.channels === 1) return { ...img, data: img.data.slice() };
  const alpha = Math.fround(factor);
  if (alpha === 1) return { ...img, data: img.data.slice() };
  const interpolate = alpha >= 0 && alpha <= 1;
  const l = luma(img);
  const out = blank(img.width, img.height, 3);
  const src = img.data;
  const dst = out.data;
  // results depend only on (luma, value): fill a 256 x 256 table as pairs turn up
  const table = new Int16Array(65536).fill(-1);
  for (let p = 0; p < l.length; p++) {
    const a = l[p]!;
    const row = a << 8;
    for (let c = 0; c < 3; c++) {
      const v = src[p * 3 + c]!;
      let r = table[row | v]!;
      if (r < 0) {
        r = blendPixel(a, v, alpha, interpolate);
        table[row | v] = r;
      }
      dst[p * 3 + c] = r;
    }
  }
  return out;
}

const f32 = Math.fround;
const cRound = (x: number): number => (x < 0 ? -Math.round(-x) : Math.round(x)); // C round(): half away from zero
const clampU8 = (v: number): number => (v < 0 ? 0 : Math.min(v, 255));

/** torchvision's F_pil.adjust_hue: shift PIL's 8-bit HSV hue by trunc(factor * 255) mod 256. */
export function adjustHue(img: RawImage, factor: number): RawImage {
  if (factor < -0.5 || factor > 0.5) throw new RangeError(`hue factor ${factor} is not in [-0.5, 0.5]`);
  if (img.channels === 1) return { ...img, data: img.data.slice() };
  const shift = (((Math.trunc(factor * 255) % 256) + 256) % 256) | 0;
  const out = blank(img.width, img.height, 3);
  const s = img.data;
  const d = out.data;
  for (let p = 0; p < s.length; p += 3) {
    const r = s[p]!;
    const g = s[p + 1]!;
    const b = s[p + 2]!;
    // rgb2hsv_row
    const maxc = Math.max(r, g, b);
    const minc = Math.min(r, g, b);
    let uh = 0;
    let us = 0;
    const uv = maxc;
    if (minc !== maxc) {
      const cr = maxc - minc;
      const sat = f32(cr / maxc);
      const rc = f32((maxc - r) / cr);
      const gc = f32((maxc - g) / cr);
      const bc = f32((maxc - b) / cr);
      let h: number;
      if (r === maxc) h = f32(bc - gc);
      else if (g === maxc) h = f32(2.0 + rc - bc);
      else h = f32(4.0 + gc - rc);
      h = f32((h / 6.0 + 1.0) % 1.0);
      uh = clampU8(Math.trunc(h * 255.0));
      us = clampU8(Math.trunc(sat * 255.0));
    }
    const hh = (uh + shift) & 255;
    // hsv2rgb
    if (us === 0) {
      d[p] = uv;
      d[p + 1] = uv;
      d[p + 2] = uv;
      continue;
    }
    const i = Math.floor((hh * 6.0) / 255.0);
    const f = f32((hh * 6.0) / 255.0 - i);
    const fs = f32(us / 255.0);
    const P = clampU8(cRound(uv * (1.0 - fs)));
    const Q = clampU8(cRound(uv * (1.0 - f32(fs * f))));
    const T = clampU8(cRound(uv * (1.0 - fs * (1.0 - f))));
    const sector = i % 6;
    d[p] = sector === 0 || sector === 5 ? uv : sector === 1 ? Q : sector === 4 ? T : P;
    d[p + 1] = sector === 1 || sector === 2 ? uv : sector === 0 ? T : sector === 3 ? Q : P;
    d[p + 2] = sector === 3 || sector === 4 ? uv : sector === 2 ? T : sector === 5 ? Q : P;
  }
  return out;
}

/** ToTensor: HWC uint8 -> CHW float32 in [0, 1], written into `out` at `offset` (or a new array). */
export function toCHW(img: RawImage, out?: Float32Array, offset = 0): Float32Array {
  const C = img.channels;
  const n = img.width * img.height;
  const dst = out ?? new Float32Array(n * C);
  const s = img.data;
  for (let c = 0; c < C; c++) {
    const base = offset + c * n;
    for (let i = 0; i < n; i++) dst[base + i] = s[i * C + c]! / 255;
  }
  return dst;
}

/** Normalize in place: (x - mean[c]) / std[c] in float32, as torchvision's tensor.sub_(mean).div_(std). */
export function normalizeCHW(
  x: Float32Array,
  channels: number,
  mean: number[],
  std: number[],
  offset = 0,
  n?: number,
): void {
  const plane = (n ?? x.length - offset) / channels;
  for (let c = 0; c < channels; c++) {
    const m = Math.fround(mean[c % mean.length]!);
    const s = Math.fround(std[c % std.length]!);
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) x[base + i] = Math.fround(x[base + i]! - m) / s;
  }
}
