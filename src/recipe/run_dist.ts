// A recipe run as one rank of a data-parallel run (started by `graft train --nproc N`, torchrun or
// srun: the torchrun variables are set): the process group from the environment, rank 0 alone
// checks and owns the run folder, every rank trains its share through DataParallel.
import {
  broadcastNumbers,
  convertSyncBatchNorm,
  DataParallel,
  type DistEnv,
  envFromProcess,
  fitDistributed,
  freePort,
  initProcessGroup,
  type ProcessGroup,
} from '../dist/index.ts';
import { DistError, RecipeError } from '../errors.ts';
import type { Module } from '../nn/index.ts';
import type { FitOptions, FitResult } from '../train/index.ts';
import { readCheckpoint, resolveResume } from '../train/index.ts';
import type { Recipe } from './schema.ts';

export interface DistRun {
  env: DistEnv;
  pg: ProcessGroup;
  /** rank 0: the one that writes the run folder and logs */
  main: boolean;
}

/** The default time a rank waits for the others (torch's is 30 minutes; a hang should surface sooner). */
export const DEFAULT_DIST_TIMEOUT_S = 60;

/**
 * Joins the process group when this process is one rank of several, or a group of one (see
 * `alone` below); undefined otherwise. The
 * timeout: `timeoutMs`, else the recipe's train.distributed.timeout, else GRAFT_DIST_TIMEOUT
 * (seconds), else 60 s.
 */
export async function startDist(
  r: Recipe,
  o: { distTimeoutMs?: number; env?: Record<string, string | undefined>; resumeFrom?: string } = {},
): Promise<DistRun | undefined> {
  const vars = o.env ?? process.env;
  // one process as a group of one, in the data-parallel sample order with its sample position in
  // checkpoints: for a recipe with a train.distributed section (it may go on with several
  // processes, mid-epoch exactly) and for a data-parallel run resumed in one process
  const alone = r.train?.distributed !== undefined || (o.resumeFrom !== undefined && wasDataParallel(o.resumeFrom));
  let env = envFromProcess(vars);
  if (!env && alone)
    env = {
      rank: 0,
      worldSize: 1,
      localRank: 0,
      localWorldSize: 1,
      masterAddr: '127.0.0.1',
      masterPort: await freePort(),
    };
  if (!env || (env.worldSize === 1 && !alone)) return undefined;
  const d = r.train?.distributed ?? {};
  const fromEnv = Number(vars.GRAFT_DIST_TIMEOUT);
  const timeoutMs = o.distTimeoutMs ?? (d.timeout ?? (fromEnv > 0 ? fromEnv : DEFAULT_DIST_TIMEOUT_S)) * 1000;
  const device = r.train?.device ?? 'cpu';
  const backend = d.backend ?? (device.startsWith('cuda') ? 'nccl' : 'gloo');
  const pg = await initProcessGroup({
    backend,
    rank: env.rank,
    worldSize: env.worldSize,
    masterAddr: env.masterAddr,
    masterPort: env.masterPort,
    timeoutMs,
  });
  return { env, pg, main: env.rank === 0 };
}

/** Whether the checkpoint a resume names was written by a data-parallel run (it has a sample position). */
export function wasDataParallel(resumeFrom: string): boolean {
  try {
    return readCheckpoint(resolveResume(resumeFrom)).tree.callbacks?.dist !== undefined;
  } catch {
    return false; // the resume itself says what is wrong with it
  }
}

/**
 * Runs `check` on rank 0 only (the run folder's lock and state) and tells every rank how it went:
 * rank 0 rethrows its error, the others stop with one that points at rank 0's.
 */
export async function onMain(dist: DistRun | undefined, check: () => void): Promise<void> {
  if (!dist) return check();
  let failure: unknown;
  if (dist.main)
    try {
      check();
    } catch (e) {
      failure = e;
    }
  const [ok] = await broadcastNumbers(dist.pg, [failure === undefined ? 1 : 0]);
  if (failure !== undefined) throw failure;
  if (!ok) throw new DistError('GRAFT_DIST_START', 'start', 'rank 0 could not start the run (its output says why)');
}

/**
 * train.distributed.syncBatchNorm: the model's BatchNorms become SyncBatchNorms (the same tensors;
 * their process group is set by fitRank). Done where the run is built, before the phases hold
 * BatchNorms in eval mode, so those hooks are on the modules that run.
 */
export function useSyncBatchNorm(r: Recipe, model: Module): void {
  if (!r.train?.distributed?.syncBatchNorm) return;
  if (r.quantize?.mode === 'qat')
    throw new RecipeError(
      'train.distributed.syncBatchNorm',
      'does not combine with quantize.mode qat (its phase folds BatchNorm into the convolutions)',
      'remove one of them',
    );
  convertSyncBatchNorm(model);
}

/** fit() on this rank: the model wrapped in DataParallel, rank 0 writing the run folder. */
export async function fitRank(
  dist: DistRun,
  r: Recipe,
  options: FitOptions,
  sampler: Parameters<typeof fitDistributed>[1]['sampler'],
): Promise<FitResult> {
  // SyncBatchNorms made by useSyncBatchNorm share this group's statistics
  if (r.train?.distributed?.syncBatchNorm) convertSyncBatchNorm(options.model, dist.pg);
  const ddp = new DataParallel(options.model, dist.pg, { bucketCapMB: r.train?.distributed?.bucketCapMB ?? 25 });
  return fitDistributed(options, { pg: dist.pg, ddp, sampler });
}

/** The start-of-run line that says how the batch is shared. */
export function parallelLine(dist: DistRun, r: Recipe): string {
  const backend = dist.pg.backend;
  const batch = r.data.batchSize ?? 32;
  const acc = r.train?.accumulate ?? 1;
  const n = dist.env.worldSize;
  return `data parallel: ${n} process${n === 1 ? '' : 'es'} (${backend}), batch ${batch}${acc > 1 ? ` x ${acc} accumulated` : ''} per process = effective batch ${n * batch * acc} per step`;
}
