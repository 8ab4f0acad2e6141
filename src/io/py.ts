// How Python values from a checkpoint look in JS, and back.
//
// Rule (reading and writing):
//   None -> null, bool -> boolean, float -> number, int -> number (bigint beyond 2^53),
//   str -> string, bytes -> Uint8Array, list -> array, tuple -> frozen array (Object.isFrozen),
//   dict -> Map (always: keys may be ints, as in an optimizer's `state`, and Map keeps order),
//   collections.OrderedDict -> PyOrderedDict (a Map; attributes such as `_metadata` kept aside,
//   never as keys), set/frozenset -> Set, argparse.Namespace -> PyObject, tensor -> RawTensor,
//   torch.Size -> frozen array, torch.device -> 'cuda:0' style string, torch.float16 -> 'float16'.
// Writing also accepts plain objects (string keys) as dicts.
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

/** What writePth accepts: PyValue plus plain objects as dicts, at any depth. */
export type PyInput =
  | PyValue
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

/** Python keys must be hashable: scalars, strings and tuples of them. */
export function isPyKey(x: unknown): x is PyKey {
  if (x === null) return true;
  const t = typeof x;
  if (t === 'string' || t === 'number' || t === 'bigint' || t === 'boolean') return true;
  return isTuple(x) && x.every(isPyKey);
}

/**
 * Every tensor under a nested value, keyed by its path joined with '.', in traversal order:
 * `{'state_dict': OrderedDict(fc.weight=...)}` gives `state_dict.fc.weight`. A container reached
 * twice (shared in the pickle) is listed under its first path only, so the walk stays linear.
 */
export function flattenTensors(tree: PyValue, prefix = ''): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  const seen = new Set<object>();
  const walk = (v: PyValue, path: string): void => {
    if (isRawTensor(v)) {
      out.set(path, v);
      return;
    }
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array || seen.has(v)) return;
    seen.add(v);
    const join = (k: PyKey) => (path === '' ? String(k) : `${path}.${String(k)}`);
    if (v instanceof Map) for (const [k, x] of v) walk(x, join(k));
    else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) walk(v[i]!, join(i));
    else if (v instanceof PyObject) for (const [k, x] of v.attributes) walk(x, join(k));
  };
  walk(tree, prefix);
  return out;
}
