// exportOnnx: a model's forward, traced as the ATen ops it really runs, written as an ONNX model
// (opset 13-17) that onnxruntime runs: parameters as initializers under their state-dict names,
// constants folded, the batch size dynamic (dim_param "batch"), BatchNorm folded only when asked.
import { writeAtomic } from '../io/file.ts';
import type { Module } from '../nn/index.ts';
import { DynamicQuantizedLinear, QuantizedModule } from '../quant/index.ts';
import { tensor as makeTensor, noGrad, Tensor, tidy } from '../tensor/index.ts';
import { ExportError } from './errors.ts';
import { type Converter, Cx } from './onnx_context.ts';
import { EXTERNAL_ABOVE, writeExternalData } from './onnx_external.ts';
import { foldBatchNorms } from './onnx_fold.ts';
import { OnnxGraph } from './onnx_graph.ts';
import { MATH_OPS } from './onnx_ops_math.ts';
import { NN_OPS } from './onnx_ops_nn.ts';
import { QUANT_OPS } from './onnx_ops_quant.ts';
import { SHAPE_OPS } from './onnx_ops_shape.ts';
import { type DimMsg, encodeModel, type ModelMsg, type ValueInfoMsg } from './onnx_proto.ts';
import { mergeTraces, type Sym, type SymTrace, staticTrace, symbolName } from './symbolic.ts';
import { type NamedInput, type OpaqueModules, type Trace, traceModel } from './trace.ts';

const CONVERTERS: Record<string, Converter> = { ...MATH_OPS, ...SHAPE_OPS, ...NN_OPS, ...QUANT_OPS };

/** The ATen ops (name without overload) the exporter maps. */
export const supportedOnnxOps = (): string[] => Object.keys(CONVERTERS).sort();

/** A tensor (input 'input'), positional tensors ('input_0', ...) or named ones (snake_case: input_ids). */
export type ExampleInputs = Tensor | Tensor[] | Record<string, Tensor | undefined>;

export interface OnnxExportOptions {
  /** batch size as a symbolic dim 'batch' (default true): the forward is traced at two batch sizes */
  dynamicBatch?: boolean;
  /**
   * dynamic axes by input name, each named by its symbol (default: axis 0 of every input is
   * 'batch'): { input_ids: { 0: 'batch', 1: 'sequence' }, attention_mask: { 0: 'batch', 1: 'sequence' } }.
   * The forward is traced at two sizes per symbol, every combination
   */
  dynamicAxes?: DynamicAxes;
  /** 13..17 (default 17: LayerNormalization as one op) */
  opset?: number;
  /** fold BatchNorm into the convolution before it (default false) */
  foldBatchNorm?: boolean;
  /** graph input names, in the order of the example inputs */
  inputNames?: string[];
  /** rename outputs (by their default names: 'output', 'logits', ...) */
  outputNames?: Record<string, string>;
  /** keep only these outputs (default: every tensor the forward returns) */
  outputs?: string[];
  /**
   * how to run the model on the named example inputs, for forwards that take more than tensors:
   * (m, x) => m.call(x.input_ids, { attentionMask: x.attention_mask }); the names are the graph's
   */
  call?: (model: Module, inputs: Record<string, Tensor>) => unknown;
  /**
   * exportOnnx: weights in a side file PATH.data (ONNX external data), needed past protobuf's 2 GB;
   * 'auto' (default) does it when the weights exceed 1.8 GB
   */
  externalData?: boolean | 'auto';
  /** key/value strings stored in the model (metadata_props): labels, task, ... */
  metadata?: Record<string, string>;
  docString?: string;
}

export interface OnnxExportInfo {
  inputs: ValueInfoMsg[];
  outputs: ValueInfoMsg[];
  opset: number;
  nodes: number;
  initializers: string[];
  /** the ONNX op types used, sorted */
  onnxOps: string[];
  /** bytes of the model file */
  bytes: number;
  /** the external data file, when the weights went to one */
  dataFile?: string;
}

export interface OnnxModelBytes extends OnnxExportInfo {
  model: Uint8Array;
}

const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

type Call = (m: Module, xs: Tensor[]) => unknown;

