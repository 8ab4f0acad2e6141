// Loads the native addon (build/graft.node) and types its surface. Only src/tensor/ imports this.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BindingError } from '../errors.ts';
import { chooseThreads, type ThreadChoice, usableMemory } from './machine.ts';
import {
  type AllocatorSetting,
  allocatorSettingFromEnv,
  type MallocSetting,
  mallocSettingFromEnv,
  smallCacheFromEnv,
} from './malloc.ts';
import { type OmpSetting, ompSettingFromEnv } from './omp.ts';

/** A native tensor handle: a number naming a slot (and its generation) in the addon's tensor table. */
export type Handle = number & { readonly __handle: unique symbol };

export interface Native {
  /** argKinds: 1 = Tensor, 2 = Tensor list, 0 = anything else */
  opFind(name: string, overload: string): [id: number, inplaceSelf: boolean, argKinds: number[]];
  opCall(id: number, ...args: unknown[]): any;
  opSchema(id: number): string;
  listOps(): string[];
  fromBuffer(bytes: ArrayBufferView | ArrayBuffer, shape: number[], dtypeCode: number): Handle;
  toBuffer(h: Handle): ArrayBuffer;
  shape(h: Handle): number[];
  strides(h: Handle): number[];
  dtype(h: Handle): number;
  device(h: Handle): string;
  item(h: Handle): number | boolean;
  dispose(h: Handle): void;
  disposeMany(hs: Handle[]): void;
  isDisposed(h: Handle): boolean;
  liveTensors(): number;
  /** whether new handles are reported to V8 as external memory (off inside tidy scopes) */
  setExternalReporting(on: boolean): void;
  /** reports a live handle's bytes to V8 (once) */
  reportExternal(h: Handle): void;
  sameTensor(a: Handle, b: Handle): boolean;
  dataPtr(h: Handle): number;
  requiresGrad(h: Handle): boolean;
  setRequiresGrad(h: Handle, v: boolean): void;
  grad(h: Handle): Handle | undefined;
  setGrad(h: Handle, g: Handle | undefined): void;
  isLeaf(h: Handle): boolean;
  gradFnName(h: Handle): string | undefined;
  retainGrad(h: Handle): void;
  backward(
    outputs: Handle[],
    grads?: (Handle | undefined)[],
    retainGraph?: boolean,
    createGraph?: boolean,
    inputs?: Handle[],
  ): void;
  autogradGrad(
    outputs: Handle[],
    inputs: Handle[],
    gradOutputs?: (Handle | undefined)[],
    retainGraph?: boolean,
    createGraph?: boolean,
    allowUnused?: boolean,
  ): (Handle | undefined)[];
  setNumThreads(n: number): void;
  getNumThreads(): number;
  manualSeed(seed: number): void;
  setGradEnabled(enabled: boolean): boolean;
  isGradEnabled(): boolean;
  setAutocast(device: 'cpu' | 'cuda', enabled: boolean, dtypeCode: number): [boolean, number];
  autocastNest(enter: boolean): number;
  cudaDeviceCount(): number;
  version(): string;
  parallelInfo(): string;
  /** mallopt each value that is >= 0; false where malloc is not glibc's */
  configureMalloc(mmapThreshold: number, trimThreshold: number, mmapMax: number): boolean;
  mallocInfo(): NativeMallocInfo;
  /** makes graft's caching allocator libtorch's CPU allocator (alloc.cc); true when it is in effect */
  useCachingAllocator(capBytes: number, minBytes: number): boolean;
  /** makes graft's arena libtorch's CPU allocator (alloc_arena.cc); false when no address range could be reserved */
  useArenaAllocator(minBytes: number, trimBytes: number): boolean;
  arenaStats(): NativeArenaStats;
  /** returns the caching allocator's free blocks to malloc, the arena's free pages and glibc's free heap to the OS */
  emptyCache(): number;
  allocatorStats(): NativeAllocatorStats;
  /** the per-thread bound on free small tensor buffers kept for reuse (alloc_small.cc); 0 turns it off */
  setSmallCache(capBytes: number): void;
  smallCacheStats(): NativeSmallCacheStats;
  /** makes `count` small tensors on a new thread and frees them here, then the other way round; true or throws */
  smallCacheThreadCheck(count: number, bytes: number): boolean;
}

