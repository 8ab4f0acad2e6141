// The addon's image fast path (native/image*.cc): a batch's PNG/JPEG files read and their headers
// parsed on a libuv thread, then each image decoded as PIL's open(...).convert('RGB') (a JPEG only as
// far as its crop box needs), cropped, resized (Pillow's resampling, bit for bit), flipped and
// normalized straight into its slot of a float32 batch tensor on libuv threads. Here because only
// src/tensor/ reaches the binding; src/data/ plans the geometry and falls back to sharp where this
// does not apply.
import { type Handle, native } from '../binding/index.ts';
import { Tensor } from './tensor.ts';

/** What happened to one file (native/image.h's Status). */
export const IMAGE_OK = 0;
export const IMAGE_READ_ERROR = 1;
export const IMAGE_DECODE_ERROR = 2;
export const IMAGE_TOO_LARGE = 3;
export const IMAGE_UNSUPPORTED = 4;

/** Resampling filters, numbered as PIL's Image.BILINEAR / Image.BICUBIC. */
export type ImageFilter = 'bilinear' | 'bicubic';
const FILTER = { bilinear: 2, bicubic: 3 } as const;

/**
 * One image's geometry, applied in this order: crop1 (inside the image), resize to rw x rh (when the
 * size changes), crop2 at (c2x, c2y) of size ow x oh (zeros outside), then the flips.
 */
export interface ImagePlan {
  /** the file's index in its ImageFiles; -1: a row left zero for putImageSample */
  src: number;
  crop1: [x: number, y: number, w: number, h: number];
  resize: [w: number, h: number];
  crop2: [x: number, y: number, w: number, h: number];
  hflip: boolean;
  vflip: boolean;
}
const PLAN_FIELDS = 13;

interface ImageNative {
  imageAvailable(): boolean;
  imageReadFiles(paths: string[], maxPixels: number): Promise<[unknown, Int32Array, string[]]>;
  imageToBatch(
    files: unknown,
    plans: Int32Array,
    outH: number,
    outW: number,
    filter: number,
    mean: number[] | null,
    std: number[] | null,
    threads: number,
  ): Promise<[Handle, Int32Array, string[]]>;
  imagePutSample(h: Handle, index: number, data: Float32Array): void;
  imageDecode(
    bytes: Uint8Array,
    maxPixels: number,
    region?: Int32Array,
  ): [number, number, number, string, Uint8Array | undefined, number, number, number, number];
  imageApplyPlan(rgb: Uint8Array, width: number, height: number, plan: Int32Array, filter: number): Uint8Array;
}

const n = native as unknown as Partial<ImageNative>;

/** Whether this addon was built with libpng + libjpeg (else graft decodes with sharp). */
export const imageNativeAvailable = (): boolean => typeof n.imageAvailable === 'function' && n.imageAvailable();

const img = (): ImageNative => n as ImageNative;

function packPlans(plans: readonly ImagePlan[]): Int32Array {
  const out = new Int32Array(plans.length * PLAN_FIELDS);
  plans.forEach((p, k) => {
    out.set([p.src, ...p.crop1, ...p.resize, ...p.crop2, p.hflip ? 1 : 0, p.vflip ? 1 : 0], k * PLAN_FIELDS);
  });
  return out;
}

/** Files read by the addon and held until imagesToBatch; per file its header's status (IMAGE_*), size and a message. */
export interface ImageFiles {
  readonly held: unknown;
  status(i: number): number;
  width(i: number): number;
  height(i: number): number;
  message(i: number): string;
}

/**
 * Reads files and parses their headers on a libuv thread; maxPixels null: no limit. Per-file failures
 * are statuses; a file whose header is good may still fail to decode (imagesToBatch reports it).
 */
export async function readImageFiles(paths: readonly string[], maxPixels: number | null): Promise<ImageFiles> {
  const [held, s, messages] = await img().imageReadFiles([...paths], maxPixels ?? 0);
  return {
    held,
    status: (i) => s[i * 3]!,
    width: (i) => s[i * 3 + 1]!,
    height: (i) => s[i * 3 + 2]!,
    message: (i) => messages[i]!,
  };
}

/** A plan whose image failed to decode: its row of the batch is zeros. */
export interface FailedImage {
  /** the plan's position in the batch */
  row: number;
  status: number;
  message: string;
}

/**
 * A [plans.length, 3, outH, outW] float32 batch: each plan's image decoded (a JPEG only as far as its
 * crop box needs: the same pixels), the plan run on it, then ToTensor and (when mean/std are given)
 * Normalize, in float32 as torchvision; images one after the other on each of `threads` libuv threads
 * (default 1). Releases the files' bytes.
 */
export async function imagesToBatch(
  files: ImageFiles,
  plans: readonly ImagePlan[],
  size: [h: number, w: number],
  o: { filter?: ImageFilter; mean?: readonly number[]; std?: readonly number[]; threads?: number } = {},
): Promise<{ x: Tensor; failed: FailedImage[] }> {
  const per = (v: readonly number[] | undefined) => (v ? [0, 1, 2].map((c) => v[c % v.length]!) : null);
  const [h, status, messages] = await img().imageToBatch(
    files.held,
    packPlans(plans),
    size[0],
    size[1],
    FILTER[o.filter ?? 'bilinear'],
    per(o.mean),
    per(o.std),
    o.threads ?? 1,
  );
  const failed: FailedImage[] = [];
  status.forEach((s, row) => {
    if (s !== IMAGE_OK) failed.push({ row, status: s, message: messages[row]! });
  });
  return { x: new Tensor(h), failed };
}

/** Writes a CHW float32 sample made elsewhere (the sharp fallback) into row `index` of a batch. */
export function putImageSample(batch: Tensor, index: number, data: Float32Array): void {
  img().imagePutSample(batch.h, index, data);
}

/**
 * Decodes PNG/JPEG bytes on this thread: RGB pixels, or a status (IMAGE_*) and message. With a region
 * ([x, y, w, h]), a JPEG decodes only what the region needs: `rgb` is then the image's columns
 * [x0, x0 + cols) of rows [y0, y0 + rows), a part that holds the region (the whole image otherwise).
 */
export function decodeImageBytes(
  bytes: Uint8Array,
  maxPixels: number | null,
  region?: readonly [x: number, y: number, w: number, h: number],
): {
  status: number;
  width: number;
  height: number;
  message: string;
  rgb?: Uint8Array;
  part: { x0: number; y0: number; cols: number; rows: number };
} {
  const [status, width, height, message, rgb, x0, y0, cols, rows] = img().imageDecode(
    bytes,
    maxPixels ?? 0,
    region ? Int32Array.from(region) : undefined,
  );
  return { status, width, height, message, ...(rgb ? { rgb } : {}), part: { x0, y0, cols, rows } };
}

/** Runs one plan on RGB pixels: the uint8 HWC result (what tests compare with PIL). */
export function applyImagePlan(
  rgb: Uint8Array,
  width: number,
  height: number,
  plan: Omit<ImagePlan, 'src'>,
  filter: ImageFilter = 'bilinear',
): Uint8Array {
  return img().imageApplyPlan(rgb, width, height, packPlans([{ src: 0, ...plan }]), FILTER[filter]);
}
