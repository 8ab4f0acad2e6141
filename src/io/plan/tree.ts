// Walking what a checkpoint holds: tensor leaves (read, graft, or not yet read) inside dicts, lists
// and records, and picking the sub-dict that is the state dict (`state_dict`, `model`, `model.ema`).
import { crc32 } from 'node:zlib';
import { CheckpointError } from '../../errors.ts';
import type { DType } from '../../tensor/dtype.ts';
import { Tensor } from '../../tensor/index.ts';
import { type FileSource, printable } from '../file.ts';
import { PyObject } from '../py.ts';
import { isRawTensor, materialize, type RawTensor } from '../raw.ts';

/**
 * A tensor known by its header only (a safetensors entry, a .pth storage record): read when the
 * plan decides to load it, so a preview or a partial load never reads the rest of the file.
 */
export class TensorRef {
  /** Always empty (the bytes are read by read()); present so the unpickler's tensor checks accept a ref. */
  readonly data = new Uint8Array(0);

  constructor(
    readonly dtype: DType,
    readonly shape: number[],
    readonly file: string,
    /** absolute byte range of the storage holding it */
    readonly begin: number,
    readonly end: number,
    /** where it sits in that storage (elements); the whole storage, contiguous, when absent */
    readonly view?: { offset: number; stride: number[] },
    /** CRC-32 of the storage bytes, checked on read (zip entries) */
    readonly crc?: number,
  ) {}

  /** The tensor's bytes, from an open file. */
  read(src: FileSource): RawTensor {
    const bytes = src.read(this.begin, this.end - this.begin, 'tensor data');
    if (this.crc !== undefined && crc32(bytes) >>> 0 !== this.crc)
      throw new CheckpointError(src.path, 'zip: a storage entry fails its CRC-32 check (corrupt file)');
    if (!this.view) return { dtype: this.dtype, shape: [...this.shape], data: bytes };
    const data = materialize(bytes, { dtype: this.dtype, shape: this.shape, ...this.view });
    return { dtype: this.dtype, shape: [...this.shape], data };
  }
}

export type Leaf = RawTensor | Tensor | TensorRef;

export interface TensorInfo {
  dtype: DType;
  shape: number[];
}

export function isLeaf(v: unknown): v is Leaf {
  return v instanceof TensorRef || v instanceof Tensor || isRawTensor(v);
}

export const infoOf = (v: Leaf): TensorInfo => ({ dtype: v.dtype, shape: [...v.shape] });

const MAX_DEPTH = 64;

/** Children of a container as [key, value]: Map (dict, OrderedDict), array (list, tuple), record, plain object. */
export function childrenOf(v: unknown): [string, unknown][] | null {
  if (v === null || typeof v !== 'object' || isLeaf(v) || v instanceof Uint8Array) return null;
  if (v instanceof Map) return [...v].map(([k, x]) => [keyText(k), x]);
  if (Array.isArray(v)) return v.map((x, i) => [String(i), x]);
  if (v instanceof PyObject) return [...v.attributes];
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) return Object.entries(v);
  return null;
}

function keyText(k: unknown): string {
  return Array.isArray(k) ? `(${k.map(keyText).join(', ')})` : String(k);
}

/** Every tensor under v keyed by its dotted path; containers reached twice count once; depth is capped. */
export function flattenLeaves(v: unknown, prefix = ''): Map<string, Leaf> {
  const out = new Map<string, Leaf>();
  const seen = new Set<object>();
  const walk = (x: unknown, path: string, depth: number): void => {
    if (isLeaf(x)) {
      out.set(path, x);
      return;
    }
    const kids = depth < MAX_DEPTH && typeof x === 'object' && x !== null && !seen.has(x) ? childrenOf(x) : null;
    if (!kids) return;
    seen.add(x as object);
    for (const [k, c] of kids) walk(c, path === '' ? k : `${path}.${k}`, depth + 1);
  };
  walk(v, prefix, 0);
  return out;
}

function holdsTensors(v: unknown): boolean {
  return childrenOf(v) !== null && flattenLeaves(v).size > 0;
}

/** Sub-dicts `auto` looks for, in order of preference. */
export const AUTO_SUBDICTS = [
  'state_dict',
  'model_state_dict',
  'model',
  'module',
  'net',
  'network',
  'params',
  'weights',
];

export interface PickedDict {
  /** dotted path of the sub-dict taken ('' = the checkpoint itself) */
  path: string;
  auto: boolean;
  /** other sub-dicts holding tensors, next to the one taken (e.g. 'optimizer', 'model_ema') */
  alternatives: string[];
  tensors: Map<string, Leaf>;
}

