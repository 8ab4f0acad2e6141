// The DataLoader: batches in a seeded, resumable order; image files decoded and augmented in worker
// threads with prefetch; in-memory data gathered on the main thread. `for await (const b of loader)`.
import { ArgumentError } from '../errors.ts';
import { fromArray, type Tensor } from '../tensor/index.ts';
import type { BatchContext, Dataset, LoadedBatch, RawField } from './dataset.ts';
import type { BadSample, OnBadSample, SkippedSample } from './errors.ts';
import { imageBatchFields } from './image_folder.ts';
import { WorkerPool } from './pool.ts';
import { batchIndices, RandomSampler, type Sampler, SequentialSampler } from './sampler.ts';
import { defaultWarn, type WarnFn, WarnLimiter } from './warn.ts';

/** How many skipped samples DataLoader.skippedSamples keeps. */
export const SKIPPED_KEPT = 100;

export interface DataLoaderOptions {
  /** default 1, as torch */
  batchSize?: number;
  /** a new seeded permutation every epoch (ignored when a sampler is given) */
  shuffle?: boolean;
  /** seeds the shuffle and every sample's augmentation; default 0 */
  seed?: number;
  dropLast?: boolean;
  sampler?: Sampler;
  /**
   * image-file datasets: batches loading at once. PNG/JPEG under the usual transforms load in the
   * addon on libuv threads (0: one at a time); other images in worker threads (0: on the main
   * thread). In-memory data never uses them.
   */
  workers?: number;
  /** batches loading ahead of the one being used; default 2 per worker (at least 2) */
  prefetch?: number;
  /** an unreadable image fails the batch with an error naming the file ('error', default) or is dropped and counted */
  onBadSample?: OnBadSample;
  /** put batch tensors on this device ('cuda', 'cuda:1') */
  device?: string;
  /** where the line per skipped file goes (default: a `graft: warning:` line on stderr) */
  warn?: WarnFn;
}

/** One batch: `x` inputs ([N, C, H, W] float32 images or [N, L] token ids), `y` int64 labels. */
export interface Batch {
  x: Tensor;
  y?: Tensor;
  attentionMask?: Tensor;
  tokenTypeIds?: Tensor;
  /** every field by name (x, y, attentionMask, tokenTypeIds, ...) */
  fields: Record<string, Tensor>;
  /** dataset indices in the batch (skipped samples left out) */
  indices: number[];
  size: number;
  /** what the loss averages over when not the rows (a causal-LM batch's predicted tokens) */
  items?: number;
  /** position of this batch in the epoch (resume with startBatch: index + 1) */
  index: number;
  epoch: number;
  dispose(): void;
  [Symbol.dispose](): void;
}

export class DataLoader implements AsyncIterable<Batch> {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly dropLast: boolean;
  readonly sampler: Sampler;
  readonly seed: number;
  readonly workers: number;
  readonly prefetch: number;
  readonly onBadSample: OnBadSample;
  readonly device?: string;
  /** the epoch the next `for await` runs; it advances after each complete pass */
  epoch = 0;
  /** the dropped samples, by file (first reason kept), including rows a dataset dropped while loading */
  readonly badSamples = new Map<string, string>();
  private pool: WorkerPool | null = null;
  /** the dataset's off-thread batch function (the addon's image path), looked up on first use */
  private fast: ((indices: number[], ctx: BatchContext) => Promise<LoadedBatch>) | null | undefined;
  private skipCount = 0;
  private readonly skippedList: SkippedSample[] = [];
  private readonly skipWarnings: WarnLimiter;
  /** rows the dataset dropped while reading its files (it warned about them) */
  private readonly droppedRows: number;

  constructor(dataset: Dataset, o: DataLoaderOptions = {}) {
    this.dataset = dataset;
    this.batchSize = o.batchSize ?? 1;
    this.dropLast = o.dropLast ?? false;
    this.seed = o.seed ?? 0;
    if (o.sampler && o.shuffle) throw new ArgumentError('sampler option is mutually exclusive with shuffle');
    this.sampler =
      o.sampler ??
      (o.shuffle ? new RandomSampler(dataset.length, { seed: this.seed }) : new SequentialSampler(dataset.length));
    const workers = o.workers ?? 0;
    if (!(Number.isInteger(workers) && workers >= 0))
      throw new ArgumentError(`workers must be an integer >= 0, got ${workers}`);
    this.workers = dataset.workerJob ? workers : 0;
    this.prefetch = Math.max(1, o.prefetch ?? 2 * Math.max(1, this.workers));
    this.onBadSample = o.onBadSample ?? 'error';
    this.device = o.device;
    this.skipWarnings = new WarnLimiter(o.warn ?? defaultWarn, 'samples skipped');
    batchIndices([], this.batchSize);
    const dropped = (dataset as { bad?: readonly BadSample[] }).bad ?? [];
    for (const b of dropped) this.recordSkip(b);
    this.droppedRows = dropped.length;
  }

  /**
   * Samples left out under onBadSample 'skip' since the loader was made, counted on every pass as
   * an epoch meets them: the rows its dataset dropped while reading its files (when an epoch starts)
   * and the files that failed to load in a batch. The difference over an epoch is that epoch's count.
   */
  get skipped(): number {
    return this.skipCount;
  }

