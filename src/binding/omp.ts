// How libtorch's OpenMP threads (GNU libgomp) wait for work between parallel regions. libgomp reads
// OMP_WAIT_POLICY and GOMP_SPINCOUNT once, when libtorch loads, so graft sets them just before and
// takes its own values out of process.env again right after: a child process (a PyTorch script, a
// shell command) then starts with its own defaults, not graft's.
//   no policy (libgomp's default: 300,000 spins, then sleep) or ACTIVE (spin for good): idle threads
//     burn their core; under load from other processes they take the CPU the working threads need
//     (PyTorch fell to 4-17 img/s on ResNet-18 where graft kept 18-37);
//   PASSIVE (graft's default) - threads sleep at once: each parallel region pays a futex wake per
//     thread (~850 voluntary context switches per ResNet-18 step), measured at 7-13 % of a step on an
//     idle machine, and steady under load;
//   a short spin (GRAFT_OMP_SPIN=N) - threads spin N iterations (a pause instruction each: 5-100 ns
//     by CPU, ~90 ns on the EPYC it was measured on), then sleep. On a machine busy with other jobs
//     1,000 spins (~90 us) already ran 1.2x and 5,000 1.6x slower than PASSIVE per step, so PASSIVE
//     stays the default; on a machine of its own a short spin can win back PASSIVE's cost
//     (bench/alloc.ts measures both; docs/performance.md says how).
import { ArgumentError } from '../errors.ts';

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
 * Reads GRAFT_OMP_SPIN (unset or `passive`: OMP_WAIT_POLICY=PASSIVE; a count: GOMP_SPINCOUNT=count with
 * libgomp's default policy) unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT, which then win.
 */
export function ompSettingFromEnv(env: Record<string, string | undefined>): OmpSetting {
  if (env.OMP_WAIT_POLICY || env.GOMP_SPINCOUNT)
    return { waitPolicy: env.OMP_WAIT_POLICY, spinCount: env.GOMP_SPINCOUNT, from: 'environment', added: {} };
  const spin = (env.GRAFT_OMP_SPIN ?? '').trim().toLowerCase();
  if (spin === '' || spin === 'passive')
    return { waitPolicy: 'PASSIVE', from: 'graft', added: { OMP_WAIT_POLICY: 'PASSIVE' } };
  const n = Number(spin);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ArgumentError(
      `GRAFT_OMP_SPIN=${env.GRAFT_OMP_SPIN}: expected a spin count (0 or more) or passive`,
      "e.g. GRAFT_OMP_SPIN=2000 on a machine of its own; unset it for PASSIVE (graft's default)",
    );
  return { spinCount: String(n), from: 'graft', added: { GOMP_SPINCOUNT: String(n) } };
}
