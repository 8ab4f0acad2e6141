// Reading optimizer state dicts in the shapes they arrive in: from stateDict() (Map state,
// plain-object groups), from JSON (string keys), or from a PyTorch .pth through src/io (dicts
// as Maps, tensors as RawTensor records {dtype, shape, data}); and torch.optim's `cast`.
import { ArgumentError } from '../errors.ts';
import { aten, DTYPE_CODE, type DType, isDType, Tensor, tensor } from '../tensor/index.ts';

type Dict = Record<string, unknown>;

const isRaw = (v: unknown): v is { dtype: DType; shape: number[]; data: Uint8Array } =>
  v !== null &&
  typeof v === 'object' &&
  !(v instanceof Map) &&
  isDType((v as Dict).dtype) &&
  Array.isArray((v as Dict).shape) &&
  (v as Dict).data instanceof Uint8Array;

const isPlain = (v: unknown): v is Dict =>
  v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;

/** A Map or plain object as [key, value] pairs; undefined for anything else. */
function entriesOf(v: unknown): [unknown, unknown][] | undefined {
  if (v instanceof Map) return [...v.entries()];
  if (isPlain(v) && !isRaw(v)) return Object.entries(v);
  return undefined;
}

/** A Map or plain object as a plain object with string keys. */
function asDict(v: unknown, what: string): Dict {
  const e = entriesOf(v);
  if (!e) throw new ArgumentError(`loadStateDict: ${what} must be a dict (object or Map), got ${typeof v}`);
  return Object.fromEntries(e.map(([k, x]) => [String(k), x]));
}

export interface NormalizedStateDict {
  state: [number, unknown][];
  param_groups: Dict[];
}

export function normalizeStateDict(sd: unknown): NormalizedStateDict {
  const top = asDict(sd, 'the state dict');
  if (!('state' in top) || !('param_groups' in top))
    throw new ArgumentError(`loadStateDict: expected { state, param_groups }, got keys ${Object.keys(top).join(', ')}`);
  const groups = top.param_groups;
  if (!Array.isArray(groups)) throw new ArgumentError('loadStateDict: param_groups must be an array');
  const param_groups = groups.map((g, i) => {
    const d = asDict(g, `param_groups[${i}]`);
    if (!Array.isArray(d.params)) throw new ArgumentError(`loadStateDict: param_groups[${i}].params must be an array`);
    return d;
  });
  const state = (entriesOf(top.state) ?? []).map(([k, v]): [number, unknown] => {
    const n = Number(k);
    if (!Number.isInteger(n)) throw new ArgumentError(`loadStateDict: state key ${String(k)} is not a parameter index`);
    return [n, v];
  });
  if (!entriesOf(top.state)) throw new ArgumentError('loadStateDict: state must be a dict (object or Map)');
  return { state, param_groups };
}

/** A deep copy with tensors cast like torch.optim's load_state_dict: to p's dtype (if floating) and device, except `step`. */
export function castState(p: Tensor, v: unknown, key?: string): unknown {
  if (isRaw(v)) {
    const t = tensor(v.data, { dtype: v.dtype, shape: v.shape });
    const out = castState(p, t, key);
    t.dispose();
    return out;
  }
  if (v instanceof Tensor) {
    if (key === 'step') return v.clone().keep();
    const dtype = p.isFloatingPoint ? DTYPE_CODE[p.dtype] : null;
    return (aten('aten::to', 'dtype_layout')(v, dtype, null, p.device, null, false, true) as Tensor).keep();
  }
  if (Array.isArray(v)) return v.map((x) => castState(p, x));
  const e = entriesOf(v);
  if (e) return Object.fromEntries(e.map(([k, x]) => [String(k), castState(p, x, String(k))]));
  return v;
}
