// fit() on every rank of a data-parallel run: the same options everywhere, but only rank 0 owns
// the run folder (lock, checkpoints, metrics.jsonl, report, export) and prints progress; every
// rank reads the checkpoint it resumes from.
import { join } from 'node:path';
import type { DataLoader, DistributedSampler } from '../data/index.ts';
import { ArgumentError } from '../errors.ts';
import { type FitOptions, type FitResult, fit, resolveResume } from '../train/index.ts';
import type { Collectives } from './metrics.ts';
import { DataParallelCallback, type DataParallelLike, distributedSource } from './train.ts';

export interface DistributedFitOptions {
  /** the process group (every rank) */
  pg: Collectives;
  /** the model wrapped for gradient averaging (new DataParallel(model, pg)) */
  ddp: DataParallelLike;
  /**
   * the training loader's sampler when the loader runs over a DistributedSampler: a resume then
   * starts at the checkpoint's sample position, whatever the world size was
   */
  sampler?: DistributedSampler;
}

/** The options rank `rank` runs fit() with: rank 0 keeps them all, the others write nothing. */
export function rankFitOptions(o: FitOptions, rank: number): FitOptions {
  if (rank === 0) return o;
  const resume =
    o.resume === true ? (o.outDir ? resolveResume(join(o.outDir, 'checkpoints')) : undefined) : o.resume || undefined;
  if (o.resume === true && !o.outDir) throw new ArgumentError('resume: true needs outDir');
  return {
    ...o,
    outDir: undefined,
    resume,
    progress: false,
    checkpoint: false,
    report: false,
    export: false,
    overwrite: false,
  };
}

/**
 * Trains on every rank: call it with the same options on each (the same model and seed, the
 * rank's own data), after `new DataParallel(model, pg)`. Gradients are averaged over the ranks,
 * metrics summed over them, and rank 0 alone writes the run folder.
 */
export async function fitDistributed(o: FitOptions, d: DistributedFitOptions): Promise<FitResult> {
  const ckpt = o.checkpoint === false ? undefined : o.checkpoint;
  const loader = d.sampler ? (o.train as DataLoader) : undefined;
  const cb = new DataParallelCallback(d.pg, d.ddp, {
    everySteps: ckpt?.everySteps,
    batchSize: loader?.batchSize,
  });
  const train = loader && d.sampler ? distributedSource(loader, d.sampler, cb) : o.train;
  try {
    return await fit({ ...rankFitOptions(o, d.pg.rank), train, callbacks: [...(o.callbacks ?? []), cb] });
  } catch (e) {
    // a gradient allreduce that failed inside backward comes out of autograd: say what it was
    throw d.ddp.toDistError ? await d.ddp.toDistError(e) : e;
  }
}
