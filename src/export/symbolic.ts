// Dynamic sizes from several traces: the same forward run with each dynamic input axis (the batch,
// a text model's sequence) at two sizes, every combination, gives the same ops; a size (of a tensor,
// or an int argument such as view's or slice's) that differs between them is fitted exactly as a
// multilinear polynomial of the symbols (c + a*batch + s*sequence + p*batch*sequence). Sizes a
// forward computes in JS from x.shape are caught this way too, which a single trace cannot see.
import { ExportError } from './errors.ts';
import type { Trace } from './trace.ts';

/** A polynomial size: coefficient per monomial ('' constant, 'batch', 'batch*sequence', ...). */
export interface SymExpr {
  k: Record<string, number>;
}

/** A dimension or int argument: static, or a polynomial of the dynamic symbols. */
export type Sym = number | SymExpr;

/** One trace's sizes: symbol -> value. */
export type Point = Record<string, number>;

export interface SymTrace extends Trace {
  /** the symbols, in fit order */
  symbols: string[];
  /** per value: its shape with dynamic dims symbolic */
  sym: Sym[][];
  /** per node: value arguments that differ between the traces, with their numbers fitted */
  dynArgs: Map<number, unknown>[];
  /** constants whose content or shape changes with a symbol (computed in the graph, not folded) */
  dynConst: Set<number>;
}

const describe = (t: Trace, i: number): string => {
  const n = t.nodes[i];
  return n ? `${n.op} in '${n.module || '<root>'}'` : 'the end of the forward';
};

/** Exact multilinear fit of values at the corners of the symbols' hypercube (bit j: symbol j high). */
function fit(values: number[], symbols: string[], lo: number[], hi: number[]): Sym {
  const f = [...values];
  symbols.forEach((_, j) => {
    const bit = 1 << j;
    for (let m = 0; m < f.length; m++) {
      if (m & bit) continue;
      const slope = (f[m | bit]! - f[m]!) / (hi[j]! - lo[j]!);
      f[m] = f[m]! - slope * lo[j]!;
      f[m | bit] = slope;
    }
  });
  const k: Record<string, number> = {};
  f.forEach((c, m) => {
    const r = Math.round(c);
    const v = Math.abs(c - r) < 1e-9 ? r : c;
    if (v !== 0 || m === 0) k[symbols.filter((_, j) => m & (1 << j)).join('*')] = v;
  });
  const keys = Object.keys(k);
  return keys.length === 1 && keys[0] === '' ? k['']! : { k };
}

function same(x: unknown, y: unknown): boolean {
  if (Array.isArray(x) && Array.isArray(y)) return x.length === y.length && x.every((v, i) => same(v, y[i]));
  return x === y || (Number.isNaN(x) && Number.isNaN(y));
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Fits an argument (number, or array of numbers) across traces; undefined when it cannot be. */
function fitArg(vals: unknown[], symbols: string[], lo: number[], hi: number[]): unknown {
  const v0 = vals[0];
  if (typeof v0 === 'number' && vals.every((v) => typeof v === 'number')) return fit(vals as number[], symbols, lo, hi);
  if (Array.isArray(v0) && vals.every((v) => Array.isArray(v) && v.length === v0.length))
    return v0.map((_, i) =>
      fitArg(
        vals.map((v) => (v as unknown[])[i]),
        symbols,
        lo,
        hi,
      ),
    );
  if (vals.every((v) => same(v, v0))) return v0;
  return undefined;
}

/**
 * Merges traces of one forward taken at the corners of the symbols' hypercube: trace m has
 * symbol j at hi[j] when bit j of m is set, else at lo[j].
 */
export function mergeTraces(traces: Trace[], symbols: string[], lo: number[], hi: number[]): SymTrace {
  const t0 = traces[0]!;
  const at = (m: number) => symbols.map((s, j) => `${s} ${m & (1 << j) ? hi[j] : lo[j]}`).join(', ');
  traces.forEach((t, m) => {
    const n = Math.max(t0.nodes.length, t.nodes.length);
    for (let i = 0; i < n; i++) {
      const a = t0.nodes[i];
      const b = t.nodes[i];
      if (!a || !b || a.op !== b.op || a.outputs.length !== b.outputs.length)
        throw new ExportError(
          `the forward runs different ops at ${at(0)} and at ${at(m)}: ${describe(t0, i)} vs ${describe(t, i)}`,
          'export with fixed sizes (dynamicBatch: false, no dynamicAxes), or make the forward independent of the sizes',
        );
    }
    if (t.values.length !== t0.values.length)
      throw new ExportError(`the forward reads different tensors at ${at(0)} and at ${at(m)}`);
  });
  const dynConst = new Set<number>();
  const sym = t0.values.map((v, i) => {
    const all = traces.map((t) => t.values[i]!);
    if (all.some((w) => w.shape.length !== v.shape.length))
      throw new ExportError(
        `a tensor made by ${v.producer === undefined ? 'the inputs' : describe(t0, v.producer)} changes rank with the sizes`,
      );
    if (v.kind === 'const' && all.some((w) => !same(w.shape, v.shape) || !sameBytes(w.data, v.data))) dynConst.add(i);
    return v.shape.map((_, d) =>
      fit(
        all.map((w) => w.shape[d]!),
        symbols,
        lo,
        hi,
      ),
    );
  });
  const dynArgs = t0.nodes.map((node, i) => {
    const dyn = new Map<number, unknown>();
    node.args.forEach((a, k) => {
      if (a.kind !== 'value') return;
      const vals = traces.map((t) => {
        const b = t.nodes[i]!.args[k];
        return b?.kind === 'value' ? b.value : Symbol('tensor');
      });
      if (!vals.every((v) => same(v, a.value))) dyn.set(k, fitArg(vals, symbols, lo, hi));
    });
    return dyn;
  });
  return { ...t0, symbols, sym, dynArgs, dynConst };
}

/** A trace at fixed sizes, as a SymTrace with nothing dynamic. */
export function staticTrace(t: Trace): SymTrace {
  return {
    ...t,
    symbols: [],
    sym: t.values.map((v) => [...v.shape]),
    dynArgs: t.nodes.map(() => new Map()),
    dynConst: new Set(),
  };
}

/** The symbol a dim is exactly (coefficient 1, nothing else), for dim_param names. */
export function symbolName(d: Sym): string | undefined {
  if (typeof d === 'number') return undefined;
  const keys = Object.entries(d.k).filter(([, c]) => c !== 0);
  return keys.length === 1 && keys[0]![1] === 1 && keys[0]![0] !== '' ? keys[0]![0] : undefined;
}

export const sameSym = (a: Sym | undefined, b: Sym | undefined): boolean =>
  a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b);

/** a + b for sizes. */
export function addSym(a: Sym, b: Sym): Sym {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  const k: Record<string, number> = {};
  for (const x of [a, b]) {
    const terms = typeof x === 'number' ? { '': x } : x.k;
    for (const [m, c] of Object.entries(terms)) k[m] = (k[m] ?? 0) + c;
  }
  return { k };
}