function namedInputs(inputs: ExampleInputs, o: OnnxExportOptions): { list: NamedInput[]; call: Call } {
  const names = o.inputNames;
  const custom = o.call;
  if (custom) {
    if (inputs instanceof Tensor || Array.isArray(inputs))
      throw new ExportError('with the call option, give the example inputs as an object of named tensors');
    const keys = Object.keys(inputs).filter((k) => inputs[k] !== undefined);
    const list = keys.map((k, i) => ({ name: names?.[i] ?? k, tensor: inputs[k]! }));
    return { list, call: (m, xs) => custom(m, Object.fromEntries(keys.map((k, i) => [k, xs[i]!]))) };
  }
  if (inputs instanceof Tensor) {
    return { list: [{ name: names?.[0] ?? 'input', tensor: inputs }], call: (m, xs) => m.call(xs[0]) };
  }
  if (Array.isArray(inputs)) {
    const list = inputs.map((tensor, i) => ({ name: names?.[i] ?? `input_${i}`, tensor }));
    return { list, call: (m, xs) => m.call(...xs) };
  }
  const keys = Object.keys(inputs).filter((k) => inputs[k] !== undefined);
  const list = keys.map((k, i) => ({ name: names?.[i] ?? snake(k), tensor: inputs[k]! }));
  return { list, call: (m, xs) => m.call(Object.fromEntries(keys.map((k, i) => [k, xs[i]]))) };
}

/** Which axes of which inputs are dynamic: input name -> axis -> symbol. */
export type DynamicAxes = Record<string, Record<number, string>>;

/** The example inputs resized: each dynamic axis to its symbol's size, entries taken cyclically. */
function resized(list: NamedInput[], axes: DynamicAxes, point: Record<string, number>): Tensor[] {
  return list.map(({ name, tensor }) => {
    let x = tensor;
    for (const [axis, symbol] of Object.entries(axes[name] ?? {})) {
      const a = Number(axis);
      if (a >= x.ndim) throw new ExportError(`input '${name}' has no axis ${a} (shape [${x.shape}])`);
      const size = x.size(a);
      const idx = makeTensor(
        Array.from({ length: point[symbol]! }, (_, i) => i % size),
        { dtype: 'int64' },
      );
      const prev = x;
      x = tidy(() => prev.indexSelect(a, idx));
    }
    return x;
  });
}

const dimsOf = (sym: Sym[]): DimMsg[] => sym.map((d) => (typeof d === 'number' ? d : symbolName(d)));

function defaultAxes(list: NamedInput[], o: OnnxExportOptions): DynamicAxes {
  if (o.dynamicAxes) return o.dynamicAxes;
  if (o.dynamicBatch === false) return {};
  return Object.fromEntries(list.map((l) => [l.name, { 0: 'batch' }]));
}

/** Two sizes per symbol: the batch at 2 and 3, others at the example's size and one less (or more). */
function sizesOf(symbols: string[], list: NamedInput[], axes: DynamicAxes): [number[], number[]] {
  const lo: number[] = [];
  const hi: number[] = [];
  for (const s of symbols) {
    if (s === 'batch') {
      lo.push(2);
      hi.push(3);
      continue;
    }
    const [name, ax] = Object.entries(axes).find(([, a]) => Object.values(a).includes(s))!;
    const axis = Number(Object.entries(ax).find(([, v]) => v === s)![0]);
    const size = list.find((l) => l.name === name)!.tensor.size(axis);
    lo.push(size >= 3 ? size - 1 : size);
    hi.push(size >= 3 ? size : size + 1);
  }
  return [lo, hi];
}

function traceFor(
  model: Module,
  inputs: ExampleInputs,
  o: OnnxExportOptions,
  opaque: OpaqueModules,
): { t: SymTrace; axes: DynamicAxes } {
  const { list, call } = namedInputs(inputs, o);
  if (list.length === 0) throw new ExportError('exportOnnx needs at least one example input');
  for (const l of list)
    if (!(l.tensor instanceof Tensor)) throw new ExportError(`example input '${l.name}' is not a Tensor`);
  const run = (xs: Tensor[]): Trace =>
    traceModel(
      model,
      list.map((l, i) => ({ name: l.name, tensor: xs[i]! })),
      () => call(model, xs),
      opaque,
    );
  // one untraced forward first: modules that build caches on first use (rotary tables) then
  // run the same ops in every trace
  noGrad(() =>
    tidy(
      () =>
        void call(
          model,
          list.map((l) => l.tensor),
        ),
    ),
  );
  const axes = defaultAxes(list, o);
  for (const name of Object.keys(axes))
    if (!list.some((l) => l.name === name))
      throw new ExportError(`dynamicAxes names no input '${name}'`, `inputs: ${list.map((l) => l.name).join(', ')}`);
  const symbols = [...new Set(Object.values(axes).flatMap((a) => Object.values(a)))];
  if (symbols.length === 0) return { t: staticTrace(run(list.map((l) => l.tensor))), axes };
  const [lo, hi] = sizesOf(symbols, list, axes);
  const traces: Trace[] = [];
  for (let m = 0; m < 1 << symbols.length; m++) {
    const point = Object.fromEntries(symbols.map((s, j) => [s, m & (1 << j) ? hi[j]! : lo[j]!]));
    traces.push(run(resized(list, axes, point)));
  }
  return { t: mergeTraces(traces, symbols, lo, hi), axes };
}