/**
 * The state dict inside a checkpoint. `auto`: the checkpoint itself when it holds tensors at its top
 * level, else the first of AUTO_SUBDICTS present (or the only sub-dict holding tensors), descending
 * up to 4 levels; when several sub-dicts hold tensors and none is a known name, everything, flattened.
 * A path (`model.ema`) walks dicts by key (keys may contain dots); on flat files (safetensors) it
 * selects the keys under that prefix and strips it.
 */
export function pickSubDict(root: unknown, spec: string | null | undefined, file: string): PickedDict {
  if (isLeaf(root)) return { path: '', auto: false, alternatives: [], tensors: new Map([['', root]]) };
  if (childrenOf(root) === null)
    throw new CheckpointError(file, `holds a ${describeValue(root)}, not a dict of tensors`);
  const picked = spec === 'auto' || spec === undefined ? autoPick(root) : pathPick(root, spec ?? '', file);
  if (picked.tensors.size === 0) {
    const where = picked.path ? `sub-dict '${printable(picked.path)}'` : 'the checkpoint';
    throw new CheckpointError(file, `${where} holds no tensors`, `its keys: ${keysOf(root, picked.path)}`);
  }
  return picked;
}

function autoPick(root: unknown): PickedDict {
  let node = root;
  const path: string[] = [];
  let alternatives: string[] = [];
  for (let depth = 0; depth < 4; depth++) {
    const kids = childrenOf(node) ?? [];
    if (kids.some(([, v]) => isLeaf(v))) break;
    const holding = kids.filter(([, v]) => holdsTensors(v));
    if (holding.length === 0) break;
    const chosen =
      AUTO_SUBDICTS.map((c) => holding.find(([k]) => k === c)).find((x) => x !== undefined) ??
      (holding.length === 1 ? holding[0] : undefined);
    const prefix = path.length ? `${path.join('.')}.` : '';
    alternatives = holding.filter((h) => h !== chosen).map(([k]) => prefix + k);
    if (!chosen) break;
    path.push(chosen[0]);
    node = chosen[1];
  }
  return { path: path.join('.'), auto: true, alternatives, tensors: flattenLeaves(node) };
}

function pathPick(root: unknown, spec: string, file: string): PickedDict {
  let node = root;
  let rest = spec;
  const taken: string[] = [];
  while (rest !== '') {
    const kids = childrenOf(node) ?? [];
    let best: [string, unknown] | undefined;
    for (const kid of kids)
      if ((kid[0] === rest || rest.startsWith(`${kid[0]}.`)) && (!best || kid[0].length > best[0].length)) best = kid;
    if (best && childrenOf(best[1]) !== null) {
      taken.push(best[0]);
      node = best[1];
      rest = rest === best[0] ? '' : rest.slice(best[0].length + 1);
      continue;
    }
    // flat files: 'model' selects the keys 'model.*'
    const flat = new Map<string, Leaf>();
    for (const [k, v] of flattenLeaves(node)) if (k.startsWith(`${rest}.`)) flat.set(k.slice(rest.length + 1), v);
    if (flat.size > 0) return { path: spec, auto: false, alternatives: [], tensors: flat };
    const at = taken.length ? `'${printable(taken.join('.'))}'` : 'the top level';
    throw new CheckpointError(
      file,
      best
        ? `sub-dict '${printable(spec)}': '${printable(best[0])}' is a ${describeValue(best[1])}, not a dict`
        : `no sub-dict '${printable(spec)}': the keys at ${at} are ${keysOf(node, '')}`,
      "pick one of those, or subDict: 'auto' (graft inspect FILE shows the tree)",
    );
  }
  return { path: taken.join('.'), auto: false, alternatives: [], tensors: flattenLeaves(node) };
}

function keysOf(root: unknown, path: string): string {
  let node = root;
  for (const part of path ? path.split('.') : []) node = (childrenOf(node) ?? []).find(([k]) => k === part)?.[1];
  const keys = (childrenOf(node) ?? []).map(([k]) => printable(k, 60));
  if (keys.length === 0) return 'none';
  return keys.length > 12 ? `${keys.slice(0, 12).join(', ')}, ... (${keys.length} in all)` : keys.join(', ');
}

export function describeValue(v: unknown): string {
  if (v === null) return 'None';
  if (isLeaf(v)) return `tensor ${v.dtype}[${v.shape.join(', ')}]`;
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'tuple' : 'list';
  if (v instanceof Map) return v.constructor.name === 'PyOrderedDict' ? 'OrderedDict' : 'dict';
  if (v instanceof PyObject) return v.className;
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof Set) return 'set';
  return typeof v === 'bigint' ? 'int' : typeof v === 'number' ? 'number' : typeof v;
}
