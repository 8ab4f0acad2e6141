// Samplers give the epoch's order of dataset indices as a pure function of (seed, epoch): a resumed
// run sees the same order, and any batch k can be found without replaying the ones before it.
import { ArgumentError } from '../errors.ts';
import { Rng } from '../util/rng.ts';
import { torchRandperm } from '../util/torch_generator.ts';

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

export interface DistributedSamplerOptions {
  /** processes sharing the data (torch's num_replicas) */
  worldSize: number;
  rank: number;
  /** a new permutation every epoch (default true) */
  shuffle?: boolean;
  /** the permutation's seed; epoch e uses seed + e, as torch (default 0; the same on every rank) */
  seed?: number;
  /** drop the tail that does not divide evenly (default false: pad by repeating the start) */
  dropLast?: boolean;
}

/**
 * torch.utils.data.DistributedSampler, index for index: epoch e's order is torch.randperm(n) from a
 * generator seeded seed + e, padded to a multiple of worldSize by repeating its start (or cut with
 * dropLast), and rank r takes every worldSize-th index from r. `order(epoch, startSample)` starts
 * the epoch after `startSample` samples of the whole world's order, so a run resumed with another
 * number of processes goes on with exactly the samples not yet seen (spread over the new ranks).
 */
export class DistributedSampler implements Sampler {
  readonly size: number;
  readonly worldSize: number;
  readonly rank: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  /** samples per rank per epoch (torch's num_samples) */
  readonly length: number;
  /** the epoch order() gives without an argument (torch's set_epoch) */
  epoch = 0;
  /** a resumed epoch: order(epoch) starts after `sample` samples of the world's order */
  startAt: { epoch: number; sample: number } | undefined;

  constructor(size: number, o: DistributedSamplerOptions) {
    const { worldSize, rank } = o;
    if (!(Number.isInteger(size) && size >= 0)) throw new ArgumentError(`DistributedSampler: size ${size}`);
    if (!(Number.isInteger(worldSize) && worldSize >= 1 && Number.isInteger(rank) && rank >= 0 && rank < worldSize))
      throw new ArgumentError(
        `DistributedSampler: rank ${rank} of worldSize ${worldSize}`,
        'rank must be an integer in [0, worldSize)',
      );
    const seed = o.seed ?? 0;
    if (!(Number.isInteger(seed) && seed >= 0))
      throw new ArgumentError(`DistributedSampler: seed ${seed} must be an integer >= 0`);
    this.size = size;
    this.worldSize = worldSize;
    this.rank = rank;
    this.shuffle = o.shuffle ?? true;
    this.seed = seed;
    this.dropLast = o.dropLast ?? false;
    this.length = this.perRank(0);
  }

  /** samples each rank gets from the epoch's order after `startSample` of them */
  perRank(startSample: number): number {
    const left = Math.max(0, this.size - startSample);
    return this.dropLast ? Math.floor(left / this.worldSize) : Math.ceil(left / this.worldSize);
  }

  setEpoch(epoch: number): void {
    this.epoch = epoch;
  }

  /** The whole world's order of epoch `epoch` before padding (torch's `indices`). */
  globalOrder(epoch = this.epoch): number[] {
    if (!this.shuffle) return Array.from({ length: this.size }, (_, i) => i);
    return torchRandperm(this.size, BigInt(this.seed) + BigInt(epoch));
  }

  /** This rank's indices of epoch `epoch`, from `startSample` samples into the world's order. */
  order(epoch = this.epoch, startSample = this.startAt?.epoch === epoch ? this.startAt.sample : 0): number[] {
    if (!(Number.isInteger(startSample) && startSample >= 0))
      throw new ArgumentError(`DistributedSampler: startSample ${startSample} must be an integer >= 0`);
    const all = this.globalOrder(epoch);
    const n = all.length;
    const total = this.perRank(startSample) * this.worldSize;
    const out: number[] = [];
    // torch pads with the order's own start, again and again: position i is all[i mod n]
    for (let i = startSample + this.rank; i < startSample + total; i += this.worldSize) out.push(all[i % n]!);
    return out;
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
