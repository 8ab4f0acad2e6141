// DataParallel: torch.nn.parallel.DistributedDataParallel's semantics on a graft Module, without
// wrapping it (the model keeps its own parameter names, its checkpoints stay as they were).
// Gradients of trainable parameters are averaged by libtorch's c10d::Reducer: hooks on their
// gradient accumulators fill buckets, each bucket is allreduced as soon as it is full while
// backward goes on, and backward returns with the averaged gradients in .grad.
import { DistError } from '../errors.ts';
import type { Module, Parameter } from '../nn/index.ts';
import { dist, type NativeId } from '../tensor/dist_native.ts';
import { isGradEnabled, Tensor } from '../tensor/index.ts';
import { asDistError, distError, type ProcessGroup } from './process_group.ts';

export interface DataParallelOptions {
  /** bucket size for the gradient allreduce, in MiB (torch's bucket_cap_mb; default 25) */
  bucketCapMB?: number;
  /**
   * the first bucket's size once buckets are rebuilt in gradient order after the first step, in
   * MiB (torch.distributed._DEFAULT_FIRST_BUCKET_BYTES; default 1): the last layers' gradients
   * start their allreduce early
   */
  firstBucketMB?: number;
  /** broadcast rank 0's buffers (BatchNorm statistics) before each training forward (default true) */
  broadcastBuffers?: boolean;
  /** walk each output's graph to find parameters a forward did not use (default false) */
  findUnusedParameters?: boolean;
}

function tensorsIn(v: unknown, out: Tensor[] = [], seen = new Set<unknown>()): Tensor[] {
  if (v instanceof Tensor) out.push(v);
  else if (v && typeof v === 'object' && !seen.has(v)) {
    seen.add(v);
    const items = v instanceof Map ? v.values() : Array.isArray(v) ? v : Object.values(v);
    for (const x of items) tensorsIn(x, out, seen);
  }
  return out;
}

/**
 * Keeps `module` in step over the ranks of `pg`. After `await ddp.sync()` (rank 0's parameters
 * and buffers everywhere), train as in one process: each backward of a `module.call(...)` output
 * leaves every rank with the same averaged gradients. Frozen parameters are never communicated;
 * call `rebuild()` after freezing or unfreezing. While a collective runs inside backward (or the
 * buffer broadcast before forward) the JS thread waits, at most the group's timeout.
 */
export class DataParallel {
  readonly module: Module;
  readonly pg: ProcessGroup;
  readonly bucketCapMB: number;
  readonly firstBucketMB: number;
  readonly broadcastBuffers: boolean;
  readonly findUnusedParameters: boolean;
  #reducer: NativeId | undefined;
  #names: string[] = [];
  #synced = false;
  #requireBackwardSync = true;
  #requireForwardParamSync = true;
  #removeHooks: (() => void)[] = [];
  // inside run(): the module's own hooks stand aside
  #inRun = false;
  // synced forwards since the last checkBackward()
  #armed = 0;

  constructor(module: Module, pg: ProcessGroup, o: DataParallelOptions = {}) {
    this.module = module;
    this.pg = pg;
    this.bucketCapMB = o.bucketCapMB ?? 25;
    if (!(this.bucketCapMB > 0))
      throw new DistError('GRAFT_DIST', 'DataParallel', `bucketCapMB must be > 0, got ${this.bucketCapMB}`);
    this.firstBucketMB = o.firstBucketMB ?? 1;
    if (!(this.firstBucketMB > 0))
      throw new DistError('GRAFT_DIST', 'DataParallel', `firstBucketMB must be > 0, got ${this.firstBucketMB}`);
    this.broadcastBuffers = o.broadcastBuffers ?? true;
    this.findUnusedParameters = o.findUnusedParameters ?? false;
    this.#build();
    this.#removeHooks.push(
      module.registerForwardPreHook(() => {
        if (!this.#inRun) this.#beforeForward();
        return undefined;
      }),
      module.registerForwardHook((_m, _a, out) => {
        if (!this.#inRun) this.#afterForward(out);
        return undefined;
      }),
    );
  }

  /** Names of the parameters whose gradients are averaged (the trainable ones, at the last rebuild). */
  get reducedParameters(): string[] {
    return [...this.#names];
  }

  /** Whether the next backward averages gradients (false inside noSync). */
  get syncing(): boolean {
    return this.#requireBackwardSync;
  }

  #where(): string {
    return `on rank ${this.pg.rank} of ${this.pg.worldSize}`;
  }

  #build(): void {
    const trainable = [...this.module.namedParameters()].filter(([, p]) => p.requiresGrad);
    this.#names = trainable.map(([n]) => n);
    if (!trainable.length) return;
    const params: Parameter[] = trainable.map(([, p]) => p);
    try {
      this.#reducer = dist.reducerCreate(
        this.pg.id,
        params.map((p) => p.h),
        Math.max(1, Math.floor(this.bucketCapMB * 1024 * 1024)),
        this.findUnusedParameters,
        this.#names,
        Math.max(1, Math.floor(this.firstBucketMB * 1024 * 1024)),
      );
    } catch (e) {
      throw distError(e, 'DataParallel', this.#where(), this.pg.timeoutMs);
    }
  }

  #drop(): void {
    if (this.#reducer !== undefined) dist.reducerDestroy(this.#reducer);
    this.#reducer = undefined;
  }

  /** Broadcasts rank 0's parameters (all of them) and buffers to every rank. Call once before training. */
  async sync(): Promise<void> {
    const tensors = [...this.module.parameters(), ...this.module.buffers()];
    if (tensors.length) await this.pg.broadcast(tensors, 0);
    this.#synced = true;
  }