/** The nodes whose results the outputs need (folded constants are not computed in the graph). */
function liveNodes(t: SymTrace): Set<number> {
  const live = new Set(t.outputs.map((o) => o.v));
  const nodes = new Set<number>();
  for (let i = t.nodes.length - 1; i >= 0; i--) {
    const n = t.nodes[i]!;
    if (!n.outputs.some((o) => live.has(o))) continue;
    if (n.outputs.every((o) => t.values[o]!.kind === 'const' && !t.dynConst.has(o))) continue;
    nodes.add(i);
    for (const a of n.args) {
      if (a.kind === 'tensor' && a.v !== undefined) live.add(a.v);
      if (a.kind === 'tensors') for (const v of a.vs) live.add(v);
    }
  }
  return nodes;
}

/** The ModelProto (as data) of a model's forward, and what it holds. */
function buildOnnx(
  model: Module,
  inputs: ExampleInputs,
  o: OnnxExportOptions,
): { msg: ModelMsg; info: Omit<OnnxExportInfo, 'bytes'> } {
  const opset = o.opset ?? 17;
  if (!Number.isInteger(opset) || opset < 13 || opset > 17)
    throw new ExportError(`opset ${opset} is not supported`, 'use an opset from 13 to 17 (17 is the default)');
  const opaque: OpaqueModules = new Map();
  for (const [path, m] of model.namedModules())
    if (m instanceof DynamicQuantizedLinear)
      opaque.set(m, {
        op: 'graft::dynamic_quantized_linear',
        tensors: [m.weight, m.weightScale, m.weightZeroPoint, m.bias],
      });
    else if (m instanceof QuantizedModule)
      throw new ExportError(
        `module '${path || '<root>'}' is a quantized ${m.constructor.name}: only dynamic int8 Linear layers go into ONNX`,
        "export the float model and quantize the .onnx file with onnxruntime's quantization tools",
      );
  const wasTraining = model.training;
  model.eval();
  let traced: ReturnType<typeof traceFor>;
  try {
    traced = traceFor(model, inputs, o, opaque);
  } finally {
    model.train(wasTraining);
  }
  const { t, axes } = traced;
  if (o.outputs) {
    const missing = o.outputs.filter((n) => !t.outputs.some((x) => x.name === n));
    if (missing.length)
      throw new ExportError(
        `the forward has no output ${missing.join(', ')}`,
        `outputs: ${t.outputs.map((x) => x.name).join(', ')}`,
      );
    t.outputs = t.outputs.filter((x) => o.outputs!.includes(x.name));
  }
  const outName = (n: string): string => o.outputNames?.[n] ?? n;
  const sources = new Map<string, { input: string; axis: number }>();
  for (const [input, ax] of Object.entries(axes))
    for (const [axis, symbol] of Object.entries(ax))
      if (!sources.has(symbol)) sources.set(symbol, { input, axis: Number(axis) });
  const g = new OnnxGraph(opset, sources);
  for (const i of t.inputs) g.reserve(i.name);
  for (const x of t.outputs) g.reserve(outName(x.name));
  for (const v of t.values) if (v.kind === 'param' && v.name) g.reserve(v.name);

  const live = liveNodes(t);
  const aliases = o.foldBatchNorm ? foldBatchNorms(t, live) : new Map<number, number>();
  for (const v of t.values) if (v.kind === 'param' && v.name) g.reserve(v.name);
  const bindLeaf = (v: (typeof t.values)[number]): string => {
    let name: string;
    if (v.kind === 'param' && v.producer === undefined && v.tensor) {
      name = g.initializer(v.name!, v.dtype, v.shape, v.tensor.bytes());
    } else if (v.kind === 'const' && v.data && !t.dynConst.has(v.id)) {
      const producer = v.producer === undefined ? undefined : t.nodes[v.producer];
      const hint =
        v.name ?? (producer ? `/${producer.module.replaceAll('.', '/')}/${producer.op.slice(6)}_const` : '/const');
      name = g.initializer(g.fresh(hint), v.dtype, v.shape, v.data);
    } else {
      const producer = v.producer === undefined ? undefined : t.nodes[v.producer];
      throw new ExportError(
        producer
          ? `a tensor made by ${producer.op} in '${producer.module || '<root>'}' changes with the dynamic sizes in a way the exporter cannot express`
          : 'the forward reads a tensor made outside any op that changes with the dynamic sizes',
        'export with fixed sizes (dynamicBatch: false, no dynamicAxes)',
      );
    }
    cx.names.set(v.id, name);
    return name;
  };
  const cx = new Cx(g, t, bindLeaf);
  for (const i of t.inputs) cx.names.set(i.v, i.name);

  for (let i = 0; i < t.nodes.length; i++) {
    if (!live.has(i)) continue;
    const node = t.nodes[i]!;
    cx.node = node;
    cx.index = i;
    const alias = aliases.get(i);
    if (alias !== undefined) {
      cx.set(cx.nameOf(alias));
      continue;
    }
    g.scope = node.module;
    const convert = CONVERTERS[node.op];
    if (convert === undefined) cx.fail();
    else convert(cx);
    for (const out of node.outputs) if (!cx.names.has(out) && out === node.outputs[0]) cx.fail('no result');
  }
  g.scope = '';
  for (const x of t.outputs)
    g.nodes.push({
      opType: 'Identity',
      input: [cx.nameOf(x.v)],
      output: [outName(x.name)],
      name: `/output/${x.name}`,
      attribute: [],
    });

  const info = (name: string, v: number): ValueInfoMsg => ({
    name,
    dtype: t.values[v]!.dtype,
    shape: dimsOf(t.sym[v]!),
  });
  const inputsInfo = t.inputs.map((i) => info(i.name, i.v));
  const outputsInfo = t.outputs.map((x) => info(outName(x.name), x.v));
  const msg: ModelMsg = {
    opset,
    producerVersion: '0.1.0',
    graphName: model.constructor.name,
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: inputsInfo,
    outputs: outputsInfo,
    docString: o.docString,
    metadata: o.metadata,
  };
  const summary = {
    inputs: inputsInfo,
    outputs: outputsInfo,
    opset,
    nodes: g.nodes.length,
    initializers: g.initializers.map((x) => x.name),
    onnxOps: [...new Set(g.nodes.map((n) => n.opType))].sort(),
  };
  return { msg, info: summary };
}

