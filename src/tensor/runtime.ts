// Process-wide settings: threads, seeding, devices, version.

import {
  type LoadSetup,
  loadedMallocMode,
  loadSetup,
  type NativeAllocatorStats,
  type NativeArenaStats,
  type NativeMallocInfo,
  type NativeSmallCacheStats,
} from '../binding/index.ts';
import { ArgumentError } from '../errors.ts';
import { native } from './_core.ts';

/**
 * Threads libtorch uses for intra-op parallelism (default: GRAFT_NUM_THREADS, else the fewest of the
 * CPUs this process may use, their physical cores and the container's CPU quota).
 */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new ArgumentError(`setNumThreads(${n}): need an integer >= 1`);
  native.setNumThreads(n);
}
export const getNumThreads = (): number => native.getNumThreads();
/** Seeds libtorch's CPU and CUDA generators (torch.manual_seed). */
export function manualSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0) throw new ArgumentError(`manualSeed(${seed}): need an integer >= 0`);
  native.manualSeed(seed);
}
export const cuda = {
  isAvailable: (): boolean => native.cudaDeviceCount() > 0,
  deviceCount: (): number => native.cudaDeviceCount(),
};
export const torchVersion = (): string => native.version();
export const parallelInfo = (): string => native.parallelInfo();
/**
 * How malloc is set up (GRAFT_MALLOC): mode `training` raised glibc's mmap and trim thresholds at load
 * so tensor buffers stay in the heap between steps; `default` left malloc alone. Thresholds are as
 * applied (-1: glibc's default); the byte counters are glibc's mallinfo2 now.
 */
export const mallocInfo = (): NativeMallocInfo & { mode: 'training' | 'default' } => ({
  mode: loadedMallocMode(),
  ...native.mallocInfo(),
});
/**
 * graft's caching CPU allocator (GRAFT_ALLOCATOR=caching): freed tensor buffers are kept by size for the
 * next step instead of going back to the OS. Counters since load; all 0 unless it is in use.
 */
export const allocatorStats = (): NativeAllocatorStats => native.allocatorStats();
/**
 * graft's arena (GRAFT_ALLOCATOR=arena, the default): tensor buffers of at least minBytes (64 KiB) live in
 * an address range of their own, reused best-fit with free neighbours merged, and keep their pages
 * between steps. `freeBytes` is memory kept for reuse; emptyCache() releases it.
 */
export const arenaStats = (): NativeArenaStats => native.arenaStats();
/**
 * The small-block allocator (always on unless GRAFT_SMALL_CACHE=0): tensor buffers up to 16 KiB come
 * from per-thread free lists; each thread keeps at most capBytes of freed ones. Counters since load,
 * summed over the threads that keep a cache.
 */
export const smallCacheStats = (): NativeSmallCacheStats => native.smallCacheStats();
/**
 * Gives memory kept for the next step back: the caching allocator's and the small-block allocator's
 * free buffers to malloc (other threads' small caches at their next tensor), the arena's free pages and
 * malloc's free heap to the OS (malloc_trim; GRAFT_MALLOC=training otherwise keeps it). Returns the
 * bytes released here.
 */
export const emptyCache = (): number => native.emptyCache();
/** What runtimeSettings() reports. */
export interface RuntimeSettings {
  malloc: LoadSetup['malloc'];
  allocator: LoadSetup['allocator'] & { active: boolean };
  omp: { waitPolicy?: string; spinCount?: string; from: 'graft' | 'environment' };
  threads: LoadSetup['threads'] & { current: number };
}
/** How this process set up libtorch at load: malloc, CPU allocator, OpenMP wait, threads and why (graft doctor prints it). */
export function runtimeSettings(): RuntimeSettings {
  const s = loadSetup();
  return {
    malloc: s.malloc,
    allocator: {
      ...s.allocator,
      active:
        s.allocator.mode === 'arena'
          ? native.arenaStats().active
          : s.allocator.mode === 'caching'
            ? native.allocatorStats().caching
            : !native.arenaStats().active && !native.allocatorStats().caching,
    },
    omp: { waitPolicy: s.omp.waitPolicy, spinCount: s.omp.spinCount, from: s.omp.from },
    threads: { ...s.threads, current: native.getNumThreads() },
  };
}
/** Tensors currently held by JS handles (for leak checks). */
export const liveTensors = (): number => native.liveTensors();
