// Builds an ONNX graph: nodes with unique names, initializers (the model's tensors under their
// state-dict names, folded constants, small shape constants), and the size expressions (from the
// inputs' shapes) that reshapes, slices and ranges of dynamic-size tensors need.
import type { DType } from '../tensor/index.ts';
import { ExportError } from './errors.ts';
import { ATTR, type AttrMsg, type NodeMsg, ONNX_DTYPE, type TensorMsg } from './onnx_proto.ts';
import type { Sym } from './symbolic.ts';

export type Attr =
  | { t: 'i'; v: number }
  | { t: 'f'; v: number }
  | { t: 's'; v: string }
  | { t: 'ints'; v: number[] }
  | { t: 'floats'; v: number[] }
  | { t: 'tensor'; v: TensorMsg };

export const int = (v: number): Attr => ({ t: 'i', v });
export const float = (v: number): Attr => ({ t: 'f', v });
export const str = (v: string): Attr => ({ t: 's', v });
export const ints = (v: number[]): Attr => ({ t: 'ints', v });

function attrMsg(name: string, a: Attr): AttrMsg {
  switch (a.t) {
    case 'i':
      return { name, type: ATTR.INT, i: a.v };
    case 'f':
      return { name, type: ATTR.FLOAT, f: a.v };
    case 's':
      return { name, type: ATTR.STRING, s: new TextEncoder().encode(a.v) };
    case 'ints':
      return { name, type: ATTR.INTS, ints: a.v };
    case 'floats':
      return { name, type: ATTR.FLOATS, floats: a.v };
    case 'tensor':
      return { name, type: ATTR.TENSOR, t: a.v };
  }
}

const INT64_MAX = 9223372036854775807n;

/** A number as int64, saturated (Python's sys.maxsize arrives as 2^63, one past INT64_MAX). */
const int64Of = (v: number): bigint =>
  v >= 2 ** 63 ? INT64_MAX : v <= -(2 ** 63) ? -INT64_MAX - 1n : BigInt(Math.trunc(v));

/** Little-endian bytes of numbers in a dtype (the scalar and shape constants of a graph). */
export function encodeScalars(values: (number | bigint | boolean)[], dtype: DType): Uint8Array {
  const n = values.length;
  switch (dtype) {
    case 'float32':
      return new Uint8Array(Float32Array.from(values, Number).buffer);
    case 'float64':
      return new Uint8Array(Float64Array.from(values, Number).buffer);
    case 'int64':
      return new Uint8Array(BigInt64Array.from(values, (v) => (typeof v === 'bigint' ? v : int64Of(Number(v)))).buffer);
    case 'int32':
      return new Uint8Array(Int32Array.from(values, Number).buffer);
    case 'int16':
      return new Uint8Array(Int16Array.from(values, Number).buffer);
    case 'int8':
      return new Uint8Array(Int8Array.from(values, Number).buffer);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(values, Number);
    case 'float16':
    case 'bfloat16': {
      // through float32: float16 rounds to nearest even, bfloat16 keeps the top half (rounded)
      const f = Float32Array.from(values, Number);
      const u = new Uint32Array(f.buffer);
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = dtype === 'bfloat16' ? toBf16(u[i]!) : toF16(f[i]!);
      return new Uint8Array(out.buffer);
    }
  }
}

function toBf16(bits: number): number {
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}

function toF16(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 0x1f) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    const m = (mant | 0x800000) >>> (1 - exp);
    return sign | ((m + 0xfff + ((m >>> 13) & 1)) >>> 13);
  }
  const r = sign | (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  return rest > 0x1000 || (rest === 0x1000 && r & 1) ? r + 1 : r;
}

export class OnnxGraph {
  readonly nodes: NodeMsg[] = [];
  readonly initializers: TensorMsg[] = [];
  readonly #used = new Set<string>();
  readonly #consts = new Map<string, string>();
  readonly #sizes = new Map<string, string>();
  /** the module path that nodes emitted now belong to (their names start with it) */
  scope = '';

  constructor(
    readonly opset: number,
    /** per dynamic symbol: the graph input and axis that has it (for size expressions) */
    readonly symbolSources: Map<string, { input: string; axis: number }> = new Map(),
  ) {}

  /** A fresh name (graph-unique) from a hint. */
  fresh(hint: string): string {
    let name = hint;
    for (let i = 1; this.#used.has(name); i++) name = `${hint}_${i}`;
    this.#used.add(name);
    return name;
  }

  /** Reserves a name given outside (graph inputs, initializers under state-dict names). */
  reserve(name: string): void {
    this.#used.add(name);
  }

  /** Adds a node; returns its output names. */
  node(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, outputs = 1): string[] {
    const base = this.scope ? `/${this.scope.replaceAll('.', '/')}/${opType}` : `/${opType}`;
    const name = this.fresh(base);
    const outs = Array.from({ length: outputs }, (_, i) => this.fresh(`${name}_output_${i}`));
    this.nodes.push({
      opType,
      input: inputs,
      output: outs,
      name,
      attribute: Object.entries(attrs).map(([k, a]) => attrMsg(k, a)),
    });
    return outs;
  }

  /** One-output node. */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.node(opType, inputs, attrs, 1)[0]!;
  }