/** The small-block allocator's state (alloc_small.cc), summed over the threads that keep a cache. */
export interface NativeSmallCacheStats {
  /** most free bytes one thread keeps (GRAFT_SMALL_CACHE); 0: off */
  capBytes: number;
  /** the largest buffer it serves; larger ones go to malloc or the caching allocator */
  maxBlockBytes: number;
  /** threads with a cache (those that allocated or freed a small buffer) */
  threads: number;
  cachedBytes: number;
  cachedBlocks: number;
  /** requests served from a free list / from malloc; frees that went to free() at the cap */
  hits: number;
  misses: number;
  overflows: number;
}

/** The caching CPU allocator's state (alloc.cc); all 0 and caching false while it is not in use. */
export interface NativeAllocatorStats {
  caching: boolean;
  capBytes: number;
  minBytes: number;
  /** freed blocks kept for reuse */
  cachedBytes: number;
  cachedBlocks: number;
  /** blocks the cache handed out and not yet freed, and their peak */
  liveBytes: number;
  peakBytes: number;
  /** requests served from the cache / sent to malloc; frees over the cap; blocks given back by emptyCache */
  hits: number;
  misses: number;
  overflows: number;
  emptied: number;
}

/** The arena's state (alloc_arena.cc); active false while another allocator is in use. */
export interface NativeArenaStats {
  active: boolean;
  /** address space reserved (not memory); the used part (up to the highest block); the part made writable */
  reservedBytes: number;
  usedBytes: number;
  committedBytes: number;
  /** blocks in use and their peak; free blocks inside the used part */
  liveBytes: number;
  peakBytes: number;
  freeBytes: number;
  freeBlocks: number;
  minBytes: number;
  trimBytes: number;
  /** requests served from a free block / by growing the used part / by posix_memalign (no room); free tops handed back */
  reuses: number;
  grows: number;
  fallbacks: number;
  trims: number;
}

/** The thresholds configureMalloc applied (-1: glibc's default) and mallinfo2's counters. */
export interface NativeMallocInfo {
  glibc: boolean;
  mmapThreshold: number;
  trimThreshold: number;
  mmapMax: number;
  heapBytes: number;
  mmapBytes: number;
  mmapBlocks: number;
  freeBytes: number;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const addonPath = join(root, 'build', 'graft.node');

function load(): Native {
  if (!existsSync(addonPath)) {
    throw new BindingError(
      `the native addon is not built (${addonPath} is missing)`,
      'run `npx graft setup`: it finds libtorch and builds the addon (npm skipped it, or found no ' +
        'libtorch when installing); `npx graft doctor` says what is missing',
    );
  }
  // libgomp reads its wait policy when libtorch loads (omp.ts says why a short spin); graft's own
  // values leave process.env again after the load, so child processes start with their defaults
  const omp = ompSettingFromEnv(process.env);
  const malloc = mallocSettingFromEnv(process.env);
  const allocator = allocatorSettingFromEnv(process.env, usableMemory());
  const smallCache = smallCacheFromEnv(process.env);
  Object.assign(process.env, omp.added);
  let mod: Native;
  try {
    mod = createRequire(import.meta.url)(addonPath) as Native;
  } catch (e) {
    const msg = (e as Error).message;
    const hint = /lib(torch|c10)[^ ]*\.so/.test(msg)
      ? 'libtorch moved or was removed since the build: run `npx graft setup` again'
      : 'rebuild with `npx graft setup`';
    throw new BindingError(`cannot load ${addonPath}: ${msg}`, hint);
  } finally {
    for (const k of Object.keys(omp.added)) delete process.env[k];
  }
  // before the first tensor, so no training buffer is ever allocated under the old thresholds
  if (malloc.mode === 'training') mod.configureMalloc(malloc.mmapThreshold, malloc.trimThreshold, malloc.mmapMax);
  if (allocator.mode === 'caching') mod.useCachingAllocator(allocator.capBytes, allocator.minBytes);
  if (allocator.mode === 'arena') mod.useArenaAllocator(allocator.minBytes, allocator.trimBytes);
  mod.setSmallCache(smallCache);
  const threads = chooseThreads(process.env);
  mod.setNumThreads(threads.threads);
  setup = { malloc, allocator, omp, threads };
  return mod;
}

/** What the addon was loaded with: malloc thresholds, CPU allocator, OpenMP wait, thread count. */
export interface LoadSetup {
  malloc: MallocSetting;
  allocator: AllocatorSetting;
  omp: OmpSetting;
  threads: ThreadChoice;
}
let setup: LoadSetup | undefined;
export const native: Native = load();
/** The settings the addon was loaded with. */
export const loadSetup = (): LoadSetup => setup!;
/** The GRAFT_MALLOC mode the addon was loaded with. */
export const loadedMallocMode = (): MallocSetting['mode'] => setup!.malloc.mode;
