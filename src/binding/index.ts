// Loads the native addon (build/graft.node) and types its surface. Only src/tensor/ imports this.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BindingError } from '../errors.ts';
import { type MallocSetting, mallocSettingFromEnv } from './malloc.ts';

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
  // libgomp reads this when libtorch loads. Its default spinning wait made a mobilenet_v2
  // forward 10x slower whenever another process (or Node's own threads) wanted the cores;
  // passive waiting cost nothing measurable alone and kept it flat under contention.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  const malloc = mallocSettingFromEnv(process.env);
  let mod: Native;
  try {
    mod = createRequire(import.meta.url)(addonPath) as Native;
  } catch (e) {
    const msg = (e as Error).message;
    const hint = /lib(torch|c10)[^ ]*\.so/.test(msg)
      ? 'libtorch moved or was removed since the build: run `npx graft setup` again'
      : 'rebuild with `npx graft setup`';
    throw new BindingError(`cannot load ${addonPath}: ${msg}`, hint);
  }
  // before the first tensor, so no training buffer is ever allocated under the old thresholds
  if (malloc.mode === 'training') mod.configureMalloc(malloc.mmapThreshold, malloc.trimThreshold, malloc.mmapMax);
  mallocMode = malloc.mode;
  const threads = Number(process.env.GRAFT_NUM_THREADS) || availableParallelism();
  mod.setNumThreads(threads);
  return mod;
}

let mallocMode: MallocSetting['mode'] = 'default';
export const native: Native = load();
/** The GRAFT_MALLOC mode the addon was loaded with. */
export const loadedMallocMode = (): MallocSetting['mode'] => mallocMode;
