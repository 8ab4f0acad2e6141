// Image decoding (sharp/libvips) and batch assembly for image files. Pure JS + sharp: this module is
// what worker threads run, so it must never import the tensor layer.
import { readFile } from 'node:fs/promises';
import { ArgumentError } from '../errors.ts';
import { Rng } from '../util/rng.ts';
import { type BadSample, DataError, ImageTooLargeError, type OnBadSample, SKIP_HINT, SKIP_OPTION } from './errors.ts';
import type { RawImage } from './pixels.ts';
import * as P from './pixels.ts';
import { applyTransforms, type Transform } from './transforms.ts';

type Sharp = typeof import('sharp').default;
let sharpModule: Promise<Sharp> | undefined;

/** sharp, loaded on first use (IDX and text data never need it). */
export function loadSharp(): Promise<Sharp> {
  sharpModule ??= import('sharp').then(
    (m) => {
      const s = m.default;
      s.cache(false); // every file is decoded once per epoch: caching only costs memory
      return s;
    },
    (e: Error) => {
      sharpModule = undefined;
      throw new DataError(
        'sharp',
        `cannot load the image decoder: ${e.message}`,
        'run `npm install sharp` (its prebuilt libvips comes in the @img/sharp-<platform> optional dependency; no install script is needed)',
      );
    },
  );
  return sharpModule;
}

/** Image colour mode after decoding, as PIL's convert(): 'RGB' (torchvision's default loader) or 'L'. */
export type ImageMode = 'RGB' | 'L';

/**
 * PIL's decompression-bomb limit (2 x Image.MAX_IMAGE_PIXELS, ~179 megapixels): a 16000 x 16000 PNG of
 * 283 KB decodes to 1 GB of RGB. Larger images are refused from the header, before decoding.
 */
export const MAX_IMAGE_PIXELS = 178956970;

/** A pixel-limit option checked: undefined is the default, null no limit, else a positive integer. */
export function checkPixelLimit(v: number | null | undefined): number | null {
  if (v === undefined) return MAX_IMAGE_PIXELS;
  if (v === null) return null;
  if (!(Number.isInteger(v) && v > 0))
    throw new ArgumentError(`maxImagePixels must be a positive integer (or null for no limit), got ${v}`);
  return v;
}

export interface DecodeOptions {
  /** refuse images with more pixels (default MAX_IMAGE_PIXELS; null: no limit) */
  maxImagePixels?: number | null;
}

const mp = (n: number) => `${(n / 1e6).toFixed(1)} MP`;

/** The error for an image over the pixel limit (width/height 0 when unknown). */
export function tooLargeError(file: string, width: number, height: number, limit: number): ImageTooLargeError {
  const size = width && height ? `${width}x${height} = ${mp(width * height)}` : 'larger than the limit';
  return new ImageTooLargeError(
    file,
    `image is ${size}, over the limit of ${limit} pixels (${mp(limit)}): refused before decoding, as a possible decompression bomb`,
    width * height,
    limit,
    `if the image is trusted, raise maxImagePixels${width && height ? ` to at least ${width * height}` : ''} (data.maxImagePixels in a recipe; null for no limit)`,
  );
}

/** The reason for a file that cannot be read, from its errno code. */
export const readErrorReason = (code: string | undefined, message: string): string =>
  code === 'EISDIR' ? 'is a folder, not an image file' : `cannot read file: ${code ?? message}`;

/**
 * A faster decoder for some formats, set by the main thread when the addon has one (worker threads
 * never load the addon): RGB pixels, or null to leave the bytes to sharp; it throws DataErrors.
 */
export type FastDecoder = (bytes: Uint8Array, file: string, maxImagePixels: number | null) => RawImage | null;
let fastDecoder: FastDecoder | null = null;
export function setFastDecoder(fn: FastDecoder | null): void {
  fastDecoder = fn;
}

