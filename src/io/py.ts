// How Python values from a checkpoint look in JS, and back.
//
// Rule (reading and writing):
//   None -> null, bool -> boolean, float -> number, int -> number (bigint beyond 2^53),
//   str -> string, bytes -> Uint8Array, list -> array, tuple -> frozen array (Object.isFrozen),
//   dict -> Map (always: keys may be ints, as in an optimizer's `state`, and Map keeps order),
//   collections.OrderedDict -> PyOrderedDict (a Map; attributes such as `_metadata` kept aside,
//   never as keys), set/frozenset -> Set, argparse.Namespace -> PyObject, tensor -> RawTensor,
//   torch.Size -> frozen array, torch.device -> 'cuda:0' style string, torch.float16 -> 'float16',
//   a quantized tensor -> RawTensor of its integers with `qdtype` and `quantizer` (pth/qtensor.ts).
// Writing also accepts plain objects (string keys) as dicts, and PyGlobal (torch.qint8) as a name.
import { CheckpointError } from '../errors.ts';
import { raiseHint, resolveLimits } from './pth/limits.ts';
import type { RawTensor } from './raw.ts';
import { isRawTensor } from './raw.ts';

export type PyKey = string | number | bigint | boolean | null | PyTuple;
export type PyTuple = readonly PyValue[];
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | RawTensor
  | PyValue[]
  | PyTuple
  | Map<PyKey, PyValue>
  | Set<PyKey>
  | PyObject;

/** What writePth accepts: PyValue plus plain objects as dicts and PyGlobal names, at any depth. */
export type PyInput =
  | PyValue
  | PyGlobal
  | readonly PyInput[]
  | Map<PyKey, PyInput>
  | Set<PyKey>
  | { readonly [key: string]: PyInput };

/** collections.OrderedDict: a Map in insertion order, with its instance attributes (state dicts carry `_metadata`). */
export class PyOrderedDict<K extends PyKey = PyKey, V extends PyValue = PyValue> extends Map<K, V> {
  readonly attributes = new Map<string, PyValue>();

  /** The `_metadata` attribute nn.Module.state_dict() attaches (per-module version numbers), if any. */
  get metadata(): PyValue | undefined {
    return this.attributes.get('_metadata');
  }
}

/** A module-level Python name that writePth writes as a GLOBAL (torch.qint8: a quantized Linear's dtype). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
}

/** An instance of an allowlisted plain-record class (argparse.Namespace): its class name and attributes. */
export class PyObject {
  constructor(
    readonly className: string,
    readonly attributes: Map<string, PyValue> = new Map(),
  ) {}
}

/** A Python tuple: a frozen array. */
export function tuple<T extends PyValue>(...items: T[]): readonly T[] {
  return Object.freeze(items);
}

export function isTuple(x: unknown): x is PyTuple {
  return Array.isArray(x) && Object.isFrozen(x);
}

const SCALAR = new Set(['string', 'number', 'bigint', 'boolean']);

/** Python keys must be hashable: scalars, strings and tuples of them. Iterative: any depth, shared tuples once. */
export function isPyKey(x: unknown): x is PyKey {
  if (x === null || SCALAR.has(typeof x)) return true;
  if (!isTuple(x)) return false;
  const seen = new Set<object>();
  const stack: PyTuple[] = [x];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    for (const y of t) {
      if (y === null || SCALAR.has(typeof y)) continue;
      if (!isTuple(y)) return false;
      stack.push(y);
    }
  }
  return true;
}

function childEntries(v: object): [PyKey, unknown][] | null {
  if (v instanceof Map) return [...v];
  if (Array.isArray(v)) return v.map((x, i) => [i, x]);
  if (v instanceof PyObject) return [...v.attributes];
  return null;
}

/**
 * Every tensor under a nested value, keyed by its path joined with '.', in traversal order:
 * `{'state_dict': OrderedDict(fc.weight=...)}` gives `state_dict.fc.weight`. A container reached
 * twice (shared in the pickle) is listed under its first path only, so the walk stays linear;
 * iterative, so depth is no limit.
 */
export function flattenTensors(tree: PyValue, prefix = ''): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  const seen = new Set<object>();
  const stack: [unknown, string][] = [[tree, prefix]];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (isRawTensor(v)) {
      out.set(path, v);
      continue;
    }
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array || seen.has(v)) continue;
    seen.add(v);
    const kids = childEntries(v);
    if (!kids) continue;
    for (let i = kids.length - 1; i >= 0; i--) {
      const [k, x] = kids[i]!;
      stack.push([x, path === '' ? String(k) : `${path}.${String(k)}`]);
    }
  }
  return out;
}

export interface PlainTreeOptions {
  /** for messages (default '<checkpoint tree>') */
  file?: string;
  /** nesting limit, as readPth's maxDepth (default: GRAFT_PICKLE_MAX_DEPTH or 1000) */
  maxDepth?: number;
}

function setKey(o: Record<string, unknown>, k: string, v: unknown): void {
  // a key named __proto__ is data, never the object's prototype
  if (k === '__proto__')
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/**
 * A loaded tree as plain JS: dicts whose keys are all strings become objects, other dicts stay Maps
 * (an optimizer's `state` is keyed by ints), lists and tuples become arrays; tensors, bytes, sets
 * and records stay as they are. Iterative and memoized: a container shared in the pickle becomes
 * one shared output (a file with shared structure cannot blow up), and nesting is limited like readPth's.
 */
export function plainTree(root: unknown, opts: PlainTreeOptions = {}): any {
  const maxDepth = opts.maxDepth ?? resolveLimits(0).maxDepth;
  const memo = new Map<object, unknown>();
  const tasks: { from: object; to: unknown; depth: number }[] = [];
  const shell = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v !== 'object' || isRawTensor(v) || v instanceof Uint8Array) return v;
    const done = memo.get(v);
    if (done !== undefined) return done;
    let to: unknown;
    if (Array.isArray(v)) to = new Array(v.length);
    else if (v instanceof Map) to = [...v.keys()].every((k) => typeof k === 'string') ? {} : new Map();
    else return v;
    if (depth > maxDepth)
      throw new CheckpointError(
        opts.file ?? '<checkpoint tree>',
        `containers nested deeper than ${maxDepth} (the maxDepth limit)`,
        raiseHint('maxDepth', 'GRAFT_PICKLE_MAX_DEPTH', maxDepth * 10),
      );
    memo.set(v, to);
    tasks.push({ from: v, to, depth });
    return to;
  };
  const out = shell(root, 1);
  while (tasks.length > 0) {
    const { from, to, depth } = tasks.pop()!;
    if (Array.isArray(from)) {
      const arr = to as unknown[];
      for (let i = 0; i < from.length; i++) arr[i] = shell(from[i], depth + 1);
    } else if (to instanceof Map) {
      for (const [k, x] of from as Map<unknown, unknown>) to.set(k, shell(x, depth + 1));
    } else {
      for (const [k, x] of from as Map<string, unknown>) setKey(to as Record<string, unknown>, k, shell(x, depth + 1));
    }
  }
  return out;
}
