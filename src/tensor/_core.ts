// The one place that calls the addon's op dispatcher: op lookup, error mapping, scopes.
import { type Handle, native } from '../binding/index.ts';
import { ArgumentError, DisposedError, GraftError, TorchError } from '../errors.ts';

export type { Handle };
export { native };

/** Maps an addon exception to graft's coded errors; the process keeps running. */
export function mapError(e: unknown): Error {
  if (e instanceof GraftError || !(e instanceof Error)) return e as Error;
  const code = (e as { code?: string }).code;
  if (code === 'GRAFT_TORCH') {
    const op = /^(aten::[\w.]+)/.exec(e.message)?.[1] ?? 'libtorch';
    return new TorchError(op, e.message);
  }
  if (code === 'GRAFT_DISPOSED') return new DisposedError();
  if (code === 'GRAFT_ARGS' || code === 'GRAFT_TYPE' || code === 'GRAFT_SHAPE') return new ArgumentError(e.message);
  if (code === 'GRAFT_NO_OP' || code === 'GRAFT_NATIVE') return new GraftError(code, e.message);
  return e;
}

export interface OpRef {
  id: number;
  /** the op writes its first argument and returns it: callers return `this` */
  inplace: boolean;
  name: string;
  /** per schema argument: 1 Tensor, 2 Tensor list, 0 other */
  argKinds: number[];
}

const cache = new Map<string, OpRef>();

/** Looks an ATen op up once, by name and overload (`op('aten::add', 'Tensor')`). */
export function op(name: string, overload = ''): OpRef {
  const key = `${name}.${overload}`;
  let ref = cache.get(key);
  if (!ref) {
    try {
      const [id, inplace, argKinds] = native.opFind(name, overload);
      ref = { id, inplace, name: key, argKinds };
    } catch (e) {
      throw mapError(e);
    }
    cache.set(key, ref);
  }
  return ref;
}

/** Runs a native call, turning its exceptions into graft's coded errors. */
export function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw mapError(e);
  }
}

/**
 * Sees every op call (its ref, raw arguments and raw result) while set: the ONNX exporter's
 * trace of a forward (tensor/trace.ts). Off, it costs one variable check per call.
 */
export type OpTracer = (ref: OpRef, args: unknown[], result: unknown) => void;
let opTracer: OpTracer | undefined;

/** Installs (or with undefined removes) the op tracer; returns the one it replaces. */
export function setOpTracer(t: OpTracer | undefined): OpTracer | undefined {
  const old = opTracer;
  opTracer = t;
  return old;
}

/** Calls an op with raw values (handles, numbers, arrays) in schema order. */
export function callRaw(ref: OpRef, ...args: unknown[]): any {
  let r: any;
  try {
    r = native.opCall(ref.id, ...args);
  } catch (e) {
    throw mapError(e);
  }
  if (opTracer !== undefined) opTracer(ref, args, r);
  return r;
}

/**
 * A caller for one op, resolved on first use and kept in a closure: hot paths skip the
 * name lookup. Arguments are raw values in schema order.
 */
export function defOp(name: string, overload = ''): (...args: unknown[]) => any {
  let ref: OpRef | undefined;
  return (...args: unknown[]) => {
    ref ??= op(name, overload);
    let r: any;
    try {
      r = native.opCall(ref.id, ...args);
    } catch (e) {
      throw mapError(e);
    }
    if (opTracer !== undefined) opTracer(ref, args, r);
    return r;
  };
}

// Fast paths: the hot ops have fixed-arity native entries (native/fast_*.cc) that call the same
// ATen op through its typed C++ function, without opCall's per-argument schema conversion and
// boxing. They take the same raw arguments in schema order as opCall, so callers swap one for the
// other. While an op tracer is installed, or with GRAFT_FAST_OPS=0, calls take the boxed route.
const fastOn = process.env.GRAFT_FAST_OPS !== '0';

