// The native image path: for the standard chains ((resize | randomResizedCrop)? then (centerCrop |
// randomCrop)? then flips, then normalize) the addon reads the PNG/JPEG files' headers, this thread
// draws each sample's crop box from its RNG (the same draws, in the same order, as the JS transforms
// make), then the addon decodes each image (a JPEG only as far as its box needs) and writes the
// cropped, resized, flipped, normalized pixels straight into the batch tensor on libuv threads.
// Files the addon cannot decode go through sharp + JS.
import {
  decodeImageBytes,
  IMAGE_DECODE_ERROR,
  IMAGE_OK,
  IMAGE_READ_ERROR,
  IMAGE_TOO_LARGE,
  type ImageFiles,
  type ImagePlan,
  imageNativeAvailable,
  imagesToBatch,
  putImageSample,
  readImageFiles,
} from '../tensor/image_native.ts';
import { fromArray, type Tensor } from '../tensor/index.ts';
import type { Rng } from '../util/rng.ts';
import type { BatchContext, LoadedBatch } from './dataset.ts';
import { labelField } from './dataset.ts';
import { type BadSample, DataError } from './errors.ts';
import {
  type ImageJob,
  readErrorReason,
  readImage,
  sampleRng,
  setFastDecoder,
  tooLargeError,
  withSkipHint,
} from './image.ts';
import {
  applyTransforms,
  centerCropBox,
  randomCropBox,
  randomResizedCropParams,
  resizedSize,
  type Transform,
} from './transforms.ts';

/** Whether the addon runs these transforms (and mode): otherwise the JS + sharp path does. */
export function nativeChain(ts: readonly Transform[], mode: string): boolean {
  if (mode !== 'RGB') return false;
  let stage = 0; // the earliest kind allowed next: 0 resize, 1 crop, 2 flips, 3 normalize
  for (const t of ts) {
    const next =
      t.type === 'resize' || t.type === 'randomResizedCrop'
        ? 0
        : t.type === 'centerCrop' || t.type === 'randomCrop'
          ? 1
          : t.type === 'randomHorizontalFlip' || t.type === 'randomVerticalFlip'
            ? 2
            : t.type === 'normalize'
              ? 3
              : -1;
    if (next < 0 || next < stage) return false;
    stage = next === 2 ? 2 : next + 1;
  }
  return true;
}

/** The native path is on unless GRAFT_IMAGE_NATIVE=0 or the addon was built without libpng/libjpeg. */
export const nativeImagesEnabled = (): boolean => process.env.GRAFT_IMAGE_NATIVE !== '0' && imageNativeAvailable();

// this thread's decodeImage (single samples, the JS transforms with workers: 0) decodes PNG/JPEG
// in the addon too: PIL's pixels, without sharp's fixed cost per call
setFastDecoder((bytes, file, limit) => {
  if (!nativeImagesEnabled()) return null;
  const d = decodeImageBytes(bytes, limit);
  if (d.status === IMAGE_OK) return { data: d.rgb!, width: d.width, height: d.height, channels: 3 };
  if (d.status === IMAGE_TOO_LARGE) throw tooLargeError(file, d.width, d.height, limit ?? 0);
  if (d.status === IMAGE_DECODE_ERROR) throw new DataError(file, `cannot decode image: ${d.message}`);
  return null;
});

/**
 * One image's geometry for a native chain, drawing from `rng` exactly as applyPixelTransforms does:
 * crop1 and resize from resize/randomResizedCrop, crop2 from centerCrop/randomCrop, then the flips.
 */
