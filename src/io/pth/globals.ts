// The allowlist of Python globals a checkpoint may name, each implemented in TypeScript.
// Anything else is refused by name; nothing from the file is ever executed.
import type { DType } from '../../tensor/dtype.ts';
import { printable } from '../file.ts';
import { type PyKey, PyObject, PyOrderedDict, type PyValue } from '../py.ts';
import type { RawTensor } from '../raw.ts';
import { isRawTensor } from '../raw.ts';
import { COST } from './limits.ts';
import { noQuantizedStorage, type QDtypeName, rebuildQtensor } from './qtensor.ts';
import type { VmContext } from './storage.ts';

/** A global the unpickler pushed: what REDUCE / NEWOBJ may do with it. */
export class GlobalRef {
  constructor(
    readonly name: string,
    readonly call?: (args: readonly unknown[], ctx: VmContext) => unknown,
    readonly construct?: (args: readonly unknown[], ctx: VmContext) => unknown,
    /** Set on torch.*Storage classes: the element dtype. */
    readonly storageDtype?: DType,
    /** Set on torch.QInt8Storage and friends: the quantized dtype its elements are. */
    readonly storageQdtype?: QDtypeName,
  ) {}
}

/** Storages of quantized tensors: their elements' integer dtype (what the bytes hold) and quantized dtype. */
const QSTORAGES: Record<string, [DType, QDtypeName]> = {
  QInt8Storage: ['int8', 'qint8'],
  QUInt8Storage: ['uint8', 'quint8'],
  QInt32Storage: ['int32', 'qint32'],
};
const QDTYPES: readonly string[] = ['qint8', 'quint8', 'qint32'];
const QSCHEMES: readonly string[] = ['per_tensor_affine', 'per_channel_affine'];

const STORAGES: Record<string, DType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};

const DTYPES: readonly DType[] = [
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'bool',
];

/** The allowlist, for documentation and tests. */
export const ALLOWED_GLOBALS: readonly string[] = [
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch._tensor._rebuild_from_type_v2',
  'torch.Tensor',
  'torch.nn.parameter.Parameter',
  'torch.Size',
  'torch.device',
  '_codecs.encode',
  'builtins.set',
  'builtins.frozenset',
  'argparse.Namespace',
  ...Object.keys(STORAGES).map((s) => `torch.${s}`),
  ...Object.keys(STORAGES)
    .filter((s) => s !== 'UntypedStorage')
    .map((s) => `torch.cuda.${s}`),
  ...DTYPES.map((d) => `torch.${d}`),
  'torch._utils._rebuild_qtensor',
  ...Object.keys(QSTORAGES).map((s) => `torch.${s}`),
  ...QDTYPES.map((d) => `torch.${d}`),
  ...QSCHEMES.map((q) => `torch.${q}`),
];

const hint = 'graft loads tensors and plain containers only; re-save the checkpoint with just the state dict';

function hintFor(module: string): string {
  if (module === 'numpy' || module.startsWith('numpy.')) {
    return 'the checkpoint holds numpy values; in PyTorch convert them (float(x), torch.from_numpy(a)) and re-save';
  }
  if (module === '__main__' || module.startsWith('torch.nn.modules') || module.startsWith('torchvision.')) {
    return 'the checkpoint pickles a whole model object; in PyTorch, torch.save(model.state_dict(), path)';
  }
  return hint;
}

