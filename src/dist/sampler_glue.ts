// A recipe's loaders for one rank of a data-parallel run: training over torch's DistributedSampler
// (per-epoch shuffle from seed + epoch, padded to equal shares), validation split into strided
// shares without padding, so the metrics summed over ranks count every sample exactly once.
import { DataLoader, DistributedSampler, type Sampler, SequentialSampler } from '../data/index.ts';
import { ArgumentError } from '../errors.ts';
import { Rng } from '../util/rng.ts';

export interface RankLoaders {
  train: DataLoader;
  valid: DataLoader | undefined;
  sampler: DistributedSampler;
  /** stops the loaders' worker threads */
  close(): Promise<void>;
}

/** Every worldSize-th sample from `rank`: one rank's share of an evaluation, nothing repeated. */
export class StridedSampler implements Sampler {
  readonly length: number;
  constructor(
    readonly size: number,
    readonly rank: number,
    readonly worldSize: number,
  ) {
    this.length = Math.max(0, Math.ceil((size - rank) / worldSize));
  }
  order(): number[] {
    return Array.from({ length: this.length }, (_, k) => this.rank + k * this.worldSize);
  }
}

/** The same loader settings over another sampler (and seed: augmentation differs per rank). */
function withSampler(l: DataLoader, sampler: Sampler, seed: number): DataLoader {
  return new DataLoader(l.dataset, {
    batchSize: l.batchSize,
    dropLast: l.dropLast,
    sampler,
    seed,
    workers: l.workers,
    prefetch: l.prefetch,
    onBadSample: l.onBadSample,
    ...(l.device ? { device: l.device } : {}),
  });
}

/**
 * Rank `rank`'s loaders made from the single-process ones (whose settings they keep). The training
 * order is shuffled when the single-process loader was (its sampler was not sequential).
 */
export function rankLoaders(
  train: DataLoader,
  valid: DataLoader | undefined,
  o: { rank: number; worldSize: number; seed: number },
): RankLoaders {
  const sampler = new DistributedSampler(train.dataset.length, {
    worldSize: o.worldSize,
    rank: o.rank,
    shuffle: !(train.sampler instanceof SequentialSampler),
    seed: o.seed,
  });
  // rank 0 augments as one process would at the same positions; the others draw their own streams
  const seed = o.rank === 0 ? train.seed : new Rng(train.seed, 'rank', o.rank).nextU32();
  const t = withSampler(train, sampler, seed);
  // each rank's first validation forward takes part in DataParallel's buffer broadcast: none may be empty
  if (valid && o.worldSize > 1 && valid.dataset.length < o.worldSize)
    throw new ArgumentError(
      `the validation split has ${valid.dataset.length} sample(s) for ${o.worldSize} processes: each needs one at least`,
      'use fewer processes or a larger validation split',
    );
  const v = valid
    ? withSampler(valid, new StridedSampler(valid.dataset.length, o.rank, o.worldSize), valid.seed)
    : undefined;
  return {
    train: t,
    valid: v,
    sampler,
    async close() {
      await Promise.all([t.close(), v?.close()]);
    },
  };
}
