// What the loader asks of a dataset: a length, a batch for a list of indices, and (for image files)
// a plain-data job that worker threads can run without the native addon.

import { ArgumentError } from '../errors.ts';
import type { Tensor } from '../tensor/index.ts';
import { Rng } from '../util/rng.ts';
import type { BadSample, OnBadSample } from './errors.ts';
import type { ImageJob } from './image.ts';

/** A typed array with a shape: what workers send back, turned into a tensor on the main thread. */
export interface RawField {
  data: Float32Array | Float64Array | Uint8Array | Int32Array | BigInt64Array;
  shape: number[];
}

export interface LoadedBatch {
  /** by name: 'x' (inputs), 'y' (labels), 'attentionMask', 'tokenTypeIds', ... */
  fields: Record<string, RawField | Tensor>;
  /** the dataset indices in the batch, in order (skipped samples left out) */
  indices: number[];
  bad: BadSample[];
  /** what the loss averages over when it is not the rows: a causal-LM batch's predicted tokens */
  items?: number;
}

export interface BatchContext {
  seed: number;
  epoch: number;
  /** each index's position in the epoch's order: it keys the sample's augmentation RNG */
  positions: number[];
  onBadSample: OnBadSample;
}

export interface Dataset {
  readonly length: number;
  /** class index per sample (class-balanced sampling, stratified splits) */
  readonly targets?: readonly number[];
  readonly classes?: readonly string[];
  loadBatch(indices: number[], ctx: BatchContext): LoadedBatch | Promise<LoadedBatch>;
  /** present when batches can be made in worker threads */
  workerJob?(): ImageJob;
  /**
   * A batch function that does the work off the JS thread (the addon's image path), with at most
   * `concurrency` batches in flight; null when it does not apply. The loader prefers it to workers.
   */
  nativeBatches?(concurrency: number): ((indices: number[], ctx: BatchContext) => Promise<LoadedBatch>) | null;
}

/** A dataset that can be cut into a subset of its samples (for splits). */
export interface Subsettable<D> {
  readonly length: number;
  readonly targets?: readonly number[];
  /** `keepBad: false`: the subset does not carry the rows its source dropped while reading (a split's val side) */
  subset(indices: readonly number[], o?: { keepBad?: boolean }): D;
}

/** Labels as an int64 field. */
export function labelField(targets: readonly number[], indices: readonly number[]): RawField {
  const y = new BigInt64Array(indices.length);
  indices.forEach((i, k) => {
    y[k] = BigInt(targets[i]!);
  });
  return { data: y, shape: [indices.length] };
}

/**
 * A seeded train/val split. Stratified (default, when the dataset has targets): each class is shuffled
 * on its own and round(n_class * valRatio) of it goes to val, so both sides keep the class balance.
 * The same seed gives the same split on every machine.
 */
export function splitDataset<D>(
  ds: Subsettable<D>,
  o: { valRatio: number; seed?: number; stratify?: boolean },
): { train: D; val: D; trainIndices: number[]; valIndices: number[] } {
  const { valRatio, seed = 0 } = o;
  if (!(valRatio >= 0 && valRatio < 1)) throw new ArgumentError(`valRatio must be in [0, 1), got ${valRatio}`);
  const groups = new Map<number, number[]>();
  const stratify = (o.stratify ?? true) && ds.targets !== undefined;
  for (let i = 0; i < ds.length; i++) {
    const g = stratify ? ds.targets![i]! : 0;
    const list = groups.get(g) ?? [];
    if (!list.length) groups.set(g, list);
    list.push(i);
  }
  const train: number[] = [];
  const val: number[] = [];
  for (const g of [...groups.keys()].sort((a, b) => a - b)) {
    const idx = groups.get(g)!;
    new Rng(seed, 'split', g).shuffle(idx);
    const nVal = Math.round(idx.length * valRatio);
    val.push(...idx.slice(0, nVal));
    train.push(...idx.slice(nVal));
  }
  train.sort((a, b) => a - b);
  val.sort((a, b) => a - b);
  // rows the source dropped are counted once, by the training side
  return { train: ds.subset(train), val: ds.subset(val, { keepBad: false }), trainIndices: train, valIndices: val };
}
