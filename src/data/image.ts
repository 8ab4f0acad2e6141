// Image decoding (sharp/libvips) and batch assembly for image files. Pure JS + sharp: this module is
// what worker threads run, so it must never import the tensor layer.
import { readFile } from 'node:fs/promises';
import { Rng } from '../util/rng.ts';
import { type BadSample, DataError, type OnBadSample, SKIP_HINT } from './errors.ts';
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

/** Decodes an encoded image (JPEG, PNG, WebP, GIF, TIFF, ...) to interleaved uint8 pixels; alpha is dropped. */
export async function decodeImage(bytes: Uint8Array, mode: ImageMode = 'RGB', file = '<buffer>'): Promise<RawImage> {
  const sharp = await loadSharp();
  let out: { data: Buffer; info: import('sharp').OutputInfo };
  try {
    out = await sharp(bytes)
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new DataError(file, `cannot decode image: ${(e as Error).message}`, SKIP_HINT);
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
export async function readImage(file: string, mode: ImageMode = 'RGB'): Promise<RawImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new DataError(
      file,
      `cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      SKIP_HINT,
    );
  }
  return decodeImage(bytes, mode, file);
}

/** Everything a worker needs to load batches of an image-file dataset: plain data, sent once. */
export interface ImageJob {
  kind: 'images';
  files: string[];
  transforms: Transform[];
  mode: ImageMode;
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

/** Loads, decodes and transforms a batch of image files (in a worker or on the main thread). */
export async function loadImageBatch(job: ImageJob, task: BatchTask): Promise<RawImageBatch> {
  const bad: BadSample[] = [];
  const results = await Promise.all(
    task.indices.map(async (index, k) => {
      const file = job.files[index]!;
      try {
        const img = await readImage(file, job.mode);
        const rng = sampleRng(task.seed, task.epoch, task.positions[k]!);
        const f = applyTransforms(img, job.transforms, rng);
        return { index, name: file, ...f };
      } catch (e) {
        if (task.onBadSample === 'skip' && e instanceof DataError) {
          bad.push({ file, reason: e.reason, index });
          return null;
        }
        throw e;
      }
    }),
  );
  const ok = results.filter((r) => r !== null);
  return { x: stackImages(ok), kept: ok.map((r) => r.index), bad };
}
