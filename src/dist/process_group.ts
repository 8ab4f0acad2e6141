// Process groups on PyTorch's c10d: a TCPStore rendezvous (rank 0 hosts it) and a Gloo group,
// with collectives that run on libuv worker threads and settle as Promises. Each rejects with a
// DistError naming the collective and this rank within the group timeout when a rank exits,
// hangs or never arrives: never a silent hang.
import { lookup } from 'node:dns/promises';
import { DistError } from '../errors.ts';
import { dist, type NativeId } from '../tensor/dist_native.ts';
import { Tensor } from '../tensor/index.ts';

export type Backend = 'gloo' | 'nccl';
export type ReduceOp = 'sum' | 'avg' | 'max' | 'min' | 'product';

export interface InitProcessGroupOptions {
  /** 'gloo' (CPU, default) or 'nccl' (CUDA; only where libtorch was built with it) */
  backend?: Backend;
  rank: number;
  worldSize: number;
  /** rank 0's address: it hosts the store every rank meets at */
  masterAddr: string;
  masterPort: number;
  /** how long a rendezvous or collective may wait for the other ranks (default 60 000 ms) */
  timeoutMs?: number;
}

/** The backends this build of libtorch has. */
export const availableBackends = (): Backend[] => dist.distBackends() as Backend[];

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|::1)$/;

/** Turns the addon's GRAFT_DIST rejection into a DistError with a code that says what happened. */
export function distError(e: unknown, op: string, where: string, timeoutMs: number): DistError {
  if (e instanceof DistError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown } | undefined)?.code;
  // a bad argument found before any communication keeps its own code
  if (typeof code === 'string' && code !== 'GRAFT_DIST' && code !== 'GRAFT_TORCH' && code !== 'GRAFT_NATIVE')
    return new DistError(code, op, `${op} ${where}: ${msg}`);
  if (/finished reduction|did not receive grad|mark a variable ready only once/i.test(msg))
    return new DistError(
      'GRAFT_DIST_UNUSED',
      op,
      `${op} ${where}: ${msg.split('\n')[0]}`,
      'a trainable parameter got no gradient in a backward: pass findUnusedParameters: true, or freeze it (requiresGrad = false) and call ddp.rebuild()',
    );
  if (/Address already in use/i.test(msg))
    return new DistError(
      'GRAFT_DIST_ADDRESS',
      op,
      `${op} ${where}: the master port is in use (${msg})`,
      'another process listens on that port: pick another MASTER_PORT (or --master HOST:PORT) or stop that process',
    );
  if (/Connection closed by peer|Connection reset|Broken pipe|ECONNRESET|EPIPE|connection refused/i.test(msg))
    return new DistError(
      'GRAFT_DIST_PEER',
      op,
      `${op} ${where}: another rank exited or lost its connection (${msg})`,
      "see the other ranks' output for why it stopped",
    );
  if (/timed? ?out|timeout/i.test(msg))
    return new DistError(
      'GRAFT_DIST_TIMEOUT',
      op,
      `${op} ${where}: no answer from the other ranks within ${timeoutMs} ms (${msg})`,
      'a rank is hung, never started, or is slower than the timeout: check every rank, or raise timeoutMs',
    );
  return new DistError('GRAFT_DIST', op, `${op} ${where}: ${msg}`);
}

// what c10d, Gloo and the reducer say when a collective fails inside another call (a backward)
const C10D_FAILURE =
  /gloo|c10d|Connection closed by peer|Connection reset|Broken pipe|Timed out waiting|Operation timed out|Socket Timeout|finished reduction|did not receive grad|mark a variable ready only once/i;

/**
 * A c10d failure that surfaced through another graft call (a backward whose gradient allreduce
 * failed: its error comes out of autograd as a plain GraftError) as a DistError naming `op` and
 * the rank; any other error unchanged.
 */
