// The torchrun environment contract (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT), so graft workers start under torchrun-style launchers, Slurm or Kubernetes.
import { DistError } from '../errors.ts';

/** Where this process sits in a distributed run, and where rank 0 listens. */
export interface DistEnv {
  rank: number;
  worldSize: number;
  /** rank among the processes on this machine */
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
}

type Env = Record<string, string | undefined>;

function intVar(env: Env, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name]?.trim() ?? '';
  const v = Number(raw);
  if (!/^\d+$/.test(raw) || v < min || v > max)
    throw new DistError(
      'GRAFT_DIST_ENV',
      'env',
      `${name}=${JSON.stringify(env[name])} is not a whole number from ${min} to ${max}`,
      'set it as torchrun does, or start the workers with `graft train --nproc N`',
    );
  return v;
}

/**
 * Reads the torchrun contract from `env`. Undefined when neither RANK nor WORLD_SIZE is set (a
 * single process). Under Slurm without RANK, SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID /
 * SLURM_NTASKS_PER_NODE stand in for them. LOCAL_RANK and LOCAL_WORLD_SIZE default to RANK and
 * WORLD_SIZE (one machine). Throws a DistError naming the variable when one is missing or wrong.
 */
export function envFromProcess(env: Env = process.env): DistEnv | undefined {
  let e = env;
  if (e.RANK === undefined && e.WORLD_SIZE === undefined) {
    if (e.SLURM_PROCID === undefined || e.SLURM_NTASKS === undefined || e.MASTER_ADDR === undefined) return undefined;
    e = {
      ...env,
      RANK: env.SLURM_PROCID,
      WORLD_SIZE: env.SLURM_NTASKS,
      LOCAL_RANK: env.LOCAL_RANK ?? env.SLURM_LOCALID,
      LOCAL_WORLD_SIZE: env.LOCAL_WORLD_SIZE ?? env.SLURM_NTASKS_PER_NODE?.replace(/\(.*$/, ''),
    };
  }
  for (const name of ['RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'])
    if (e[name] === undefined || e[name] === '')
      throw new DistError(
        'GRAFT_DIST_ENV',
        'env',
        `${name} is not set (a distributed worker needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT)`,
        'set all four as torchrun does, or start the workers with `graft train --nproc N`',
      );
  const worldSize = intVar(e, 'WORLD_SIZE', 1);
  const rank = intVar(e, 'RANK', 0, worldSize - 1);
  const localWorldSize = e.LOCAL_WORLD_SIZE === undefined ? worldSize : intVar(e, 'LOCAL_WORLD_SIZE', 1, worldSize);
  const localRank = e.LOCAL_RANK === undefined ? rank % localWorldSize : intVar(e, 'LOCAL_RANK', 0, localWorldSize - 1);
  const masterPort = intVar(e, 'MASTER_PORT', 1, 65535);
  const masterAddr = e.MASTER_ADDR!.trim();
  return { rank, worldSize, localRank, localWorldSize, masterAddr, masterPort };
}