/** Decodes an encoded image (JPEG, PNG, WebP, GIF, TIFF, ...) to interleaved uint8 pixels; alpha is dropped. */
export async function decodeImage(
  bytes: Uint8Array,
  mode: ImageMode = 'RGB',
  file = '<buffer>',
  o: DecodeOptions = {},
): Promise<RawImage> {
  const limit = checkPixelLimit(o.maxImagePixels);
  const fast = fastDecoder?.(bytes, file, limit);
  if (fast) return mode === 'L' ? P.grayscale(fast, 1) : fast;
  const sharp = await loadSharp();
  let out: { data: Buffer; info: import('sharp').OutputInfo };
  try {
    // libvips checks the limit against the header, before it allocates the pixels
    out = await sharp(bytes, { limitInputPixels: limit ?? false })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    const msg = (e as Error).message;
    if (limit !== null && /pixel limit/i.test(msg)) {
      const { width = 0, height = 0 } = await sharp(bytes, { limitInputPixels: false })
        .metadata()
        .catch(() => ({ width: 0, height: 0 }));
      throw tooLargeError(file, width, height, limit);
    }
    throw new DataError(file, `cannot decode image: ${msg}`);
  }
  const { width, height, channels } = out.info;
  const data = new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength);
  let img: RawImage;
  if (channels === 3) img = { data, width, height, channels: 3 };
  else if (channels === 1) img = P.toRgb({ data, width, height, channels: 1 });
  else throw new DataError(file, `decoded to ${channels} channels, expected 1 or 3`);
  return mode === 'L' ? P.grayscale(img, 1) : img;
}

/** Reads and decodes one image file; errors name the file. */
export async function readImage(file: string, mode: ImageMode = 'RGB', o: DecodeOptions = {}): Promise<RawImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new DataError(file, readErrorReason((e as NodeJS.ErrnoException).code, (e as Error).message));
  }
  return decodeImage(bytes, mode, file, o);
}

/** Everything a worker needs to load batches of an image-file dataset: plain data, sent once. */
export interface ImageJob {
  kind: 'images';
  files: string[];
  transforms: Transform[];
  mode: ImageMode;
  /** null: no limit */
  maxImagePixels: number | null;
}

/** Per batch: which samples, and where they sit in the epoch's order (that keys each sample's RNG). */
export interface BatchTask {
  indices: number[];
  positions: number[];
  seed: number;
  epoch: number;
  onBadSample: OnBadSample;
}

/** A batch as plain typed arrays: `x` is [N, C, H, W] float32; `kept` lists the indices that made it. */
export interface RawImageBatch {
  x: { data: Float32Array; shape: number[] };
  kept: number[];
  bad: BadSample[];
}

/** The RNG that augments the sample at `position` of `epoch`: the same on any thread. */
export const sampleRng = (seed: number, epoch: number, position: number): Rng =>
  Rng.derive(seed, 'sample', epoch, position);

/** Stacks same-shaped float CHW images into one [N, C, H, W] buffer; a different shape is an error naming both files. */
export function stackImages(items: { data: Float32Array; shape: readonly number[]; name: string }[]): {
  data: Float32Array;
  shape: number[];
} {
  if (items.length === 0) return { data: new Float32Array(0), shape: [0] };
  const first = items[0]!;
  const per = first.data.length;
  const out = new Float32Array(per * items.length);
  items.forEach((it, k) => {
    if (it.shape.join() !== first.shape.join())
      throw new DataError(
        it.name,
        `image is [${it.shape}] after transforms but ${first.name} is [${first.shape}]: a batch needs one size`,
        'end the transforms with a fixed size: T.resize([h, w]), T.centerCrop(n) or T.randomResizedCrop(n)',
      );
    out.set(it.data, k * per);
  });
  return { data: out, shape: [items.length, ...first.shape] };
}

/** A sample's error as a dataset reports it: skipping is one more way out. */
export const withSkipHint = (e: DataError): DataError =>
  new DataError(e.file, e.reason, e.hint ? `${e.hint}, or ${SKIP_OPTION}` : SKIP_HINT);

/** Loads, decodes and transforms a batch of image files (in a worker or on the main thread). */
export async function loadImageBatch(job: ImageJob, task: BatchTask): Promise<RawImageBatch> {
  const bad: BadSample[] = [];
  const results = await Promise.all(
    task.indices.map(async (index, k) => {
      const file = job.files[index]!;
      try {
        const img = await readImage(file, job.mode, { maxImagePixels: job.maxImagePixels });
        const rng = sampleRng(task.seed, task.epoch, task.positions[k]!);
        const f = applyTransforms(img, job.transforms, rng);
        return { index, name: file, ...f };
      } catch (e) {
        if (!(e instanceof DataError)) throw e;
        if (task.onBadSample === 'skip') {
          bad.push({ file, reason: e.reason, index });
          return null;
        }
        throw withSkipHint(e);
      }
    }),
  );
  const ok = results.filter((r) => r !== null);
  return { x: stackImages(ok), kept: ok.map((r) => r.index), bad };
}
