// How graft sets up glibc's malloc when the addon loads (GRAFT_MALLOC and its tuning variables).
// Under glibc's defaults every large tensor buffer freed at the end of a training step goes back to
// the OS and the next step page-faults it in again; raising the mmap and trim thresholds keeps it in
// the heap. The cost is memory: the process keeps its peak heap instead of shrinking between steps.
import { ArgumentError } from '../errors.ts';

export type MallocMode = 'training' | 'default';

export interface MallocSetting {
  mode: MallocMode;
  /** bytes from which a buffer gets its own mmap (-1: glibc's dynamic default, 128 KiB rising to 32 MiB) */
  mmapThreshold: number;
  /** free bytes at the heap's top before glibc returns them to the OS (-1: glibc's 128 KiB) */
  trimThreshold: number;
  /** most buffers mmapped at once; 0 puts even buffers above 32 MiB in the heap (-1: glibc's 65536) */
  mmapMax: number;
}

const MiB = 1024 * 1024;
/** glibc refuses a larger mmap threshold on 64-bit (HEAP_MAX_SIZE / 2) */
export const MAX_MMAP_THRESHOLD = 32 * MiB;
// mmapMax 0: glibc cannot keep a buffer above 32 MiB out of mmap any other way, and a ResNet-18 step
// on 16 images of 224x224 (a 49 MiB first activation) still faulted 40k pages a step without it
export const TRAINING: Omit<MallocSetting, 'mode'> = {
  mmapThreshold: 32 * MiB,
  trimThreshold: 1024 * MiB,
  mmapMax: 0,
};
const UNTOUCHED: Omit<MallocSetting, 'mode'> = { mmapThreshold: -1, trimThreshold: -1, mmapMax: -1 };

const UNITS: Record<string, number> = { '': 1, k: 1024, m: MiB, g: 1024 * MiB };

function size(name: string, text: string | undefined, max: number, what = 'bytes'): number | undefined {
  if (text === undefined || text === '') return undefined;
  const m = /^(\d+)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  const bytes = m ? Number(m[1]) * UNITS[m[2]!.toLowerCase()]! : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes > max)
    throw new ArgumentError(
      `${name}=${text}: expected a number from 0 to ${max} ${what}`,
      `write a plain number or one with K, M or G (e.g. ${name}=16M), or unset ${name}`,
    );
  return bytes;
}

/** Reads GRAFT_MALLOC (training | default; unset = training) and the GRAFT_MALLOC_* tuning variables. */
export function mallocSettingFromEnv(env: Record<string, string | undefined>): MallocSetting {
  const mode = (env.GRAFT_MALLOC || 'training').trim().toLowerCase();
  if (mode === 'default') return { mode, ...UNTOUCHED };
  if (mode !== 'training')
    throw new ArgumentError(
      `GRAFT_MALLOC=${env.GRAFT_MALLOC}: expected training or default`,
      'GRAFT_MALLOC=default leaves glibc malloc as it is; unset it for the training setup',
    );
  return {
    mode,
    mmapThreshold:
      size('GRAFT_MALLOC_MMAP_THRESHOLD', env.GRAFT_MALLOC_MMAP_THRESHOLD, MAX_MMAP_THRESHOLD) ??
      TRAINING.mmapThreshold,
    trimThreshold:
      size('GRAFT_MALLOC_TRIM_THRESHOLD', env.GRAFT_MALLOC_TRIM_THRESHOLD, 2 ** 31 - 1) ?? TRAINING.trimThreshold,
    mmapMax: size('GRAFT_MALLOC_MMAP_MAX', env.GRAFT_MALLOC_MMAP_MAX, 2 ** 31 - 1, 'buffers') ?? TRAINING.mmapMax,
  };
}
