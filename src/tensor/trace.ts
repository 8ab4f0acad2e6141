// Op tracing: records every ATen op a function runs (name, raw arguments, result handles), for
// exporters that rebuild a forward as a graph (ONNX). Handles are numbers that stay unique while
// the process runs (slot + generation), so they identify the tensors of a trace.
import { ArgumentError } from '../errors.ts';
import { type Handle, native, type OpRef, setOpTracer } from './_core.ts';
import { type DType, dtypeFromCode } from './dtype.ts';

/** What a traced op was given: a tensor handle, a list of them, or a plain value (number, array, string, null). */
export type TracedArg =
  | { kind: 'tensor'; h: Handle | undefined }
  | { kind: 'tensors'; hs: Handle[] }
  | { kind: 'value'; value: unknown };

export interface TracedOp {
  /** 'aten::add' */
  name: string;
  /** 'Tensor', '' for the default overload */
  overload: string;
  args: TracedArg[];
  /** result tensors in order (a tuple result gives several); an in-place op's first is its self */
  outputs: Handle[];
  /** a non-tensor result (item-like ops) */
  value?: unknown;
  inplace: boolean;
}

export interface HandleInfo {
  shape: number[];
  dtype: DType;
}

/** Shape and dtype of a live handle (no Tensor object is made). */
export function handleInfo(h: Handle): HandleInfo {
  return { shape: native.shape(h), dtype: dtypeFromCode(native.dtype(h)) };
}

/** The contiguous CPU bytes of a live handle. */
export function handleBytes(h: Handle): Uint8Array {
  return new Uint8Array(native.toBuffer(h));
}

function argsOf(ref: OpRef, args: unknown[]): TracedArg[] {
  return args.map((a, i): TracedArg => {
    const kind = ref.argKinds[i];
    if (kind === 1) return { kind: 'tensor', h: (a ?? undefined) as Handle | undefined };
    if (kind === 2) return { kind: 'tensors', hs: a as Handle[] };
    return { kind: 'value', value: a };
  });
}

function outputsOf(r: unknown, out: Handle[]): unknown {
  if (typeof r === 'number') out.push(r as Handle);
  else if (Array.isArray(r)) for (const x of r) outputsOf(x, out);
  else if (r !== null && typeof r === 'object' && 'value' in r) return (r as { value: unknown }).value;
  return undefined;
}

let tracing = false;

/** True while traceOps runs: code with a faster op sequence than the exporters map can pick the plain one. */
export const isTracing = (): boolean => tracing;

/**
 * Runs fn with every op call reported to onOp as it happens (synchronously, while its argument
 * and result handles are alive: onOp may read them with handleInfo / handleBytes). Traces do not
 * nest; the tracer is removed when fn returns or throws.
 */
export function traceOps<T>(fn: () => T, onOp: (op: TracedOp) => void): T {
  if (tracing) throw new ArgumentError('traceOps: a trace is already running');
  tracing = true;
  const previous = setOpTracer((ref, args, result) => {
    const dot = ref.name.lastIndexOf('.');
    const outputs: Handle[] = [];
    const value = outputsOf(result, outputs);
    if (ref.inplace && typeof args[0] === 'number') outputs[0] = args[0] as Handle;
    onOp({
      name: ref.name.slice(0, dot),
      overload: ref.name.slice(dot + 1),
      args: argsOf(ref, args),
      outputs,
      value,
      inplace: ref.inplace,
    });
  });
  try {
    return fn();
  } finally {
    setOpTracer(previous);
    tracing = false;
  }
}
