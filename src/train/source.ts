// Batches as the trainer sees them, and the adapters that make them from data loaders, arrays of
// batches or tensors in memory. A source yields the batches of epoch e in an order fixed by
// (seed, e) and can start at batch k: that is what makes a mid-epoch resume exact.
import { ArgumentError } from '../errors.ts';
import { Tensor, tensor } from '../tensor/index.ts';
import { Rng } from '../util/rng.ts';

export type BatchInput = Tensor | Tensor[] | Record<string, Tensor>;

export interface Batch {
  input: BatchInput;
  /** class indices (or whatever the loss takes); absent for self-supervised batches */
  target?: Tensor;
  /** what the loss is a mean over when not the first dimension (a causal-LM batch: its predicted tokens) */
  items?: number;
}

export interface BatchSource {
  /** The batches of epoch `epoch` (0-based) in that epoch's order, from batch index `start` on. */
  batches(epoch: number, start: number): AsyncIterable<unknown> | Iterable<unknown>;
  /** batches per epoch, when known (progress, ETA, closing the last accumulation window) */
  readonly length?: number;
  /** samples skipped as unreadable since the loader was made (a DataLoader's onBadSample: 'skip'), when counted */
  readonly skipped?: number;
}

/** Something with per-epoch order that yields batches: loaders that take (epoch, start). */
export interface EpochIterable {
  iterate(o: { epoch: number; startBatch?: number }): AsyncIterable<unknown> | Iterable<unknown>;
  readonly length?: number;
  readonly skipped?: number;
}

/** Loaders in the torch style: setEpoch(e) (seeded shuffle) then iterate; skipped batches are drawn and dropped. */
export interface SetEpochIterable {
  setEpoch(epoch: number): void;
  [Symbol.asyncIterator]?(): AsyncIterator<unknown>;
  [Symbol.iterator]?(): Iterator<unknown>;
  readonly length?: number;
  readonly skipped?: number;
}

const TARGET_KEYS = ['target', 'targets', 'label', 'labels', 'y'];
const INPUT_KEYS = ['input', 'inputs', 'image', 'images', 'x'];

/** A batch from the common shapes: {input, target}, [x, y], {x, y}, {image, label}, {inputIds, ..., labels}. */
export function toBatch(raw: unknown): Batch {
  if (raw instanceof Tensor) return { input: raw };
  if (Array.isArray(raw)) {
    if (raw.length === 2 && raw[0] instanceof Tensor && (raw[1] instanceof Tensor || raw[1] === undefined))
      return { input: raw[0], target: raw[1] };
    throw new ArgumentError(`a batch array must be [input, target] tensors, got ${raw.length} items`);
  }
  if (raw === null || typeof raw !== 'object') throw new ArgumentError(`a batch must be an object, got ${typeof raw}`);
  const o = raw as Record<string, unknown>;
  // src/data's Batch: x, y, and for text attentionMask / tokenTypeIds (BERT's named inputs)
  if (o.x instanceof Tensor && o.fields && (o.attentionMask instanceof Tensor || o.tokenTypeIds instanceof Tensor)) {
    const input: Record<string, Tensor> = { inputIds: o.x };
    if (o.attentionMask instanceof Tensor) input.attentionMask = o.attentionMask;
    if (o.tokenTypeIds instanceof Tensor) input.tokenTypeIds = o.tokenTypeIds;
    const items = typeof o.items === 'number' ? { items: o.items } : {};
    return { input, target: o.y instanceof Tensor ? o.y : undefined, ...items };
  }
  const tKey = TARGET_KEYS.find((k) => o[k] instanceof Tensor);
  const iKey = INPUT_KEYS.find((k) => o[k] !== undefined);
  const target = tKey ? (o[tKey] as Tensor) : undefined;
  if (iKey) return { input: o[iKey] as BatchInput, target };
  // a text batch: every tensor but the labels goes to the model as named inputs
  const input: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(o)) if (k !== tKey && v instanceof Tensor) input[k] = v;
  if (Object.keys(input).length === 0)
    throw new ArgumentError(`a batch has no input tensor (keys: ${Object.keys(o).join(', ')})`);
  return { input, target };
}

/** Items in a batch: the target's first dimension, else the input's. */
export function batchItems(b: Batch): number {
  if (b.items !== undefined) return b.items;
  if (b.target) return b.target.ndim > 0 ? b.target.size(0) : 1;
  const first = b.input instanceof Tensor ? b.input : Object.values(b.input)[0];
  return first && first.ndim > 0 ? first.size(0) : 1;
}

async function* skipAsync(it: AsyncIterable<unknown> | Iterable<unknown>, n: number): AsyncGenerator<unknown> {
  let i = 0;
  for await (const b of it as AsyncIterable<unknown>) {
    if (i++ < n) {
      disposeBatch(b);
      continue;
    }
    yield b;
  }
}

/** A borrowed batch's dispose(): the tensors stay the caller's. */
function keepBorrowed(): void {}

