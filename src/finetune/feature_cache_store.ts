// Where cached prefix outputs live: one row per dataset index, in memory or in a file mapped into
// memory (libtorch's from_file with shared mapping: the OS pages rows in and out, so a cache larger
// than the budget costs disk and page cache, not process memory). Rows are written with index_copy_
// and read with index_select, so a batch of any order is gathered in one native call.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { ArgumentError } from '../errors.ts';
import { aten, DTYPE_BYTES, DTYPE_CODE, type DType, empty, type Tensor, tensor, tidy } from '../tensor/index.ts';

export type StoreKind = 'memory' | 'disk';

export interface StoreOptions {
  kind: StoreKind;
  /** the file of a disk store (created, and removed by dispose) */
  file?: string;
  /** storage dtype (default: what the prefix returns); bfloat16 halves the size and rounds the features */
  dtype?: DType;
}

/** Bytes a store of n rows of `shape` takes in `dtype`. */
export const storeBytes = (n: number, shape: readonly number[], dtype: DType): number =>
  n * shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];

/** Removes a folder left empty (a store's own, after its file went). */
export function removeIfEmpty(dir: string | undefined): void {
  if (dir && existsSync(dir) && readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
}

/** c10::MemoryFormat::ChannelsLast */
const CHANNELS_LAST = 2;

/** A 4-d tensor laid out N, H, W, C in memory (and not also plain contiguous, as 1x1 maps are). */
function isChannelsLast(t: Tensor): boolean {
  if (t.ndim !== 4) return false;
  const [, c, h, w] = t.shape as [number, number, number, number];
  const st = t.strides();
  const nchw = st[1] === h * w && st[2] === w && st[3] === 1;
  return !nchw && st[1] === 1 && st[3] === c && st[2] === w * c;
}

const indexTensor = (indices: readonly number[], device: string): Tensor =>
  tensor([...indices], { dtype: 'int64', ...(device === 'cpu' ? {} : { device }) });

export class FeatureStore {
  /** dataset indices the store has room for: [0, n) */
  readonly n: number;
  readonly kind: StoreKind;
  readonly file: string | undefined;
  /** per-sample shape and dtype of what the prefix returns (known after the first put) */
  shape: number[] | undefined;
  featureDtype: DType | undefined;
  storedDtype: DType | undefined;
  /** rows written */
  filled = 0;
  #want: DType | undefined;
  #rows: Tensor | undefined;
  #targets: Tensor | undefined;
  #have: Uint8Array;
  /** the prefix returned channels_last rows: hand them back in that layout (kernels after the cut may pick their path by it) */
  #channelsLast = false;
  /** the first folder the disk store had to create (dispose removes it when empty) */
  madeDir: string | undefined;

  constructor(n: number, o: StoreOptions) {
    if (!(Number.isInteger(n) && n > 0))
      throw new ArgumentError(`a feature store needs a positive row count, got ${n}`);
    if (o.kind === 'disk' && !o.file) throw new ArgumentError('a disk feature store needs a file');
    this.n = n;
    this.kind = o.kind;
    this.file = o.file;
    this.#want = o.dtype;
    this.#have = new Uint8Array(n);
  }

  /** Bytes the rows take (0 before the first put). */
  get bytes(): number {
    return this.shape && this.storedDtype ? storeBytes(this.n, this.shape, this.storedDtype) : 0;
  }

  has(i: number): boolean {
    return this.#have[i] === 1;
  }

  #allocate(feats: Tensor, target: Tensor | undefined): void {
    this.shape = feats.shape.slice(1);
    this.featureDtype = feats.dtype;
    this.storedDtype = this.#want ?? feats.dtype;
    this.#channelsLast = isChannelsLast(feats);
    const full = [this.n, ...this.shape];
    if (this.kind === 'disk') {
      const file = this.file!;
      this.madeDir = mkdirSync(dirname(file), { recursive: true });
      rmSync(file, { force: true });
      const flat = aten('aten::from_file')(
        file,
        true,
        full.reduce((a, b) => a * b, 1),
        DTYPE_CODE[this.storedDtype],
      ) as Tensor;
      this.#rows = flat.view(full);
      flat.dispose();
    } else this.#rows = empty(full, { dtype: this.storedDtype, device: feats.device });
    this.#rows.keep();
    if (target)
      this.#targets = empty([this.n, ...target.shape.slice(1)], { dtype: target.dtype, device: target.device }).keep();
  }

  /** Writes the rows of dataset `indices` (feats[k] is index indices[k]) and their targets. */
  put(indices: readonly number[], feats: Tensor, target: Tensor | undefined): void {
    if (feats.size(0) !== indices.length)
      throw new ArgumentError(`feature cache: ${feats.size(0)} feature rows for ${indices.length} indices`);
    if (!this.#rows) this.#allocate(feats, target);
    const same = feats.shape.slice(1).join() === this.shape!.join() && feats.dtype === this.featureDtype;
    if (!same)
      throw new ArgumentError(
        `feature cache: the prefix returned [${feats.shape.slice(1)}] ${feats.dtype} rows, earlier ones were [${this.shape}] ${this.featureDtype}`,
      );
    tidy(() => {
      const idx = indexTensor(indices, this.#rows!.device);
      const rows = feats.dtype === this.storedDtype ? feats.detach() : feats.detach().to(this.storedDtype!);
      aten('aten::index_copy_')(this.#rows!, 0, idx, rows);
      if (this.#targets && target) aten('aten::index_copy_')(this.#targets, 0, idx, target);
    });
    for (const i of indices)
      if (this.#have[i] === 0) {
        this.#have[i] = 1;
        this.filled++;
      }
  }

  /** The rows as the suffix gets them: bf16-stored rows come back in the prefix's dtype. */
  read(feats: Tensor): Tensor {
    const t = feats.dtype === this.featureDtype ? feats : feats.to(this.featureDtype!);
    return this.#channelsLast ? (aten('aten::contiguous')(t, CHANNELS_LAST) as Tensor) : t;
  }

  /** The rows and targets of dataset `indices`, in that order (every one must have been put). */
  gather(indices: readonly number[]): { input: Tensor; target: Tensor | undefined } {
    return tidy(() => {
      const idx = indexTensor(indices, this.#rows!.device);
      const input = this.read(this.#rows!.indexSelect(0, idx));
      const target = this.#targets?.indexSelect(0, idx);
      return { input, target };
    });
  }

  /** Frees the rows; a disk store's file is removed. */
  dispose(): void {
    this.#rows?.dispose();
    this.#targets?.dispose();
    this.#rows = this.#targets = undefined;
    if (this.file) rmSync(this.file, { force: true });
    removeIfEmpty(this.madeDir);
  }
}
