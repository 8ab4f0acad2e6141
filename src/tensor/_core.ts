// The one place that calls the addon's op dispatcher: op lookup, error mapping, scopes.
import { type Handle, native } from '../binding/index.ts';
import { ArgumentError, DisposedError, GraftError, TorchError } from '../errors.ts';

export { native };
export type { Handle };

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
  if (code === 'GRAFT_NO_OP') return new GraftError(code, e.message);
  return e;
}

export interface OpRef {
  id: number;
  /** the op writes its first argument and returns it: callers return `this` */
  inplace: boolean;
  name: string;
}

const cache = new Map<string, OpRef>();

/** Looks an ATen op up once, by name and overload (`op('aten::add', 'Tensor')`). */
export function op(name: string, overload = ''): OpRef {
  const key = `${name}.${overload}`;
  let ref = cache.get(key);
  if (!ref) {
    try {
      const [id, inplace] = native.opFind(name, overload);
      ref = { id, inplace, name: key };
    } catch (e) {
      throw mapError(e);
    }
    cache.set(key, ref);
  }
  return ref;
}

/** Calls an op with raw values (handles, numbers, arrays) in schema order. */
export function callRaw(ref: OpRef, ...args: unknown[]): any {
  try {
    return native.opCall(ref.id, ...args);
  } catch (e) {
    throw mapError(e);
  }
}

/** The full schema text of an op, as libtorch registers it. */
export function schemaOf(name: string, overload = ''): string {
  return native.opSchema(op(name, overload).id);
}

// ---- scopes: tensors created inside tidy() are freed at its end unless returned or kept ----

export interface Disposable {
  dispose(): void;
}

const scopes: Disposable[][] = [];

export function track(t: Disposable): void {
  const top = scopes[scopes.length - 1];
  if (top !== undefined) top.push(t);
}

export function untrack(t: Disposable): void {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const s = scopes[i]!;
    const at = s.lastIndexOf(t);
    if (at >= 0) {
      s.splice(at, 1);
      return;
    }
  }
}

export function pushScope(): void {
  scopes.push([]);
}

/** Ends the innermost scope: disposes what it tracked except `keep`, which moves to the parent. */
export function popScope(keep: Set<Disposable>): void {
  const s = scopes.pop();
  if (!s) throw new ArgumentError('popScope without a matching pushScope');
  const parent = scopes[scopes.length - 1];
  for (const t of s) {
    if (keep.has(t)) parent?.push(t);
    else t.dispose();
  }
}

export const scopeDepth = (): number => scopes.length;
