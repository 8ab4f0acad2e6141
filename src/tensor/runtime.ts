// Process-wide settings: threads, seeding, devices, version.

import { loadedMallocMode, type NativeMallocInfo } from '../binding/index.ts';
import { ArgumentError } from '../errors.ts';
import { native } from './_core.ts';

/** Threads libtorch uses for intra-op parallelism (default: the machine's cores, or GRAFT_NUM_THREADS). */
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
/** Tensors currently held by JS handles (for leak checks). */
export const liveTensors = (): number => native.liveTensors();
