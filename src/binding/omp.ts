// How libtorch's OpenMP threads (GNU libgomp) wait for work between parallel regions. libgomp reads
// OMP_WAIT_POLICY and GOMP_SPINCOUNT once, when libtorch loads, so graft sets them just before and
// takes its own values out of process.env again right after: a child process (a PyTorch script, a
// shell command) then starts with its own defaults, not graft's.
//   no policy (libgomp's default: 300,000 spins, then sleep) or ACTIVE (spin for good): idle threads
//     burn their core; under load from other processes they take the CPU the working threads need
//     (PyTorch fell to 4-17 img/s on ResNet-18 where graft kept 18-37);
//   PASSIVE - threads sleep at once: each parallel region pays a futex wake per thread (~830
//     voluntary context switches per ResNet-18 step): 10-25 % slower than a short spin when idle;
//   a short spin (GRAFT_OMP_SPIN=N, graft's default 1,000) - threads spin N iterations (a pause
//     instruction each: 5-100 ns by CPU, ~90 ns where measured), then sleep. Measured per ResNet-18
//     step (ms, 2 threads, 2 cores): idle 188 vs PASSIVE's 209-249; beside 2 busy processes 533-737
//     vs PASSIVE's 584-810; 5,000 spins already fell to 1077 there.
import { ArgumentError } from '../errors.ts';

/** spins before an idle OpenMP thread sleeps (GOMP_SPINCOUNT) unless GRAFT_OMP_SPIN says otherwise */
export const DEFAULT_SPIN = 1000;

export interface OmpSetting {
  /** OMP_WAIT_POLICY in effect for libgomp (undefined: libgomp's default) */
  waitPolicy?: string;
  /** GOMP_SPINCOUNT in effect for libgomp (undefined: libgomp's default) */
  spinCount?: string;
  /** 'environment': the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT, graft left both alone */
  from: 'graft' | 'environment';
  /** the variables graft put in process.env for libgomp to read (removed again after the load) */
  added: Record<string, string>;
}

/**
 * Reads GRAFT_OMP_SPIN (a count: GOMP_SPINCOUNT=count, default DEFAULT_SPIN; `passive`:
 * OMP_WAIT_POLICY=PASSIVE) unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT, which then win.
 */
export function ompSettingFromEnv(env: Record<string, string | undefined>): OmpSetting {
  if (env.OMP_WAIT_POLICY || env.GOMP_SPINCOUNT)
    return { waitPolicy: env.OMP_WAIT_POLICY, spinCount: env.GOMP_SPINCOUNT, from: 'environment', added: {} };
  const spin = (env.GRAFT_OMP_SPIN ?? '').trim().toLowerCase();
  if (spin === 'passive') return { waitPolicy: 'PASSIVE', from: 'graft', added: { OMP_WAIT_POLICY: 'PASSIVE' } };
  const n = spin === '' ? DEFAULT_SPIN : Number(spin);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ArgumentError(
      `GRAFT_OMP_SPIN=${env.GRAFT_OMP_SPIN}: expected a spin count (0 or more) or passive`,
      `e.g. GRAFT_OMP_SPIN=passive on a machine crowded with other jobs; unset it for graft's default (${DEFAULT_SPIN})`,
    );
  return { spinCount: String(n), from: 'graft', added: { GOMP_SPINCOUNT: String(n) } };
}