/**
 * A caller for op `name`.`overload` through its fast native entry `fn` (undefined: an addon built
 * without it), falling back to the boxed op where the fast path does not apply.
 */
export function defFast(
  name: string,
  overload: string,
  fn: ((...args: any[]) => any) | undefined,
): (...args: unknown[]) => any {
  const boxed = defOp(name, overload);
  if (!fastOn || fn === undefined) return boxed;
  return (...args: unknown[]) => {
    if (opTracer !== undefined) return boxed(...args);
    try {
      return fn(...args);
    } catch (e) {
      throw mapError(e);
    }
  };
}

/** The full schema text of an op, as libtorch registers it. */
export function schemaOf(name: string, overload = ''): string {
  return native.opSchema(op(name, overload).id);
}

// ---- lifetime: scopes and the finalizer ----
// Tensors created inside tidy() are freed at its end unless returned or kept. Only tensors
// that live outside every scope are registered with the FinalizationRegistry (0.13 us each
// plus GC work): inside tidy(), the hot path of a training step, nothing is registered.
// Nor are their bytes reported to V8 as external memory: GC cannot free them, and counting a
// ResNet-18 step's activations made V8 run a major GC every step, its marking threads taking
// cores from libtorch's. A tensor that leaves the scopes for the finalizer is reported then.

export interface Disposable {
  readonly h: Handle;
  dispose(): void;
  /** forgets the handle without freeing it (the caller frees it); undefined if already disposed */
  releaseHandle(): Handle | undefined;
}

// A collection finalizes thousands of tensors at once: their handles are gathered and freed in one
// native call after the finalizers ran (a microtask), not one call each. That frees them in a tight
// loop, which glibc serves faster too: a loop of small ops outside tidy() took 2.0-2.3 us per op
// instead of 2.4-3.3, GC and frees counted. A stale handle in the batch (disposed meanwhile, its slot
// reused) is ignored natively, as it was one at a time.
let pendingFree: Handle[] = [];
const flushFree = () => {
  const hs = pendingFree;
  pendingFree = [];
  native.disposeMany(hs);
};
const finalizer = new FinalizationRegistry<Handle>((h) => {
  if (pendingFree.push(h) === 1) queueMicrotask(flushFree);
});
const scopes: Disposable[][] = [];

export function track(t: Disposable, h: Handle): void {
  const top = scopes[scopes.length - 1];
  if (top !== undefined) top.push(t);
  else finalizer.register(t, h);
}

/** Takes a tensor out of the enclosing scopes: from now on only GC or dispose() frees it. */
export function untrack(t: Disposable): void {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const s = scopes[i]!;
    const at = s.lastIndexOf(t);
    if (at >= 0) {
      s.splice(at, 1);
      finalizer.register(t, t.h);
      native.reportExternal(t.h);
      return;
    }
  }
}

export function pushScope(): void {
  if (scopes.length === 0) native.setExternalReporting(false);
  scopes.push([]);
}

/** Ends the innermost scope: disposes what it tracked except `keep`, which moves to the parent. */
export function popScope(keep: Set<Disposable>): void {
  const s = scopes.pop();
  if (!s) throw new ArgumentError('popScope without a matching pushScope');
  const parent = scopes[scopes.length - 1];
  const free: Handle[] = [];
  const keeps = keep.size !== 0; // most scopes keep nothing: no set lookup per tensor
  try {
    for (const t of s) {
      if (!keeps || !keep.has(t)) {
        const h = t.releaseHandle();
        if (h !== undefined) free.push(h);
      } else if (parent) parent.push(t);
      else {
        finalizer.register(t, t.h);
        native.reportExternal(t.h);
      }
    }
    // one native call for the whole scope, before reporting is back on: freeing what the scope made
    // needs no heap sample per tensor
    if (free.length) native.disposeMany(free);
  } finally {
    if (!parent) native.setExternalReporting(true);
  }
}

export const scopeDepth = (): number => scopes.length;
