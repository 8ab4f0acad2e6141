// The c10d part of the native addon (native/dist.cc, dist_reducer.cc, dist_syncbn.cc), typed: here because
// only src/tensor/ reaches the binding; src/dist/ builds process groups and DataParallel on it.
import { type Handle, native } from '../binding/index.ts';

export interface DistInitOptions {
  backend: string;
  rank: number;
  worldSize: number;
  host: string;
  port: number;
  timeoutMs: number;
}

/** A process group or reducer in the addon's tables. */
export type NativeId = number & { readonly __distId: unique symbol };

export interface DistNative {
  distBackends(): string[];
  distInit(o: DistInitOptions): Promise<NativeId>;
  distDestroy(g: NativeId): Promise<void>;
  distAllreduce(g: NativeId, ts: Handle[], op: string): Promise<void>;
  distBroadcast(g: NativeId, ts: Handle[], root: number): Promise<void>;
  distAllgather(g: NativeId, t: Handle): Promise<Handle[]>;
  distReduceScatter(g: NativeId, ts: Handle[], op: string): Promise<Handle>;
  distBarrier(g: NativeId): Promise<void>;
  /** which ranks' heartbeats stopped over about a second; storeReachable false when rank 0's store is gone */
  distProbe(g: NativeId): Promise<{ storeReachable: boolean; stopped: number[] }>;
  /** blocks the JS thread up to the group timeout: only for DataParallel's buffer sync in forward */
  distBroadcastSync(g: NativeId, ts: Handle[], root: number): void;
  /** training-mode batch norm over every rank's batch (allgather in forward, allreduce in backward) */
  distSyncBatchNorm(
    g: NativeId,
    input: Handle,
    weight: Handle | null,
    bias: Handle | null,
    runningMean: Handle | null,
    runningVar: Handle | null,
    momentum: number,
    eps: number,
  ): Handle;
  reducerCreate(
    g: NativeId,
    params: Handle[],
    bucketCapBytes: number,
    findUnused: boolean,
    names: string[],
    firstBucketBytes: number,
  ): NativeId;
  reducerPrepareForward(r: NativeId): void;
  reducerRebuildBuckets(r: NativeId): boolean;
  reducerPrepareBackward(r: NativeId, outputs: Handle[]): void;
  reducerDestroy(r: NativeId): void;
}

export const dist = native as unknown as DistNative;