const mapValues = (o: Record<string, Tensor>, f: (t: Tensor) => Tensor) =>
  Object.fromEntries(Object.entries(o).map(([k, t]) => [k, f(t)]));

/** Frees the tensors of a batch (the trainer owns the batches it is given). */
export function disposeBatch(raw: unknown, depth = 0): void {
  if (raw instanceof Tensor) raw.dispose();
  else if (depth === 0 && typeof (raw as { dispose?: unknown } | null)?.dispose === 'function')
    (raw as { dispose(): void }).dispose();
  else if (depth < 3 && Array.isArray(raw)) for (const v of raw) disposeBatch(v, depth + 1);
  else if (depth < 3 && raw !== null && typeof raw === 'object')
    for (const v of Object.values(raw)) disposeBatch(v, depth + 1);
}

/**
 * A BatchSource from what a caller has: a BatchSource, a loader with iterate({epoch, start}), a
 * loader with setEpoch (batches before `start` are drawn and dropped), or a fixed array of batches.
 */
export function toSource(data: unknown): BatchSource {
  if (data === null || typeof data !== 'object')
    throw new ArgumentError(`data must be a loader or a source, got ${typeof data}`);
  const d = data as Partial<BatchSource & EpochIterable & SetEpochIterable>;
  // iterate() first: src/data's DataLoader also has a batches(epoch) that lists indices
  if (typeof d.iterate === 'function') {
    const it = d as EpochIterable;
    return {
      batches: (epoch, start) => it.iterate({ epoch, startBatch: start }),
      get length() {
        return it.length;
      },
      get skipped() {
        return it.skipped;
      },
    };
  }
  if (typeof d.batches === 'function') return d as BatchSource;
  if (typeof d.setEpoch === 'function') {
    const it = d as SetEpochIterable;
    return {
      batches(epoch, start) {
        it.setEpoch(epoch);
        return skipAsync(it as AsyncIterable<unknown>, start);
      },
      get length() {
        return it.length;
      },
      get skipped() {
        return it.skipped;
      },
    };
  }
  if (Array.isArray(data)) {
    const arr = data as unknown[];
    // fixed batches are reused every epoch: the trainer gets the caller's tensors in a batch whose
    // dispose() (what disposeBatch calls) frees nothing. Detached views did the same job but were new
    // handles counted as external memory although they own no bytes: their coming and going swung
    // the native heap samples by a batch's size each step, which kept V8 in a major GC every ~2
    // steps (ResNet-18 16x3x112x112: 15 mark-compacts in 26 frozen-backbone steps, 4 without)
    const borrow = (b: unknown): unknown => {
      const { input, target } = toBatch(b);
      const inputs = input instanceof Tensor ? [input] : Array.isArray(input) ? input : Object.values(input);
      // a tensor that requires grad still goes in detached (backward must not reach the caller's data)
      if (![...inputs, target].some((t) => t?.requiresGrad)) return { input, target, dispose: keepBorrowed };
      const v = (t: Tensor) => t.detach();
      const inp = input instanceof Tensor ? v(input) : Array.isArray(input) ? input.map(v) : mapValues(input, v);
      return { input: inp, target: target && v(target) };
    };
    return { batches: (_e, start) => arr.slice(start).map(borrow), length: arr.length };
  }
  throw new ArgumentError('data must be a BatchSource, a loader (iterate or setEpoch) or an array of batches');
}

export interface TensorDataOptions {
  batchSize: number;
  shuffle?: boolean;
  /** seeds the per-epoch order: Rng(seed, 'order', epoch) */
  seed?: number;
  dropLast?: boolean;
}

/** Batches from tensors in memory: x [N, ...] and y [N], shuffled per epoch by (seed, epoch). */
export function tensorData(x: Tensor, y: Tensor | undefined, o: TensorDataOptions): BatchSource {
  const n = x.size(0);
  if (y && y.size(0) !== n) throw new ArgumentError(`tensorData: x has ${n} items, y ${y.size(0)}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
    throw new ArgumentError(`tensorData: batchSize must be an integer >= 1, got ${o.batchSize}`);
  const length = o.dropLast ? Math.floor(n / o.batchSize) : Math.ceil(n / o.batchSize);
  return {
    length,
    *batches(epoch: number, start: number) {
      const order = o.shuffle ? new Rng(o.seed ?? 0, 'order', epoch).permutation(n) : undefined;
      for (let b = start; b < length; b++) {
        const lo = b * o.batchSize;
        const hi = Math.min(n, lo + o.batchSize);
        if (!order) {
          yield { input: x.narrow(0, lo, hi - lo), target: y?.narrow(0, lo, hi - lo) };
          continue;
        }
        const idx = tensor(order.slice(lo, hi), { dtype: 'int64' });
        yield { input: x.indexSelect(0, idx), target: y?.indexSelect(0, idx) };
        idx.dispose();
      }
    },
  };
}
