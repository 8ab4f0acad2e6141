// In-memory datasets: batches are gathered on the main thread with typed-array copies (no workers,
// nothing to decode). IDX image sets (MNIST, Fashion-MNIST) and torch's TensorDataset.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError } from '../errors.ts';
import { type Tensor, tensor } from '../tensor/index.ts';
import { type BatchContext, type Dataset, type LoadedBatch, labelField, type RawField } from './dataset.ts';
import { DataError } from './errors.ts';
import { readIdx } from './idx.ts';
import { sampleRng, stackImages } from './image.ts';
import type { RawImage } from './pixels.ts';
import { applyTransforms, checkTransforms, type Transform } from './transforms.ts';

/** torchvision's FashionMNIST.classes. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Bag',
  'Sneaker',
  'Ankle boot',
];
/** torchvision's MNIST.classes. */
export const MNIST_CLASSES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'].map(
  (n, i) => `${i} - ${n}`,
);

/** uint8 images in memory, [N, H, W] (grayscale) or [N, H, W, C], with int labels. */
export class ImageArrayDataset implements Dataset {
  readonly images: Uint8Array;
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
  readonly targets: readonly number[];
  readonly classes: readonly string[];
  readonly transforms: readonly Transform[];
  private readonly rows: readonly number[] | null;

  constructor(
    images: Uint8Array,
    shape: number[],
    targets: readonly number[],
    o: { classes?: string[]; transforms?: Transform[]; rows?: readonly number[] } = {},
  ) {
    const [n, h, w, c = 1] = shape;
    if (shape.length < 3 || shape.length > 4 || !(c === 1 || c === 3))
      throw new ArgumentError(`image array shape must be [N, H, W] or [N, H, W, 1|3], got [${shape}]`);
    if (images.length !== n! * h! * w! * c)
      throw new ArgumentError(`image array has ${images.length} bytes, shape [${shape}] needs ${n! * h! * w! * c}`);
    this.rows = o.rows ?? null;
    const all = targets;
    if (all.length !== n) throw new ArgumentError(`${all.length} labels for ${n} images`);
    this.images = images;
    [this.height, this.width, this.channels] = [h!, w!, c as 1 | 3];
    this.targets = this.rows ? this.rows.map((r) => all[r]!) : all;
    this.classes =
      o.classes ?? Array.from({ length: all.reduce((m, t) => Math.max(m, t), -1) + 1 }, (_, k) => String(k));
    this.transforms = checkTransforms(o.transforms ?? []);
    this.allTargets = all;
  }
  private readonly allTargets: readonly number[];

  get length(): number {
    return this.targets.length;
  }

  private row(i: number): number {
    if (!(i >= 0 && i < this.length)) throw new ArgumentError(`index ${i} out of range for ${this.length} samples`);
    return this.rows ? this.rows[i]! : i;
  }

  /** One image as uint8 pixels (HWC). */
  image(i: number): RawImage {
    const size = this.height * this.width * this.channels;
    const r = this.row(i);
    return {
      data: this.images.subarray(r * size, (r + 1) * size),
      width: this.width,
      height: this.height,
      channels: this.channels,
    };
  }

  withTransforms(transforms: Transform[]): ImageArrayDataset {
    return new ImageArrayDataset(this.images, this.shape(), this.allTargets, {
      classes: [...this.classes],
      transforms,
      rows: this.rows ?? undefined,
    });
  }

  subset(indices: readonly number[]): ImageArrayDataset {
    return new ImageArrayDataset(this.images, this.shape(), this.allTargets, {
      classes: [...this.classes],
      transforms: [...this.transforms],
      rows: indices.map((i) => this.row(i)),
    });
  }

  private shape(): number[] {
    return [this.allTargets.length, this.height, this.width, this.channels];
  }

  loadBatch(indices: number[], ctx: BatchContext): LoadedBatch {
    const n = indices.length;
    let x: RawField;
    if (this.transforms.length === 0) {
      // ToTensor only: one pass, HWC uint8 -> NCHW float32
      const { height: H, width: W, channels: C } = this;
      const plane = H * W;
      const out = new Float32Array(n * C * plane);
      indices.forEach((i, k) => {
        const src = this.image(i).data;
        const base = k * C * plane;
        if (C === 1) for (let p = 0; p < plane; p++) out[base + p] = src[p]! / 255;
        else
          for (let p = 0; p < plane; p++) for (let c = 0; c < C; c++) out[base + c * plane + p] = src[p * C + c]! / 255;
      });
      x = { data: out, shape: [n, C, H, W] };
    } else {
      const items = indices.map((i, k) => ({
        name: `sample ${i}`,
        ...applyTransforms(this.image(i), this.transforms, sampleRng(ctx.seed, ctx.epoch, ctx.positions[k]!)),
      }));
      x = stackImages(items);
    }
    return { fields: { x, y: labelField(this.targets, indices) }, indices, bad: [] };
  }
}