/** Resolves GLOBAL / STACK_GLOBAL: a GlobalRef, a plain value (dtypes become their names), or a refusal. */
export function resolveGlobal(module: string, name: string, ctx: VmContext): GlobalRef | string {
  // Python 2 spellings that protocol-2 pickles use for builtins.
  if (module === '__builtin__') module = 'builtins';
  const full = printable(`${module}.${name}`);
  if ((module === 'torch' || module === 'torch.cuda') && Object.hasOwn(STORAGES, name)) {
    if (module === 'torch.cuda' && name === 'UntypedStorage') ctx.fail(`global ${full} is not allowed`, hint);
    return new GlobalRef(full, undefined, undefined, STORAGES[name]);
  }
  if (module === 'torch' && Object.hasOwn(QSTORAGES, name)) {
    const [dtype, qdtype] = QSTORAGES[name]!;
    return new GlobalRef(full, undefined, undefined, dtype, qdtype);
  }
  if (module === 'torch' && (DTYPES as readonly string[]).includes(name)) return name;
  // a quantized dtype (a Linear's `_packed_params.dtype`) becomes its name, as the float dtypes do
  if (module === 'torch' && QDTYPES.includes(name)) return name;
  // a qscheme stays a GlobalRef: valid only inside _rebuild_qtensor's quantizer tuple (checkTree refuses it elsewhere)
  if (module === 'torch' && QSCHEMES.includes(name)) return new GlobalRef(full);
  if (!Object.hasOwn(TABLE, full)) ctx.fail(`global ${full} is not allowed`, hintFor(module));
  return TABLE[full]!;
}

function arity(args: readonly unknown[], n: number | number[], what: string, ctx: VmContext): void {
  const ok = Array.isArray(n) ? n.includes(args.length) : args.length === n;
  if (!ok) ctx.fail(`${what} called with ${args.length} arguments`);
}

function tensorArg(x: unknown, what: string, ctx: VmContext): RawTensor {
  if (!isRawTensor(x)) ctx.fail(`${what} expects a tensor`);
  return x;
}

function rebuildV2(args: readonly unknown[], ctx: VmContext): unknown {
  noQuantizedStorage(args[0], '_rebuild_tensor_v2', ctx);
  // (storage, offset, size, stride, requires_grad, backward_hooks[, metadata]) — metadata since torch 2.x
  arity(args, [6, 7], '_rebuild_tensor_v2', ctx);
  return ctx.rebuildTensor(args[0], args[1], args[2], args[3]);
}