export function planImage(width: number, height: number, ts: readonly Transform[], rng: Rng): Omit<ImagePlan, 'src'> {
  let crop1: ImagePlan['crop1'] = [0, 0, width, height];
  let [w, h] = [width, height];
  let crop2: ImagePlan['crop2'] | null = null;
  let hflip = false;
  let vflip = false;
  for (const t of ts) {
    switch (t.type) {
      case 'resize':
        [h, w] = typeof t.size === 'number' ? resizedSize(h, w, t.size, t.maxSize) : [t.size[0], t.size[1]];
        break;
      case 'randomResizedCrop': {
        const [i, j, ch, cw] = randomResizedCropParams(h, w, t.scale, t.ratio, rng);
        crop1 = [j, i, cw, ch];
        [h, w] = [t.size[0], t.size[1]];
        break;
      }
      case 'centerCrop':
        crop2 = centerCropBox(h, w, t.size[0], t.size[1]);
        break;
      case 'randomCrop':
        crop2 = randomCropBox(h, w, t, rng);
        break;
      case 'randomHorizontalFlip':
        if (rng.random() < t.p) hflip = !hflip;
        break;
      case 'randomVerticalFlip':
        if (rng.random() < t.p) vflip = !vflip;
        break;
      default:
        break;
    }
  }
  return { crop1, resize: [w, h], crop2: crop2 ?? [0, 0, w, h], hflip, vflip };
}

