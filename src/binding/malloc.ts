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

/**
 * The CPU tensor allocator (GRAFT_ALLOCATOR): `arena` (the default: buffers of at least minBytes live in
 * one reserved address range of their own, best fit with free neighbours merged, so the small C++ objects
 * of autograd graphs never sit between them), `caching` (freed buffers of at least minBytes are kept by
 * size, up to capBytes, and handed out again) or `malloc` (libtorch's own: malloc/free per buffer).
 */
export interface AllocatorSetting {
  mode: 'arena' | 'caching' | 'malloc';
  /** caching: most bytes of freed buffers kept for reuse (GRAFT_ALLOCATOR_CAP) */
  capBytes: number;
  /** arena and caching: buffers smaller than this go to the small-block lists or malloc (GRAFT_ALLOCATOR_MIN) */
  minBytes: number;
  /** arena: a free top above this goes back to the OS (GRAFT_MALLOC_TRIM_THRESHOLD, as for glibc's heap) */
  trimBytes: number;
}

export const DEFAULT_ALLOCATOR_MIN = 64 * 1024;
/** the default cap: this fraction of the memory the process may use (the machine's, or its cgroup's) */
export const DEFAULT_CAP_FRACTION = 0.25;

/** The small-block allocator's default per-thread bound on free buffers (native/alloc_small.h). */
export const DEFAULT_SMALL_CACHE = MiB;

/**
 * Reads GRAFT_SMALL_CACHE: the most bytes of freed small tensor buffers (up to 16 KiB each) one
 * thread keeps for reuse; 0 turns the small-block allocator off (libtorch's posix_memalign per buffer).
 */
export function smallCacheFromEnv(env: Record<string, string | undefined>): number {
  return size('GRAFT_SMALL_CACHE', env.GRAFT_SMALL_CACHE, 1024 * MiB) ?? DEFAULT_SMALL_CACHE;
}

/**
 * Reads GRAFT_ALLOCATOR (arena | caching | malloc; unset = arena), GRAFT_ALLOCATOR_CAP, GRAFT_ALLOCATOR_MIN
 * and, for the arena's trim threshold, GRAFT_MALLOC_TRIM_THRESHOLD. The arena is the default: it serves a
 * training step's buffers without page faults as glibc's heap with raised thresholds does, merges free
 * memory across shapes that vary as that heap does (a size-keyed cache cannot), and, unlike that heap,
 * keeps memory flat in loops that leave their autograd graphs to the garbage collector
 * (docs/performance.md has the measurements).
 */
export function allocatorSettingFromEnv(
  env: Record<string, string | undefined>,
  memoryBytes: number,
): AllocatorSetting {
  const mode = (env.GRAFT_ALLOCATOR || 'arena').trim().toLowerCase();
  if (mode !== 'arena' && mode !== 'caching' && mode !== 'malloc')
    throw new ArgumentError(
      `GRAFT_ALLOCATOR=${env.GRAFT_ALLOCATOR}: expected arena, caching or malloc`,
      "unset GRAFT_ALLOCATOR for graft's default (arena); malloc gives every buffer to libtorch's own allocator",
    );
  const limit = Number.MAX_SAFE_INTEGER;
  return {
    mode,
    capBytes:
      size('GRAFT_ALLOCATOR_CAP', env.GRAFT_ALLOCATOR_CAP, limit) ?? Math.floor(memoryBytes * DEFAULT_CAP_FRACTION),
    minBytes: size('GRAFT_ALLOCATOR_MIN', env.GRAFT_ALLOCATOR_MIN, limit) ?? DEFAULT_ALLOCATOR_MIN,
    trimBytes:
      size('GRAFT_MALLOC_TRIM_THRESHOLD', env.GRAFT_MALLOC_TRIM_THRESHOLD, 2 ** 31 - 1) ?? TRAINING.trimThreshold,
  };
}