const TABLE: Record<string, GlobalRef> = {
  'collections.OrderedDict': new GlobalRef('collections.OrderedDict', (args: readonly unknown[], ctx: VmContext) => {
    const d = new PyOrderedDict();
    if (args.length === 0) return d;
    // OrderedDict([(k, v), ...]) from older picklers
    if (args.length !== 1 || !Array.isArray(args[0])) ctx.fail('OrderedDict called with unsupported arguments');
    ctx.charge(COST.dictItem * args[0].length);
    for (const pair of args[0]) {
      if (!Array.isArray(pair) || pair.length !== 2 || !ctx.isKey(pair[0])) ctx.fail('OrderedDict item is not a pair');
      d.set(pair[0] as PyKey, pair[1] as PyValue);
    }
    return d;
  }),
  'torch._utils._rebuild_tensor_v2': new GlobalRef('torch._utils._rebuild_tensor_v2', rebuildV2),
  'torch._utils._rebuild_tensor': new GlobalRef(
    'torch._utils._rebuild_tensor',
    (args: readonly unknown[], ctx: VmContext) => {
      arity(args, 4, '_rebuild_tensor', ctx);
      noQuantizedStorage(args[0], '_rebuild_tensor', ctx);
      return ctx.rebuildTensor(args[0], args[1], args[2], args[3]);
    },
  ),
  'torch._utils._rebuild_parameter': new GlobalRef(
    'torch._utils._rebuild_parameter',
    (args: readonly unknown[], ctx: VmContext) => {
      arity(args, 3, '_rebuild_parameter', ctx);
      return tensorArg(args[0], '_rebuild_parameter', ctx);
    },
  ),
  // Python attributes set on a Parameter (the 4th argument) are dropped: a RawTensor has none.
  'torch._utils._rebuild_parameter_with_state': new GlobalRef(
    'torch._utils._rebuild_parameter_with_state',
    (args: readonly unknown[], ctx: VmContext) => {
      arity(args, 4, '_rebuild_parameter_with_state', ctx);
      return tensorArg(args[0], '_rebuild_parameter_with_state', ctx);
    },
  ),
  // Tensors with Python attributes: (func, type, args, state); only plain tensor types and rebuild funcs.
  'torch._tensor._rebuild_from_type_v2': new GlobalRef(
    'torch._tensor._rebuild_from_type_v2',
    (args: readonly unknown[], ctx: VmContext) => {
      arity(args, 4, '_rebuild_from_type_v2', ctx);
      const [fn, type, inner] = args;
      const types = ['torch.Tensor', 'torch.nn.parameter.Parameter'];
      if (!(type instanceof GlobalRef) || !types.includes(type.name)) ctx.fail('_rebuild_from_type_v2 of a non-tensor');
      if (!(fn instanceof GlobalRef) || !fn.name.startsWith('torch._utils._rebuild_') || !fn.call) {
        ctx.fail('_rebuild_from_type_v2 with a function that is not a tensor rebuild');
      }
      if (!Array.isArray(inner)) ctx.fail('_rebuild_from_type_v2 arguments are not a tuple');
      return tensorArg(fn.call(inner, ctx), '_rebuild_from_type_v2', ctx);
    },
  ),
  'torch._utils._rebuild_qtensor': new GlobalRef('torch._utils._rebuild_qtensor', rebuildQtensor),
  'torch.Tensor': new GlobalRef('torch.Tensor'),
  'torch.nn.parameter.Parameter': new GlobalRef('torch.nn.parameter.Parameter'),
  'torch.Size': new GlobalRef('torch.Size', (args: readonly unknown[], ctx: VmContext) => {
    arity(args, 1, 'torch.Size', ctx);
    const dims = args[0];
    if (!Array.isArray(dims) || !dims.every((d) => typeof d === 'number' && Number.isSafeInteger(d))) {
      ctx.fail('torch.Size of something other than integers');
    }
    ctx.charge(COST.list + COST.listItem * dims.length);
    return Object.freeze([...dims]);
  }),
  'torch.device': new GlobalRef('torch.device', (args: readonly unknown[], ctx: VmContext) => {
    const [type, index] = args;
    if (typeof type !== 'string' || args.length > 2) ctx.fail('torch.device called with unsupported arguments');
    if (args.length === 1 || index === null) return type;
    if (typeof index !== 'number' || !Number.isSafeInteger(index)) ctx.fail('torch.device index is not an integer');
    return `${type}:${index}`;
  }),
  // protocol 2 pickles bytes as _codecs.encode(latin1_text, 'latin1')
  '_codecs.encode': new GlobalRef('_codecs.encode', (args: readonly unknown[], ctx: VmContext) => {
    const [text, enc] = args;
    if (typeof text !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) {
      ctx.fail('_codecs.encode supports only (str, "latin1")');
    }
    // charged before allocating: the same memoized text may be encoded again and again
    ctx.charge(COST.string + text.length);
    if (/[\u0100-\uffff]/.test(text)) ctx.fail('_codecs.encode: character outside latin1');
    const out = new Uint8Array(text.length);
    Buffer.from(out.buffer, out.byteOffset, out.length).write(text, 'latin1');
    return out;
  }),
  'builtins.set': new GlobalRef('builtins.set', (args: readonly unknown[], ctx: VmContext) => makeSet(args, ctx)),
  'builtins.frozenset': new GlobalRef('builtins.frozenset', (args: readonly unknown[], ctx: VmContext) =>
    makeSet(args, ctx),
  ),
  'argparse.Namespace': new GlobalRef('argparse.Namespace', undefined, (args: readonly unknown[], ctx: VmContext) => {
    if (args.length !== 0) ctx.fail('argparse.Namespace constructed with arguments');
    return new PyObject('argparse.Namespace');
  }),
};

function makeSet(args: readonly unknown[], ctx: VmContext): Set<PyKey> {
  if (args.length === 0) return new Set();
  if (args.length !== 1 || !Array.isArray(args[0])) ctx.fail('set called with unsupported arguments');
  // charged before building: set(x) on one memoized list, called many times, copies it each time
  ctx.charge(COST.dict + COST.dictItem * args[0].length);
  const s = new Set<PyKey>();
  for (const x of args[0]) {
    if (!ctx.isKey(x)) ctx.fail('set item is not hashable');
    s.add(x);
  }
  return s;
}