  /** Whether backward averages gradients (torch's require_backward_grad_sync). */
  requireSync(on: boolean): void {
    this.#requireBackwardSync = on;
  }

  /**
   * Runs `fn` (sync or async) with gradient averaging off: gradients accumulate locally, and the
   * next synced backward averages the accumulated sum (torch's no_sync()).
   */
  noSync<T>(fn: () => T): T {
    const before = this.#requireBackwardSync;
    this.#requireBackwardSync = false;
    let r: T;
    try {
      r = fn();
    } catch (e) {
      this.#requireBackwardSync = before;
      throw e;
    }
    if (r instanceof Promise) return r.finally(() => (this.#requireBackwardSync = before)) as T;
    this.#requireBackwardSync = before;
    return r;
  }

  /**
   * Rebuilds the reduction over the parameters trainable now: after a phase freezes or unfreezes
   * layers (a parameter that becomes trainable joins, a frozen one leaves). Every rank must call
   * it at the same point.
   */
  rebuild(): void {
    this.#drop();
    this.#build();
  }

  /**
   * Runs a forward that does not go through `module.call(...)` (one that calls the submodules
   * itself, e.g. layer by layer) as a DataParallel forward: what module.call's hooks do before
   * and after it happens around `fn`, whose result's tensors are the outputs.
   */
  run<T>(fn: () => T): T {
    if (this.#inRun) return fn();
    this.#beforeForward();
    this.#inRun = true;
    let out: T;
    try {
      out = fn();
    } finally {
      this.#inRun = false;
    }
    this.#afterForward(out);
    return out;
  }

  /**
   * Throws when gradients were to be averaged but no DataParallel forward ran since the last
   * check (a forward that called submodules directly: its backward averaged nothing). Call it
   * after each synced backward; a trainer's afterBackward is the place.
   */
  checkBackward(): void {
    const armed = this.#armed;
    this.#armed = 0;
    if (armed > 0 || !this.#requireBackwardSync || this.#reducer === undefined) return;
    throw new DistError(
      'GRAFT_DIST',
      'DataParallel backward',
      `backward ${this.#where()} ran without a DataParallel forward: its gradients were not averaged over the ranks`,
      'run the model as model.call(...), or wrap a forward that calls submodules itself in ddp.run(() => ...)',
    );
  }

  /**
   * A backward whose gradient allreduce failed (a rank exited or hung) throws from autograd:
   * this turns such an error into the DistError it is (GRAFT_DIST_PEER, GRAFT_DIST_TIMEOUT,
   * GRAFT_DIST_UNUSED), naming the rank that is gone when it can tell; any other error comes
   * back unchanged.
   */
  async toDistError(e: unknown): Promise<unknown> {
    const d = asDistError(e, this.pg);
    return d instanceof DistError ? this.pg.explain(d) : d;
  }

  /** Removes the hooks and the reducer; the module trains alone again. */
  dispose(): void {
    for (const r of this.#removeHooks.splice(0)) r();
    this.#drop();
  }

  // torch's DistributedDataParallel.forward, before the module runs
  #beforeForward(): void {
    if (!this.#synced)
      throw new DistError(
        'GRAFT_DIST',
        'DataParallel',
        `forward ${this.#where()} before ddp.sync(): the ranks may hold different parameters`,
        'await ddp.sync() once before training',
      );
    const grad = isGradEnabled();
    try {
      if (this.#reducer !== undefined && grad && this.#requireBackwardSync) {
        dist.reducerPrepareForward(this.#reducer);
      }
      if (this.#reducer !== undefined && grad) dist.reducerRebuildBuckets(this.#reducer);
      if (this.broadcastBuffers && this.#requireForwardParamSync) {
        const buffers = this.module.buffers();
        if (buffers.length)
          dist.distBroadcastSync(
            this.pg.id,
            buffers.map((b) => b.h),
            0,
          );
      }
    } catch (e) {
      throw this.#unusedError(e) ?? distError(e, 'DataParallel forward', this.#where(), this.pg.timeoutMs);
    }
  }

  // The reducer names the parameters that got no gradient by index: say their names.
  #unusedError(e: unknown): DistError | undefined {
    const m = /did not receive grad for rank \d+: ([\d ]+)/.exec(e instanceof Error ? e.message : '');
    if (!m) return undefined;
    const names = m[1]!
      .trim()
      .split(/\s+/)
      .map((i) => this.#names[Number(i)] ?? `#${i}`);
    return new DistError(
      'GRAFT_DIST_UNUSED',
      'DataParallel forward',
      `DataParallel forward ${this.#where()}: the last backward gave no gradient to ${names.join(', ')}; every reduced parameter must get one`,
      'pass findUnusedParameters: true when a forward may skip parameters, or freeze them (requiresGrad = false) and call ddp.rebuild()',
    );
  }

  #afterForward(out: unknown): void {
    if (isGradEnabled() && this.#requireBackwardSync) {
      this.#requireForwardParamSync = true;
      if (this.#reducer === undefined) return;
      const outputs = this.findUnusedParameters ? tensorsIn(out).map((t) => t.h) : [];
      this.#armed++;
      try {
        dist.reducerPrepareBackward(this.#reducer, outputs);
      } catch (e) {
        throw distError(e, 'DataParallel forward', this.#where(), this.pg.timeoutMs);
      }
    } else this.#requireForwardParamSync = false;
  }
}