/** A counting semaphore: at most `n` batches decode at once (the loader's `workers`, at least 1). */
export class Gate {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((ok) => this.waiting.push(ok));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

function statusError(s: number, message: string, f: ImageFiles, i: number, file: string, limit: number | null) {
  if (s === IMAGE_READ_ERROR) return new DataError(file, readErrorReason(message, message));
  if (s === IMAGE_TOO_LARGE) return tooLargeError(file, f.width(i), f.height(i), limit ?? 0);
  return new DataError(file, `cannot decode image: ${s === IMAGE_DECODE_ERROR ? message : 'unknown format'}`);
}

type Row = {
  index: number;
  file: string;
  plan?: ImagePlan;
  fallback?: Float32Array;
  shape: number[];
  /** why the sample failed (reported in batch order once the batch is made) */
  error?: DataError;
};

/**
 * Loads a batch through the addon; `targets` give the labels. `gate` bounds the batches decoding at
 * once (reading the files and drawing the boxes of the next batch goes on meanwhile); `threads`
 * decode one batch's images at once.
 */
export async function loadImageBatchNative(
  job: ImageJob,
  indices: number[],
  ctx: BatchContext,
  targets: readonly number[],
  o: { gate?: Gate; threads?: number } = {},
): Promise<LoadedBatch> {
  const files = indices.map((i) => job.files[i]!);
  const read = await readImageFiles(files, job.maxImagePixels);
  const rows: Row[] = [];
  const last = job.transforms[job.transforms.length - 1];
  const norm = last?.type === 'normalize' ? last : undefined;
  const sizing = job.transforms.find((t) => t.type === 'resize' || t.type === 'randomResizedCrop');
  const filter = (sizing && 'interpolation' in sizing && sizing.interpolation) || 'bilinear';
  for (let k = 0; k < files.length; k++) {
    const file = files[k]!;
    const index = indices[k]!;
    const rng = sampleRng(ctx.seed, ctx.epoch, ctx.positions[k]!);
    const s = read.status(k);
    if (s === IMAGE_OK) {
      const plan = { src: k, ...planImage(read.width(k), read.height(k), job.transforms, rng) };
      rows.push({ index, file, plan, shape: [3, plan.crop2[3], plan.crop2[2]] });
    } else if (s === IMAGE_READ_ERROR || s === IMAGE_TOO_LARGE || s === IMAGE_DECODE_ERROR) {
      rows.push({ index, file, shape: [], error: statusError(s, read.message(k), read, k, file, job.maxImagePixels) });
    } else {
      // not PNG/JPEG (or a CMYK JPEG): sharp decodes it, the JS transforms make the sample
      try {
        const img = await readImage(file, job.mode, { maxImagePixels: job.maxImagePixels });
        const f = applyTransforms(img, job.transforms, rng);
        rows.push({ index, file, fallback: f.data, shape: f.shape });
      } catch (e) {
        if (!(e instanceof DataError)) throw e;
        rows.push({ index, file, shape: [], error: e });
      }
    }
  }
  // the addon fills one row per plan: the native samples, then zero rows that the fallback samples
  // overwrite; then the rows go back in batch order
  const native = rows.filter((r) => r.plan);
  const others = rows.filter((r) => r.fallback);
  let x: Tensor | null = null;
  // samples of different sizes make no batch: assemble reports it (after any bad file before it)
  const sizes = new Set(rows.filter((r) => !r.error).map((r) => r.shape.join()));
  if (native.length && sizes.size === 1) {
    const first = native[0]!;
    const plans = [...native.map((r) => r.plan!), ...others.map(() => ({ ...first.plan!, src: -1 }))];
    const make = () =>
      imagesToBatch(read, plans, [first.shape[1]!, first.shape[2]!], {
        filter,
        mean: norm?.mean,
        std: norm?.std,
        threads: o.threads ?? 1,
      });
    const made = await (o.gate ? o.gate.run(make) : make());
    x = made.x;
    for (const f of made.failed) {
      const r = native[f.row]!;
      r.error = statusError(f.status, f.message, read, r.plan!.src, r.file, job.maxImagePixels);
    }
  }
  try {
    return assemble(rows, native, others, x, ctx, targets);
  } catch (e) {
    x?.dispose();
    throw e;
  }
}

/** The batch from its rows: errors reported (or skipped) in batch order, then one tensor in batch order. */
function assemble(
  rows: Row[],
  native: Row[],
  others: Row[],
  x: Tensor | null,
  ctx: BatchContext,
  targets: readonly number[],
): LoadedBatch {
  const bad: BadSample[] = [];
  for (const r of rows) {
    if (!r.error) continue;
    if (ctx.onBadSample !== 'skip') throw withSkipHint(r.error);
    bad.push({ file: r.file, reason: r.error.reason, index: r.index });
  }
  const good = rows.filter((r) => !r.error);
  const kept = good.map((r) => r.index);
  const y = labelField(targets, kept);
  if (!good.length) {
    x?.dispose();
    return { fields: { x: { data: new Float32Array(0), shape: [0] }, y }, indices: kept, bad };
  }
  const first = good[0]!;
  for (const r of good)
    if (r.shape.join() !== first.shape.join())
      throw new DataError(
        r.file,
        `image is [${r.shape}] after transforms but ${first.file} is [${first.shape}]: a batch needs one size`,
        'end the transforms with a fixed size: T.resize([h, w]), T.centerCrop(n) or T.randomResizedCrop(n)',
      );
  if (!x) {
    // nothing for the addon: the fallback samples stacked here
    const per = others[0]!.fallback!.length;
    const data = new Float32Array(per * others.length);
    for (const [k, r] of others.entries()) data.set(r.fallback!, k * per);
    return { fields: { x: { data, shape: [others.length, ...first.shape] }, y }, indices: kept, bad };
  }
  return { fields: { x: reorder(x, native, others, good), y }, indices: kept, bad };
}

/** Writes the fallback samples after the native ones and keeps the good rows in batch order (rare: a copy). */
function reorder(x: Tensor, native: Row[], others: Row[], good: Row[]): Tensor {
  if (!others.length && good.length === native.length) return x;
  others.forEach((r, j) => {
    putImageSample(x, native.length + j, r.fallback!);
  });
  const slot = new Map<Row, number>();
  for (const [k, r] of [...native, ...others].entries()) slot.set(r, k);
  const perm = fromArray(new BigInt64Array(good.map((r) => BigInt(slot.get(r)!))), [good.length]);
  const out = x.indexSelect(0, perm);
  x.dispose();
  perm.dispose();
  return out;
}

/** The loader's batch function for a native chain, with `concurrency` batches decoding at once. */
export function nativeBatchLoader(
  job: ImageJob,
  targets: readonly number[],
  concurrency: number,
): (indices: number[], ctx: BatchContext) => Promise<LoadedBatch> {
  const gate = new Gate(Math.max(1, concurrency));
  return (indices, ctx) => loadImageBatchNative(job, indices, ctx, targets, { gate });
}
