// What an op converter sees: the traced node's arguments as ONNX names (initializers made on
// first use), its plain arguments, shapes and dtypes, and the graph to emit into.
import type { DType } from '../tensor/index.ts';
import { UnsupportedOpError } from './errors.ts';
import type { OnnxGraph } from './onnx_graph.ts';
import { ONNX_DTYPE } from './onnx_proto.ts';
import type { Sym, SymTrace } from './symbolic.ts';
import type { TNode, TValue } from './trace.ts';

export type Converter = (cx: Cx) => void;

/** Type promotion order for mixed-dtype arithmetic (as torch.result_type for the dtypes graft has). */
const ORDER: DType[] = [
  'bool',
  'uint8',
  'int8',
  'int16',
  'int32',
  'int64',
  'float16',
  'bfloat16',
  'float32',
  'float64',
];

export function promote(a: DType, b: DType): DType {
  return ORDER.indexOf(a) >= ORDER.indexOf(b) ? a : b;
}

export const isFloat = (d: DType): boolean => d.startsWith('float') || d === 'bfloat16';

export class Cx {
  node!: TNode;
  index = -1;
  /** ONNX names of trace values already bound (inputs, emitted outputs, initializers) */
  readonly names = new Map<number, string>();

  constructor(
    readonly g: OnnxGraph,
    readonly t: SymTrace,
    /** binds a value that has no name yet (initializers for parameters and constants) */
    readonly bindLeaf: (v: TValue) => string,
  ) {}

  /** Throws the exporter's "cannot map" error for this node. */
  fail(detail?: string): never {
    const n = this.node;
    throw new UnsupportedOpError(`${n.op}${n.overload ? `.${n.overload}` : ''}`, n.module, detail);
  }

  nameOf(v: number): string {
    return this.names.get(v) ?? this.bindLeaf(this.t.values[v]!);
  }

  /** The value id of tensor argument i (undefined when absent or None). */
  vid(i: number): number | undefined {
    const a = this.node.args[i];
    return a?.kind === 'tensor' ? a.v : undefined;
  }
  has(i: number): boolean {
    return this.vid(i) !== undefined;
  }
  /** ONNX name of tensor argument i. */
  in(i: number): string {
    const v = this.vid(i);
    if (v === undefined) this.fail(`argument ${i} is not a tensor`);
    return this.nameOf(v);
  }
  /** ONNX names of a tensor-list argument. */
  list(i: number): string[] {
    const a = this.node.args[i];
    if (a?.kind !== 'tensors') this.fail(`argument ${i} is not a tensor list`);
    return a.vs.map((v) => this.nameOf(v));
  }
  listValues(i: number): TValue[] {
    const a = this.node.args[i];
    return a?.kind === 'tensors' ? a.vs.map((v) => this.t.values[v]!) : [];
  }
  value(i: number): TValue {
    const v = this.vid(i);
    if (v === undefined) this.fail(`argument ${i} is not a tensor`);
    return this.t.values[v]!;
  }
  dtype(i: number): DType {
    return this.value(i).dtype;
  }
  rank(i: number): number {
    return this.value(i).shape.length;
  }
  sym(i: number): Sym[] {
    return this.t.sym[this.value(i).id]!;
  }
  /** A plain argument (ints, floats, lists, strings); dflt when omitted or None; refuses batch-dependent ones. */
  arg<T>(i: number, dflt?: T): T {
    const a = this.node.args[i];
    if (this.t.dynArgs[this.index]!.has(i)) this.fail(`argument ${i} depends on the dynamic sizes (batch, sequence)`);
    if (a === undefined || (a.kind === 'value' && (a.value === undefined || a.value === null))) return dflt as T;
    if (a.kind !== 'value') this.fail(`argument ${i} is a tensor`);
    return a.value as T;
  }
  /** Whether argument i changes with the dynamic sizes. */
  dynamicArg(i: number): boolean {
    return this.t.dynArgs[this.index]!.has(i);
  }
  /** Argument i with its numbers fitted to the dynamic sizes (Sym), or as traced when static. */
  symArg<T>(i: number, dflt?: T): T {
    const dyn = this.t.dynArgs[this.index]!;
    if (dyn.has(i)) {
      const v = dyn.get(i);
      if (v === undefined) this.fail(`argument ${i} changes with the sizes in a way that cannot be fitted`);
      return v as T;
    }
    return this.arg<T>(i, dflt);
  }

  out(k = 0): TValue {
    return this.t.values[this.node.outputs[k]!]!;
  }
  outSym(k = 0): Sym[] {
    return this.t.sym[this.node.outputs[k]!]!;
  }
  /** Binds output k of the traced node to an ONNX name. */
  set(name: string, k = 0): void {
    this.names.set(this.node.outputs[k]!, name);
  }

  /** Normalises a possibly negative axis for a rank. */
  axis(dim: number, rank: number): number {
    return dim < 0 ? dim + rank : dim;
  }

  /** name cast to `to` when its dtype differs. */
  cast(name: string, from: DType, to: DType): string {
    if (from === to) return name;
    return this.g.op('Cast', [name], { to: { t: 'i', v: onnxDtype(to) } });
  }
  /** Tensor argument i, cast to a dtype. */
  inAs(i: number, to: DType): string {
    return this.cast(this.in(i), this.dtype(i), to);
  }
}

export const onnxDtype = (d: DType): number => ONNX_DTYPE[d];
