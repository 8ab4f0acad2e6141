// Samplers give the epoch's order of dataset indices as a pure function of (seed, epoch): a resumed
// run sees the same order, and any batch k can be found without replaying the ones before it.
import { ArgumentError } from '../errors.ts';
import { Rng } from '../util/rng.ts';

export interface Sampler {
  /** samples per epoch */
  readonly length: number;
  order(epoch: number): number[];
}

export class SequentialSampler implements Sampler {
  constructor(readonly length: number) {}
  order(): number[] {
    return Array.from({ length: this.length }, (_, i) => i);
  }
}

/** A fresh permutation each epoch (or `numSamples` draws with replacement). */
export class RandomSampler implements Sampler {
  readonly length: number;
  constructor(
    readonly size: number,
    readonly o: { seed?: number; replacement?: boolean; numSamples?: number } = {},
  ) {
    this.length = o.numSamples ?? size;
    if (!o.replacement && this.length > size)
      throw new ArgumentError(`RandomSampler: numSamples ${this.length} > ${size} samples needs replacement: true`);
  }
  order(epoch: number): number[] {
    const rng = new Rng(this.o.seed ?? 0, 'sampler', epoch);
    if (this.o.replacement) return Array.from({ length: this.length }, () => rng.int(this.size));
    return rng.permutation(this.size).slice(0, this.length);
  }
}

/** A random order of a fixed subset of indices. */
export class SubsetRandomSampler implements Sampler {
  constructor(
    readonly indices: readonly number[],
    readonly seed = 0,
  ) {}
  get length(): number {
    return this.indices.length;
  }
  order(epoch: number): number[] {
    return new Rng(this.seed, 'sampler', epoch).shuffle([...this.indices]) as number[];
  }
}

/**
 * torch's WeightedRandomSampler: `numSamples` indices drawn with probability proportional to `weights`,
 * with replacement (default) or without (successive weighted draws).
 */
export class WeightedRandomSampler implements Sampler {
  private readonly cdf: Float64Array;
  constructor(
    readonly weights: readonly number[],
    readonly length: number,
    readonly o: { replacement?: boolean; seed?: number } = {},
  ) {
    if (!weights.length || weights.some((w) => !(w >= 0) || !Number.isFinite(w)))
      throw new ArgumentError('WeightedRandomSampler: weights must be finite and non-negative');
    const positive = weights.filter((w) => w > 0).length;
    if (!positive) throw new ArgumentError('WeightedRandomSampler: all weights are zero');
    if (o.replacement === false && length > positive)
      throw new ArgumentError(
        `WeightedRandomSampler: cannot draw ${length} samples without replacement from ${positive} with weight > 0`,
      );
    this.cdf = new Float64Array(weights.length);
    let acc = 0;
    weights.forEach((w, i) => {
      acc += w;
      this.cdf[i] = acc;
    });
  }
  order(epoch: number): number[] {
    const rng = new Rng(this.o.seed ?? 0, 'sampler', epoch);
    if (this.o.replacement === false) {
      // Efraimidis-Spirakis keys: same distribution as successive draws without replacement
      const keys = this.weights.map((w, i) => [w > 0 ? Math.log(1 - rng.random()) / w : -Infinity, i] as const);
      return keys
        .sort((a, b) => b[0] - a[0] || a[1] - b[1])
        .slice(0, this.length)
        .map((k) => k[1]);
    }
    const total = this.cdf[this.cdf.length - 1]!;
    const out = new Array<number>(this.length);
    for (let k = 0; k < this.length; k++) {
      const u = rng.random() * total;
      let lo = 0;
      let hi = this.cdf.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.cdf[mid]! > u) hi = mid;
        else lo = mid + 1;
      }
      out[k] = lo;
    }
    return out;
  }
}

/** Weights 1 / (samples in the class), so each class is drawn equally often on average. */
export function classBalancedWeights(targets: readonly number[]): number[] {
  const counts = new Map<number, number>();
  for (const t of targets) counts.set(t, (counts.get(t) ?? 0) + 1);
  return targets.map((t) => 1 / counts.get(t)!);
}

/** A WeightedRandomSampler over 1 / class count (numSamples defaults to the dataset size). */
export function classBalancedSampler(
  targets: readonly number[],
  o: { seed?: number; numSamples?: number } = {},
): WeightedRandomSampler {
  return new WeightedRandomSampler(classBalancedWeights(targets), o.numSamples ?? targets.length, {
    seed: o.seed,
    replacement: true,
  });
}

/**
 * torch's DistributedSampler over another sampler: the order is padded to a multiple of worldSize by
 * repeating its start, and rank r takes every worldSize-th index from r (all ranks share the seed).
 */
export class ShardSampler implements Sampler {
  readonly length: number;
  constructor(
    readonly inner: Sampler,
    readonly rank: number,
    readonly worldSize: number,
    readonly dropLast = false,
  ) {
    if (!(worldSize >= 1 && rank >= 0 && rank < worldSize))
      throw new ArgumentError(`ShardSampler: rank ${rank} of ${worldSize}`);
    this.length = dropLast ? Math.floor(inner.length / worldSize) : Math.ceil(inner.length / worldSize);
  }
  order(epoch: number): number[] {
    let all = this.inner.order(epoch);
    const total = this.length * this.worldSize;
    if (all.length < total) {
      const pad: number[] = [];
      while (all.length + pad.length < total) pad.push(...all.slice(0, total - all.length - pad.length));
      all = all.concat(pad);
    } else all = all.slice(0, total);
    return all.filter((_, k) => k % this.worldSize === this.rank);
  }
}

/** Cuts an order into batches of `batchSize`; the last short one is dropped with dropLast. */
export function batchIndices(order: readonly number[], batchSize: number, dropLast = false): number[][] {
  if (!(Number.isInteger(batchSize) && batchSize >= 1))
    throw new ArgumentError(`batchSize must be an integer >= 1, got ${batchSize}`);
  const out: number[][] = [];
  for (let s = 0; s < order.length; s += batchSize) {
    const b = order.slice(s, s + batchSize);
    if (b.length < batchSize && dropLast) break;
    out.push(b);
  }
  return out;
}