export function asDistError(e: unknown, pg: ProcessGroup, op = 'backward (gradient allreduce)'): unknown {
  // (sync, so no heartbeat look: `await pg.explain(err)` adds which rank is gone)
  if (e instanceof DistError || !(e instanceof Error) || !C10D_FAILURE.test(e.message)) return e;
  return distError(new Error(e.message), op, `on rank ${pg.rank} of ${pg.worldSize}`, pg.timeoutMs);
}

function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new DistError('GRAFT_DIST', 'init', `${name} must be a whole number from ${min} to ${max}, got ${String(v)}`);
  return v;
}

/** A group of `worldSize` processes that run collectives together. */
export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: Backend;
  readonly timeoutMs: number;
  #id: NativeId | undefined;

  /** @internal use initProcessGroup */
  constructor(
    id: NativeId,
    o: Required<Pick<InitProcessGroupOptions, 'rank' | 'worldSize' | 'backend' | 'timeoutMs'>>,
  ) {
    this.#id = id;
    this.rank = o.rank;
    this.worldSize = o.worldSize;
    this.backend = o.backend;
    this.timeoutMs = o.timeoutMs;
  }

  /** @internal the addon's id of this group (throws once destroyed) */
  get id(): NativeId {
    if (this.#id === undefined)
      throw new DistError('GRAFT_DIST', 'group', `the process group of rank ${this.rank} was destroyed`);
    return this.#id;
  }
  get destroyed(): boolean {
    return this.#id === undefined;
  }

  async #run<T>(op: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      throw await this.explain(distError(e, op, `on rank ${this.rank} of ${this.worldSize}`, this.timeoutMs));
    }
  }

  /**
   * Says which rank a failed collective lost: after a GRAFT_DIST_PEER or GRAFT_DIST_TIMEOUT
   * error, watches the ranks' heartbeats for about a second (a rank that exited has stopped; a
   * hung one still beats) and returns the error with that in its message and `ranks`. Other
   * errors come back as they are.
   */
  async explain(e: DistError): Promise<DistError> {
    if (e.ranks || this.#id === undefined || this.worldSize < 2) return e;
    if (e.code !== 'GRAFT_DIST_PEER' && e.code !== 'GRAFT_DIST_TIMEOUT') return e;
    // a store that no longer answers at all is bounded here, not by its own timeout
    const probe = await Promise.race([
      dist.distProbe(this.#id).catch(() => undefined),
      new Promise<undefined>((res) => setTimeout(() => res(undefined), 3000).unref()),
    ]);
    let found: string;
    let ranks: number[];
    if (!probe?.storeReachable) {
      ranks = this.rank === 0 ? [] : [0];
      found = this.rank === 0 ? 'the store does not answer' : 'rank 0 is gone (its store does not answer)';
    } else if (probe.stopped.length) {
      ranks = probe.stopped;
      found = `${probe.stopped.length > 1 ? 'ranks' : 'rank'} ${probe.stopped.join(', ')} ${probe.stopped.length > 1 ? 'are' : 'is'} gone (heartbeat stopped)`;
    } else {
      ranks = [];
      found = 'every rank still has a heartbeat: one is hung or slower than the timeout';
    }
    const message = e.hint ? e.message.slice(0, e.message.length - ` (hint: ${e.hint})`.length) : e.message;
    return new DistError(e.code, e.op, `${message}; ${found}`, e.hint, ranks);
  }

  /** Reduces each tensor over the ranks, in place ('avg': the sum divided by worldSize). */
  allreduce<T extends Tensor | Tensor[]>(ts: T, op: ReduceOp = 'sum'): Promise<T> {
    const list = Array.isArray(ts) ? ts : [ts];
    return this.#run('allreduce', async () => {
      await dist.distAllreduce(
        this.id,
        list.map((t) => t.h),
        op,
      );
      return ts;
    });
  }

  /** Overwrites each tensor with rank `root`'s, in place. */
  broadcast<T extends Tensor | Tensor[]>(ts: T, root = 0): Promise<T> {
    const list = Array.isArray(ts) ? ts : [ts];
    return this.#run('broadcast', async () => {
      await dist.distBroadcast(
        this.id,
        list.map((t) => t.h),
        root,
      );
      return ts;
    });
  }

  /** Every rank's `t` (same shape and dtype on each), in rank order: new tensors. */
  allgather(t: Tensor): Promise<Tensor[]> {
    return this.#run('allgather', async () => (await dist.distAllgather(this.id, t.h)).map((h) => new Tensor(h)));
  }

  /**
   * One input per rank (same shape and dtype); returns this rank's reduction of the inputs at its
   * index over the ranks, a new tensor. On Gloo (libtorch 1.13 has no Gloo reduce_scatter) it is
   * an allreduce of the stacked inputs: the same values, worldSize times the traffic.
   */
  reduceScatter(inputs: Tensor[], op: ReduceOp = 'sum'): Promise<Tensor> {
    return this.#run(
      'reduceScatter',
      async () =>
        new Tensor(
          await dist.distReduceScatter(
            this.id,
            inputs.map((t) => t.h),
            op,
          ),
        ),
    );
  }

  /** Resolves once every rank has reached it. */
  barrier(): Promise<void> {
    return this.#run('barrier', () => dist.distBarrier(this.id));
  }

  /** Leaves the group: later calls throw. Waits for collectives in flight (at most the timeout). */
  async destroy(): Promise<void> {
    const id = this.#id;
    if (id === undefined) return;
    this.#id = undefined;
    await dist.distDestroy(id);
  }
}

