// A model's forward as a list of ATen ops: what it really ran, with the tensors each op read and
// wrote (inputs, state-dict tensors, folded constants, intermediates), and the module that ran it.
import type { Module } from '../nn/index.ts';
import { type DType, handleBytes, handleInfo, noGrad, Tensor, type TracedOp, traceOps } from '../tensor/index.ts';
import { ExportError } from './errors.ts';

/**
 * input: a graph input; param: a state-dict tensor or computed from them (no input involved);
 * const: computed from nothing the user feeds or trains (folded into the file); dynamic: computed
 * from an input.
 */
export type ValueKind = 'input' | 'param' | 'const' | 'dynamic';

export interface TValue {
  id: number;
  shape: number[];
  dtype: DType;
  kind: ValueKind;
  /** input name, or state-dict name of a parameter / buffer */
  name?: string;
  /** the live tensor of a parameter or buffer (read when the file is written) */
  tensor?: Tensor;
  /** folded constants: their bytes, read while the trace ran */
  data?: Uint8Array;
  /** index of the node that made it */
  producer?: number;
}

export type NArg =
  | { kind: 'tensor'; v: number | undefined }
  | { kind: 'tensors'; vs: number[] }
  | { kind: 'value'; value: unknown };

export interface TNode {
  op: string;
  overload: string;
  args: NArg[];
  outputs: number[];
  /** dotted path of the innermost module running when the op was called ('' = the root) */
  module: string;
}

export interface Trace {
  values: TValue[];
  nodes: TNode[];
  inputs: { name: string; v: number }[];
  outputs: { name: string; v: number }[];
}

export interface NamedInput {
  name: string;
  tensor: Tensor;
}

/** snake_case output names as transformers and torchvision exports use (logits, last_hidden_state). */
const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The tensors of a forward's result with their names: a Tensor is 'output', an object's keys name theirs. */
export function namedOutputs(result: unknown): [string, Tensor][] {
  if (result instanceof Tensor) return [['output', result]];
  const out: [string, Tensor][] = [];
  const walk = (v: unknown, name: string): void => {
    if (v instanceof Tensor) out.push([name, v]);
    else if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) walk(x, name ? `${name}_${i}` : `output_${i}`);
    } else if (v !== null && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) walk(x, name ? `${name}.${snake(k)}` : snake(k));
  };
  walk(result, '');
  if (out.length === 0) throw new ExportError('the forward returned no tensor to export');
  return out;
}

/** Runs `run` once under the tracer and returns what it did, every tensor as a value id. */
/**
 * Modules traced as one node each (their inner calls do not reach the op tracer, e.g. quantized
 * kernels): the node's op name and the tensors it reads besides the module's input.
 */
export type OpaqueModules = Map<Module, { op: string; tensors: (Tensor | undefined)[] }>;

export function traceModel(
  model: Module,
  inputs: NamedInput[],
  run: () => unknown,
  opaque: OpaqueModules = new Map(),
): Trace {
  const values: TValue[] = [];
  const nodes: TNode[] = [];
  const byHandle = new Map<number, number>();
  const add = (v: Omit<TValue, 'id'>): number => {
    values.push({ ...v, id: values.length });
    return values.length - 1;
  };
  const inputIds = inputs.map(({ name, tensor }) => {
    const id = add({ shape: tensor.shape, dtype: tensor.dtype, kind: 'input', name });
    byHandle.set(tensor.h, id);
    return { name, v: id };
  });
  // state-dict tensors keep their names; non-persistent buffers are folded like constants
  const sd = model.stateDict();
  const persistent = new Set(sd.keys());
  for (const t of sd.values()) t.dispose();
  const leaves = new Map<number, { name: string; tensor: Tensor; persistent: boolean }>();
  for (const [name, p] of model.namedParameters()) leaves.set(p.h, { name, tensor: p, persistent: true });
  for (const [name, b] of model.namedBuffers())
    if (!leaves.has(b.h)) leaves.set(b.h, { name, tensor: b, persistent: persistent.has(name) });

  const valueIdOf = (h: number): number => {
    const known = byHandle.get(h);
    if (known !== undefined) return known;
    const info = handleInfo(h as Tensor['h']);
    const leaf = leaves.get(h);
    const id =
      leaf?.persistent === true
        ? add({ ...info, kind: 'param', name: leaf.name, tensor: leaf.tensor })
        : add({ ...info, kind: 'const', name: leaf?.name, data: handleBytes(h as Tensor['h']) });
    byHandle.set(h, id);
    return id;
  };

  const stack: string[] = [];
  const paths = new Map<Module, string>();
  for (const [path, m] of model.namedModules()) paths.set(m, path);
  const removers: (() => void)[] = [];
  for (const [m, path] of paths) {
    removers.push(
      m.registerForwardPreHook(() => {
        stack.push(path);
        return undefined;
      }),
    );
    removers.push(
      m.registerForwardHook((mod, args, output) => {
        const o = opaque.get(mod);
        if (o) opaqueNode(o.op, [args[0], ...o.tensors], output);
        stack.pop();
        return undefined;
      }),
    );
  }

  const kindOf = (ins: number[]): ValueKind => {
    const kinds = new Set(ins.map((i) => values[i]!.kind));
    return kinds.has('input') || kinds.has('dynamic') ? 'dynamic' : kinds.has('param') ? 'param' : 'const';
  };
  const opaqueNode = (op: string, tensors: unknown[], output: unknown): void => {
    if (!(output instanceof Tensor) || !(tensors[0] instanceof Tensor))
      throw new ExportError(`${op} in '${stack[stack.length - 1]}': expected one tensor in and out`);
    const args = tensors.map((t): NArg => ({ kind: 'tensor', v: t instanceof Tensor ? valueIdOf(t.h) : undefined }));
    const ins = args.flatMap((a) => (a.kind === 'tensor' && a.v !== undefined ? [a.v] : []));
    const id = add({ ...handleInfo(output.h), kind: kindOf(ins), producer: nodes.length });
    byHandle.set(output.h, id);
    nodes.push({ op, overload: '', args, outputs: [id], module: stack[stack.length - 1] ?? '' });
  };

  const onOp = (op: TracedOp): void => {
    const args = op.args.map((a): NArg => {
      if (a.kind === 'tensor') return { kind: 'tensor', v: a.h === undefined ? undefined : valueIdOf(a.h) };
      if (a.kind === 'tensors') return { kind: 'tensors', vs: a.hs.map(valueIdOf) };
      return a;
    });
    const ins = args.flatMap((a) =>
      a.kind === 'tensor' ? (a.v === undefined ? [] : [a.v]) : a.kind === 'tensors' ? a.vs : [],
    );
    const kind = kindOf(ins);
    const index = nodes.length;
    const outputs = op.outputs.map((h) => {
      const id = add({ ...handleInfo(h), kind, producer: index, data: kind === 'const' ? handleBytes(h) : undefined });
      byHandle.set(h, id);
      return id;
    });
    nodes.push({ op: op.name, overload: op.overload, args, outputs, module: stack[stack.length - 1] ?? '' });
  };

  let result: unknown;
  try {
    result = noGrad(() => traceOps(run, onOp));
  } finally {
    for (const r of removers) r();
  }
  const outputs = namedOutputs(result).map(([name, t]) => ({ name, v: valueIdOf(t.h) }));
  return { values, nodes, inputs: inputIds, outputs };
}
