// tidy(): frees every tensor created inside except what fn returns (or what was kept).
import { ArgumentError } from '../errors.ts';
import { type Disposable, popScope, pushScope } from './_core.ts';
import { Tensor } from './tensor.ts';

function collect(v: unknown, out: Set<Disposable>, depth = 0): void {
  if (v instanceof Tensor) out.add(v);
  else if (depth < 3 && Array.isArray(v)) for (const x of v) collect(x, out, depth + 1);
  else if (depth < 3 && v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype)
    for (const x of Object.values(v)) collect(x, out, depth + 1);
}

/**
 * Runs fn; tensors created inside are disposed when it returns, except the ones in its result
 * (a tensor, or arrays / plain objects of them) and those passed in `keep`. Synchronous only.
 */
export function tidy<T>(fn: () => T, keep: Tensor[] = []): T {
  pushScope();
  let result: T | undefined;
  let ok = false;
  try {
    result = fn();
    if (result instanceof Promise) throw new ArgumentError('tidy() takes a synchronous function');
    ok = true;
    return result;
  } finally {
    const kept = new Set<Disposable>(keep);
    if (ok) collect(result, kept);
    popScope(kept);
  }
}

/** Disposes tensors (arrays and plain objects of them too). */
export function dispose(...values: unknown[]): void {
  const all = new Set<Disposable>();
  collect(values, all);
  for (const t of all) t.dispose();
}