/**
 * Joins the group: rank 0 hosts a TCPStore on masterPort, every rank connects to
 * masterAddr:masterPort, then Gloo connects every pair. Resolves when all `worldSize` ranks are
 * in; rejects with a DistError (GRAFT_DIST_ADDRESS for a name that does not resolve or a port in
 * use, GRAFT_DIST_TIMEOUT when a rank does not arrive within timeoutMs).
 */
export async function initProcessGroup(o: InitProcessGroupOptions): Promise<ProcessGroup> {
  const backend = o.backend ?? 'gloo';
  const timeoutMs = o.timeoutMs ?? 60_000;
  const worldSize = checkInt('worldSize', o.worldSize, 1, 1 << 20);
  const rank = checkInt('rank', o.rank, 0, worldSize - 1);
  const port = checkInt('masterPort', o.masterPort, 1, 65535);
  checkInt('timeoutMs', timeoutMs, 1, 2 ** 31 - 1);
  if (backend !== 'gloo' && backend !== 'nccl')
    throw new DistError(
      'GRAFT_DIST',
      'init',
      `unknown backend '${String(backend)}'`,
      "use 'gloo' (CPU) or 'nccl' (CUDA)",
    );
  if (!availableBackends().includes(backend))
    throw new DistError(
      'GRAFT_DIST',
      'init',
      `backend '${backend}' is not in this libtorch (it has: ${availableBackends().join(', ')})`,
      "use backend 'gloo', or a libtorch built with CUDA and NCCL",
    );
  const host = String(o.masterAddr ?? '').trim();
  const where = `on rank ${rank} of ${worldSize} (master ${host}:${port})`;
  if (!host) throw new DistError('GRAFT_DIST_ADDRESS', 'init', `init ${where}: the master address is empty`);
  if (!LOOPBACK.test(host)) {
    try {
      await lookup(host);
    } catch (e) {
      throw new DistError(
        'GRAFT_DIST_ADDRESS',
        'init',
        `init ${where}: the master address '${host}' does not resolve (${(e as NodeJS.ErrnoException).code ?? e})`,
        "set MASTER_ADDR (or --master HOST:PORT) to rank 0's host name or IP address",
      );
    }
  }
  try {
    const id = await dist.distInit({ backend, rank, worldSize, host, port, timeoutMs });
    return new ProcessGroup(id, { rank, worldSize, backend, timeoutMs });
  } catch (e) {
    throw distError(e, 'init', where, timeoutMs);
  }
}