  /** Adds an initializer with a given name (already reserved or fresh). */
  initializer(name: string, dtype: DType, dims: number[], data: Uint8Array): string {
    this.initializers.push({ name, dims, dataType: ONNX_DTYPE[dtype], rawData: data });
    return name;
  }

  /** A constant tensor (deduplicated by content): scalars when dims is []. */
  constant(values: (number | bigint | boolean)[], dtype: DType, dims: number[] = [values.length]): string {
    const key = `${dtype}|${dims}|${values.map(String)}`;
    let name = this.#consts.get(key);
    if (!name) {
      name = this.fresh(`/const/${dtype}_${values.length === 1 ? String(values[0]).replace(/[^\w.-]/g, '') : 'v'}`);
      this.initializer(name, dtype, dims, encodeScalars(values, dtype));
      this.#consts.set(key, name);
    }
    return name;
  }

  /** A 0-d tensor of a dtype. */
  scalar(v: number | boolean, dtype: DType): string {
    return this.constant([v], dtype, []);
  }

  /** A 1-d int64 tensor (axes, shapes, starts / ends). */
  i64(values: (number | bigint)[]): string {
    return this.constant(values, 'int64');
  }

  /** INT64_MAX, Slice's "to the end". */
  get int64Max(): bigint {
    return INT64_MAX;
  }

  /** A symbol's size as a 1-d int64 tensor [n], read from the shape of the input that has it. */
  size(symbol: string): string {
    let name = this.#sizes.get(symbol);
    if (!name) {
      const src = this.symbolSources.get(symbol);
      if (!src) throw new ExportError(`internal: no input has the dynamic size '${symbol}'`);
      const saved = this.scope;
      this.scope = symbol;
      const shape = this.op('Shape', [src.input]);
      name = this.op('Gather', [shape, this.i64([src.axis])], { axis: int(0) });
      this.scope = saved;
      this.#sizes.set(symbol, name);
    }
    return name;
  }

  /** A size expression as a 1-d int64 tensor [value]. */
  expr(d: Sym): string {
    if (typeof d === 'number') return this.i64([d]);
    let sum: string | undefined;
    let constant = 0;
    for (const [mono, c] of Object.entries(d.k)) {
      if (!Number.isInteger(c))
        throw new ExportError(
          `a size is not an integer expression of ${mono || 'constants'}`,
          'export with fixed sizes',
        );
      if (mono === '') {
        constant = c;
        continue;
      }
      let term = mono
        .split('*')
        .map((s) => this.size(s))
        .reduce((a, b) => this.op('Mul', [a, b]));
      if (c !== 1) term = this.op('Mul', [term, this.i64([c])]);
      sum = sum === undefined ? term : this.op('Add', [sum, term]);
    }
    if (sum === undefined) return this.i64([constant]);
    return constant === 0 ? sum : this.op('Add', [sum, this.i64([constant])]);
  }

  /** A size expression as a 0-d tensor of a dtype (Range's and Trilu's scalar inputs). */
  scalarExpr(d: Sym, dtype: DType = 'int64'): string {
    if (typeof d === 'number') return this.scalar(d, dtype);
    const s = this.op('Squeeze', [this.expr(d), this.i64([0])]);
    return dtype === 'int64' ? s : this.op('Cast', [s], { to: int(ONNX_DTYPE[dtype]) });
  }

  /**
   * A 1-d int64 shape tensor for Reshape: static dims as numbers; one dynamic dim as -1; more than
   * one computed from the input sizes.
   */
  reshapeTarget(sym: Sym[]): string {
    const dynamic = sym.filter((d) => typeof d !== 'number').length;
    if (dynamic <= 1) return this.i64(sym.map((d) => (typeof d === 'number' ? d : -1)));
    return this.shapeExpr(sym);
  }

  /** A 1-d int64 shape tensor holding every dim, dynamic ones computed at run time. */
  shapeExpr(sym: Sym[]): string {
    if (sym.every((d) => typeof d === 'number')) return this.i64(sym as number[]);
    const parts: string[] = [];
    let run: number[] = [];
    for (const d of sym) {
      if (typeof d === 'number') {
        run.push(d);
        continue;
      }
      if (run.length) parts.push(this.i64(run));
      run = [];
      parts.push(this.expr(d));
    }
    if (run.length) parts.push(this.i64(run));
    return parts.length === 1 ? parts[0]! : this.op('Concat', parts, { axis: int(0) });
  }
}
