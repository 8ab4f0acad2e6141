// The unpickler's record of every tuple it built: its nesting depth (tuples of tuples) and whether
// it is hashable, computed once when the tuple is made from its already-recorded items. A dict key
// or set item check is then O(1) and never recurses, however deep or shared the tuple is.
import { isPyKey } from '../py.ts';
import { raiseHint } from './limits.ts';

const SCALARS = new Set(['string', 'number', 'bigint', 'boolean']);

export class TupleRecords {
  /** tuple -> its depth, negative when it is not hashable */
  readonly #depth = new Map<object, number>();

  constructor(
    private readonly maxDepth: number,
    private readonly fail: (reason: string, hint?: string) => never,
  ) {}

  /** Records a frozen array (a tuple) made of values the VM already holds; refuses one nested too deep. */
  register(t: readonly unknown[]): readonly unknown[] {
    if (this.#depth.has(t)) return t;
    let depth = 1;
    let hashable = true;
    for (const x of t) {
      if (x === null || typeof x !== 'object') {
        if (x !== null && !SCALARS.has(typeof x)) hashable = false;
        continue;
      }
      const d = this.#depth.get(x);
      if (d === undefined) hashable = false;
      else {
        if (d < 0) hashable = false;
        depth = Math.max(depth, Math.abs(d) + 1);
      }
    }
    if (depth > this.maxDepth)
      this.fail(
        `tuples nested deeper than ${this.maxDepth} (the maxDepth limit)`,
        raiseHint('maxDepth', 'GRAFT_PICKLE_MAX_DEPTH', this.maxDepth * 10),
      );
    this.#depth.set(t, hashable ? depth : -depth);
    return t;
  }

  /** Python-hashable: a scalar, or a recorded tuple of hashable values. */
  isKey(x: unknown): boolean {
    if (x === null || typeof x !== 'object') return isPyKey(x);
    const d = this.#depth.get(x);
    return d !== undefined ? d > 0 : isPyKey(x);
  }
}