/** An IDX image file + labels file pair (MNIST family); `.gz` files are read as they are. */
export function idxDataset(
  imagesFile: string,
  labelsFile: string,
  o: { classes?: string[]; transforms?: Transform[] } = {},
): ImageArrayDataset {
  const images = readIdx(imagesFile);
  const labels = readIdx(labelsFile);
  if (images.type !== 'uint8' || (images.shape.length !== 3 && images.shape.length !== 4))
    throw new DataError(imagesFile, `expected uint8 images [N, H, W], got ${images.type} [${images.shape}]`);
  if (labels.shape.length !== 1 || labels.shape[0] !== images.shape[0])
    throw new DataError(labelsFile, `expected ${images.shape[0]} labels, got shape [${labels.shape}]`);
  return new ImageArrayDataset(
    images.data as Uint8Array,
    images.shape,
    Array.from(labels.data as ArrayLike<number>),
    o,
  );
}

/** Where Debian-style installs keep Fashion-MNIST; FASHION_MNIST_DIR overrides it. */
export const FASHION_MNIST_DIR = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';

/**
 * MNIST-family data in torchvision's file names: `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`.
 * Classes default to Fashion-MNIST's names when the folder name says fashion, else MNIST's.
 */
export function mnistFolder(
  root: string,
  o: { train?: boolean; classes?: string[]; transforms?: Transform[] } = {},
): ImageArrayDataset {
  const split = (o.train ?? true) ? 'train' : 't10k';
  const find = (kind: string) => {
    const base = join(root, `${split}-${kind}-ubyte`);
    return [`${base}.gz`, base].find((p) => existsSync(p));
  };
  const img = find('images-idx3');
  const lab = find('labels-idx1');
  if (!img || !lab)
    throw new DataError(root, `no ${split}-images-idx3-ubyte[.gz] / ${split}-labels-idx1-ubyte[.gz] here`);
  const classes = o.classes ?? (/fashion/i.test(root) ? FASHION_MNIST_CLASSES : MNIST_CLASSES);
  return idxDataset(img, lab, { ...o, classes });
}

/** Fashion-MNIST from FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist). */
export const fashionMnist = (o: { train?: boolean; transforms?: Transform[]; root?: string } = {}): ImageArrayDataset =>
  mnistFolder(o.root ?? FASHION_MNIST_DIR, { ...o, classes: FASHION_MNIST_CLASSES });

/**
 * torch's TensorDataset: samples are slices along the first dimension of each tensor. Fields are named
 * x, y, then t2, t3...; or pass a record to name them. Batches are one index_select per tensor.
 */
export class TensorDataset implements Dataset {
  readonly tensors: Record<string, Tensor>;
  readonly length: number;
  readonly targets?: readonly number[];
  private readonly rows: readonly number[] | null;

  constructor(...args: Tensor[] | [Record<string, Tensor>]) {
    const first = args[0];
    const rec: Record<string, Tensor> =
      first && !isTensor(first)
        ? (first as Record<string, Tensor>)
        : Object.fromEntries((args as Tensor[]).map((t, k) => [k === 0 ? 'x' : k === 1 ? 'y' : `t${k}`, t]));
    const names = Object.keys(rec);
    if (!names.length) throw new ArgumentError('TensorDataset needs at least one tensor');
    const n = rec[names[0]!]!.shape[0];
    for (const k of names)
      if (rec[k]!.shape[0] !== n)
        throw new ArgumentError(
          `size mismatch between tensors: ${names[0]} has ${n} rows, ${k} has ${rec[k]!.shape[0]}`,
        );
    this.tensors = rec;
    this.rows = null;
    this.length = n ?? 0;
    const y = rec.y;
    if (y && y.shape.length === 1 && /int/.test(y.dtype)) this.targets = y.toArray();
  }

  static fromSubset(parent: TensorDataset, rows: readonly number[]): TensorDataset {
    const d = Object.create(TensorDataset.prototype) as TensorDataset;
    const base = parent.rows;
    const real = base ? rows.map((r) => base[r]!) : [...rows];
    Object.assign(d, {
      tensors: parent.tensors,
      rows: real,
      length: real.length,
      targets: parent.targets ? rows.map((r) => parent.targets![r]!) : undefined,
    });
    return d;
  }

  subset(indices: readonly number[]): TensorDataset {
    for (const i of indices)
      if (!(i >= 0 && i < this.length)) throw new ArgumentError(`subset: index ${i} out of range`);
    return TensorDataset.fromSubset(this, indices);
  }

  loadBatch(indices: number[], _ctx: BatchContext): LoadedBatch {
    const rows = this.rows ? indices.map((i) => this.rows![i]!) : indices;
    const idx = tensor(BigInt64Array.from(rows, BigInt));
    const fields: Record<string, Tensor> = {};
    try {
      for (const [k, t] of Object.entries(this.tensors)) fields[k] = t.indexSelect(0, idx);
    } finally {
      idx.dispose();
    }
    return { fields, indices, bad: [] };
  }
}

function isTensor(v: unknown): v is Tensor {
  return (
    typeof v === 'object' &&
    v !== null &&
    'shape' in v &&
    'dtype' in v &&
    typeof (v as Tensor).indexSelect === 'function'
  );
}