/** The ONNX model bytes of a model's forward on example inputs (see exportOnnx). */
export function toOnnx(model: Module, inputs: ExampleInputs, o: OnnxExportOptions = {}): OnnxModelBytes {
  const { msg, info } = buildOnnx(model, inputs, o);
  const bytes = encodeModel(msg);
  return { model: bytes, ...info, bytes: bytes.byteLength };
}

/**
 * Traces model's forward on example inputs (in eval mode; the mode is restored) and writes an
 * ONNX model to path (atomically). An op the exporter cannot map is an UnsupportedOpError that
 * names the op and the module that ran it.
 */
export function exportOnnx(
  model: Module,
  inputs: ExampleInputs,
  path: string,
  o: OnnxExportOptions = {},
): OnnxExportInfo {
  const { msg, info } = buildOnnx(model, inputs, o);
  const external = o.externalData ?? 'auto';
  const total = msg.initializers.reduce((n, t) => n + (t.rawData?.byteLength ?? 0), 0);
  let dataFile: string | undefined;
  if (external === true || (external === 'auto' && total > EXTERNAL_ABOVE)) dataFile = writeExternalData(msg, path);
  const bytes = encodeModel(msg);
  writeAtomic(path, (sink) => sink.write(bytes));
  return { ...info, bytes: bytes.byteLength, ...(dataFile ? { dataFile } : {}) };
}
