// The native image path: for the standard chains ((resize | randomResizedCrop)? then (centerCrop |
// randomCrop)? then flips, then normalize) the addon decodes PNG/JPEG files and writes the
// cropped, resized, flipped, normalized pixels straight into the batch tensor on libuv threads,
// while this thread only draws each sample's crop box from its RNG (the same draws, in the same
// order, as the JS transforms make). Files the addon cannot decode go through sharp + JS.
import {
  type DecodedImages,
  decodeImageBytes,
  decodeImageFiles,
  IMAGE_DECODE_ERROR,
  IMAGE_OK,
  IMAGE_READ_ERROR,
  IMAGE_TOO_LARGE,
  type ImagePlan,
  imageNativeAvailable,
  imagesToBatch,
  putImageSample,
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
class Gate {
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

function statusError(d: DecodedImages, i: number, file: string, limit: number | null): DataError {
  const s = d.status(i);
  if (s === IMAGE_READ_ERROR) return new DataError(file, readErrorReason(d.message(i), d.message(i)));
  if (s === IMAGE_TOO_LARGE) return tooLargeError(file, d.width(i), d.height(i), limit ?? 0);
  return new DataError(file, `cannot decode image: ${s === IMAGE_DECODE_ERROR ? d.message(i) : 'unknown format'}`);
}

type Row = { index: number; file: string; plan?: ImagePlan; fallback?: Float32Array; shape: number[] };

/** Loads a batch through the addon; `targets` give the labels. */
export async function loadImageBatchNative(
  job: ImageJob,
  indices: number[],
  ctx: BatchContext,
  targets: readonly number[],
): Promise<LoadedBatch> {
  const files = indices.map((i) => job.files[i]!);
  const decoded = await decodeImageFiles(files, job.maxImagePixels);
  const bad: BadSample[] = [];
  const rows: Row[] = [];
  const last = job.transforms[job.transforms.length - 1];
  const norm = last?.type === 'normalize' ? last : undefined;
  const sizing = job.transforms.find((t) => t.type === 'resize' || t.type === 'randomResizedCrop');
  const filter = (sizing && 'interpolation' in sizing && sizing.interpolation) || 'bilinear';
  for (let k = 0; k < files.length; k++) {
    const file = files[k]!;
    const index = indices[k]!;
    const rng = sampleRng(ctx.seed, ctx.epoch, ctx.positions[k]!);
    try {
      const s = decoded.status(k);
      if (s === IMAGE_OK) {
        const plan = { src: k, ...planImage(decoded.width(k), decoded.height(k), job.transforms, rng) };
        rows.push({ index, file, plan, shape: [3, plan.crop2[3], plan.crop2[2]] });
      } else if (s === IMAGE_READ_ERROR || s === IMAGE_TOO_LARGE || s === IMAGE_DECODE_ERROR) {
        throw statusError(decoded, k, file, job.maxImagePixels);
      } else {
        // not PNG/JPEG (or a CMYK JPEG): sharp decodes it, the JS transforms make the sample
        const img = await readImage(file, job.mode, { maxImagePixels: job.maxImagePixels });
        const f = applyTransforms(img, job.transforms, rng);
        rows.push({ index, file, fallback: f.data, shape: f.shape });
      }
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      if (ctx.onBadSample !== 'skip') throw withSkipHint(e);
      bad.push({ file, reason: e.reason, index });
    }
  }
  const kept = rows.map((r) => r.index);
  const y = labelField(targets, kept);
  if (!rows.length) return { fields: { x: { data: new Float32Array(0), shape: [0] }, y }, indices: kept, bad };
  const first = rows[0]!;
  for (const r of rows)
    if (r.shape.join() !== first.shape.join())
      throw new DataError(
        r.file,
        `image is [${r.shape}] after transforms but ${first.file} is [${first.shape}]: a batch needs one size`,
        'end the transforms with a fixed size: T.resize([h, w]), T.centerCrop(n) or T.randomResizedCrop(n)',
      );
  const native = rows.filter((r) => r.plan);
  const others = rows.filter((r) => !r.plan);
  if (!native.length) {
    // nothing for the addon: the fallback samples stacked here
    const per = others[0]!.fallback!.length;
    const data = new Float32Array(per * others.length);
    for (const [k, r] of others.entries()) data.set(r.fallback!, k * per);
    return { fields: { x: { data, shape: [others.length, ...first.shape] }, y }, indices: kept, bad };
  }
  // the addon fills one row per plan: the native samples, then placeholders (a repeated plan) that
  // the fallback samples overwrite; then the rows go back in batch order
  const plans = [...native.map((r) => r.plan!), ...others.map(() => native[0]!.plan!)];
  const x = await imagesToBatch(decoded, plans, [first.shape[1]!, first.shape[2]!], {
    filter,
    mean: norm?.mean,
    std: norm?.std,
  });
  return { fields: { x: reorder(x, native, others, rows), y }, indices: kept, bad };
}

/** Writes the fallback samples after the native ones and restores the batch order (rare: a copy). */
function reorder(x: Tensor, native: Row[], others: Row[], rows: Row[]): Tensor {
  if (!others.length) return x;
  others.forEach((r, j) => {
    putImageSample(x, native.length + j, r.fallback!);
  });
  const slot = new Map<Row, number>();
  for (const [k, r] of [...native, ...others].entries()) slot.set(r, k);
  const perm = fromArray(new BigInt64Array(rows.map((r) => BigInt(slot.get(r)!))), [rows.length]);
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
  return (indices, ctx) => gate.run(() => loadImageBatchNative(job, indices, ctx, targets));
}