  /** The first SKIPPED_KEPT different samples skipped, in the order they were met. */
  get skippedSamples(): readonly SkippedSample[] {
    return this.skippedList;
  }

  /** Lists a skipped sample (each file once); true the first time. */
  private recordSkip(b: BadSample): boolean {
    if (this.badSamples.has(b.file)) return false;
    this.badSamples.set(b.file, b.reason);
    if (this.skippedList.length < SKIPPED_KEPT)
      this.skippedList.push({ ...(b.index !== undefined ? { index: b.index } : {}), path: b.file, reason: b.reason });
    return true;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.sampler.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The epoch's sample order (a pure function of seed and epoch). */
  order(epoch = this.epoch): number[] {
    return this.sampler.order(epoch);
  }

  /** The epoch's batches of dataset indices. */
  batches(epoch = this.epoch): number[][] {
    return batchIndices(this.order(epoch), this.batchSize, this.dropLast);
  }

  setEpoch(epoch: number): void {
    this.epoch = epoch;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Batch> {
    const epoch = this.epoch;
    yield* this.iterate({ epoch });
    this.epoch = epoch + 1;
  }

  /** One epoch's batches from `startBatch` on: the same batches, in the same order, with the same augmentation. */
  async *iterate(o: { epoch?: number; startBatch?: number } = {}): AsyncGenerator<Batch> {
    const epoch = o.epoch ?? this.epoch;
    const start = o.startBatch ?? 0;
    const all = this.batches(epoch);
    if (!(Number.isInteger(start) && start >= 0 && start <= all.length))
      throw new ArgumentError(`startBatch ${start} is outside the epoch's ${all.length} batches`);
    const positions = all.map((_, k) => k * this.batchSize);
    if (start === 0) this.skipCount += this.droppedRows;
    const load = (k: number): Promise<LoadedBatch> | LoadedBatch => {
      const indices = all[k]!;
      const ctx = {
        seed: this.seed,
        epoch,
        positions: indices.map((_, j) => positions[k]! + j),
        onBadSample: this.onBadSample,
      };
      // the addon's image path: `workers` batches decode at once on libuv threads (one when 0)
      if (this.fast === undefined) this.fast = this.dataset.nativeBatches?.(Math.max(1, this.workers)) ?? null;
      if (this.fast) return this.fast(indices, ctx);
      if (this.workers > 0) {
        this.pool ??= new WorkerPool(this.dataset.workerJob!(), this.workers);
        return this.pool.run({ indices, ...ctx }).then((r) => imageBatchFields(r, this.dataset.targets ?? []));
      }
      return this.dataset.loadBatch(indices, ctx);
    };
    const async = this.workers > 0 || this.dataset.workerJob !== undefined;
    const ahead = new Map<number, Promise<LoadedBatch>>();
    const fill = (from: number) => {
      for (let k = from; k < Math.min(all.length, from + this.prefetch); k++) {
        if (ahead.has(k)) continue;
        const p = Promise.resolve(load(k));
        p.catch(() => {}); // surfaced when awaited
        ahead.set(k, p);
      }
    };
    for (let k = start; k < all.length; k++) {
      let loaded: LoadedBatch;
      if (async) {
        fill(k);
        loaded = await ahead.get(k)!;
        ahead.delete(k);
        fill(k + 1);
      } else loaded = await load(k);
      this.skipCount += loaded.bad.length;
      for (const b of loaded.bad)
        if (this.recordSkip(b))
          this.skipWarnings.note(
            `skipped ${b.file}${b.index !== undefined ? ` (sample ${b.index})` : ''}: ${b.reason}`,
          );
      if (!loaded.indices.length) continue;
      yield this.toBatch(loaded, k, epoch);
    }
  }

  private toBatch(l: LoadedBatch, index: number, epoch: number): Batch {
    const fields: Record<string, Tensor> = {};
    try {
      for (const [k, v] of Object.entries(l.fields)) fields[k] = this.toTensor(v);
    } catch (e) {
      for (const t of Object.values(fields)) t.dispose();
      throw e;
    }
    const dispose = () => {
      for (const t of Object.values(fields)) t.dispose();
    };
    return {
      x: fields.x!,
      y: fields.y,
      attentionMask: fields.attentionMask,
      tokenTypeIds: fields.tokenTypeIds,
      fields,
      indices: l.indices,
      size: l.indices.length,
      ...(l.items !== undefined ? { items: l.items } : {}),
      index,
      epoch,
      dispose,
      [Symbol.dispose]: dispose,
    };
  }

  private toTensor(v: RawField | Tensor): Tensor {
    if (!('data' in v && ArrayBuffer.isView(v.data))) {
      const t = v as Tensor;
      if (!this.device || t.device === this.device) return t;
      const moved = t.to({ device: this.device });
      t.dispose();
      return moved;
    }
    return fromArray(v.data, v.shape, this.device ? { device: this.device } : {});
  }

  /** Stops the worker threads (they also stop with the process). */
  async close(): Promise<void> {
    const p = this.pool;
    this.pool = null;
    await p?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
