// Pieces shared by the zip and legacy .pth readers: storages, deferred tensors, the final tree check.
import { CheckpointError } from '../../errors.ts';
import { DTYPE_BYTES, type DType } from '../../tensor/dtype.ts';
import { printable } from '../file.ts';
import { PyObject, type PyValue } from '../py.ts';
import { checkView, DEFAULT_MAX_EXPAND, isContiguous, materialize, numel, type RawTensor } from '../raw.ts';
import { raiseHint } from './limits.ts';

/** A torch storage named by a persistent id; its bytes arrive when the reader reaches them. */
export class StorageRef {
  bytes: Uint8Array | null = null;
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
    /** For legacy storage views: the root storage and the element offset into it. */
    readonly root: { storage: StorageRef; offset: number } | null = null,
    /** For torch.QInt8Storage and friends: the quantized dtype (the bytes are dtype integers). */
    readonly qdtype?: 'qint8' | 'quint8' | 'qint32',
  ) {}

  get nbytes(): number {
    return this.numel * DTYPE_BYTES[this.dtype];
  }

  /** The storage's bytes, resolving legacy views into their root. */
  resolve(fail: (reason: string) => never): Uint8Array {
    if (this.root) {
      const rootBytes = this.root.storage.resolve(fail);
      const start = this.root.offset * DTYPE_BYTES[this.dtype];
      if (start + this.nbytes > rootBytes.byteLength) {
        fail(`storage view ${printable(this.key)} reaches past the end of storage ${printable(this.root.storage.key)}`);
      }
      return rootBytes.subarray(start, start + this.nbytes);
    }
    if (!this.bytes) fail(`storage ${printable(this.key)} is referenced but its data was never found`);
    return this.bytes;
  }
}

/** Everything the allowlisted constructors need from the reader. */
export interface LoadContext {
  fail(reason: string, hint?: string): never;
  /** A tensor whose bytes are filled in once every storage is read; errors go through fail when given. */
  rebuildTensor(
    storage: unknown,
    offset: unknown,
    size: unknown,
    stride: unknown,
    fail?: (reason: string) => never,
  ): RawTensor;
}

/** What the unpickler gives the allowlisted globals: the reader's context plus the VM's accounting. */
export interface VmContext extends LoadContext {
  /** counts estimated bytes against the file's allocation budget; call before allocating */
  charge(bytes: number): void;
  /** Python-hashable (a valid dict key or set item), in O(1) for tuples the VM built */
  isKey(x: unknown): boolean;
}

interface Pending {
  tensor: RawTensor;
  storage: StorageRef;
  offset: number;
  stride: number[];
}

const EMPTY = new Uint8Array(0);

/** Collects tensors during unpickling and fills their bytes afterwards (legacy storages follow the pickle). */
export class TensorBuilder {
  private pending: Pending[] = [];
  constructor(
    private readonly fail: (reason: string, hint?: string) => never,
    private readonly maxExpandBytes?: number,
  ) {}

  rebuild(
    storage: unknown,
    offset: unknown,
    size: unknown,
    stride: unknown,
    fail: (reason: string) => never = this.fail,
  ): RawTensor {
    if (!(storage instanceof StorageRef)) fail('tensor rebuilt from something that is not a storage');
    const shape = intList(size, 'size', fail);
    const strides = intList(stride, 'stride', fail);
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      fail(`invalid storage offset ${String(offset)}`);
    }
    if (shape.length !== strides.length) fail(`size [${shape}] and stride [${strides}] differ in length`);
    // Check against the declared storage size now, so a lying header fails before any bytes are read.
    const bad = checkView(
      { dtype: storage.dtype, shape, stride: strides, offset },
      storage.nbytes,
      this.maxExpandBytes,
    );
    if (bad) fail(bad);
    const tensor: RawTensor = { dtype: storage.dtype, shape, data: EMPTY };
    this.pending.push({ tensor, storage, offset, stride: strides });
    return tensor;
  }

  /**
   * Fills every tensor's bytes from its storage (zero-copy when contiguous). Gathered copies of
   * strided views may total at most the storages' size plus maxExpandBytes, so many views of one
   * storage cannot turn a small file into a huge allocation.
   */
  resolve(): void {
    const seen = new Set<StorageRef>();
    let budget = this.maxExpandBytes ?? DEFAULT_MAX_EXPAND;
    for (const p of this.pending) {
      if (!seen.has(p.storage)) budget += p.storage.nbytes;
      seen.add(p.storage);
    }
    for (const p of this.pending) {
      const bytes = p.storage.resolve(this.fail);
      const view = { dtype: p.tensor.dtype, shape: p.tensor.shape, stride: p.stride, offset: p.offset };
      const bad = checkView(view, bytes.byteLength, this.maxExpandBytes);
      if (bad) this.fail(bad);
      if (!isContiguous(view.shape, view.stride)) {
        budget -= numel(view.shape) * DTYPE_BYTES[view.dtype];
        if (budget < 0) this.fail('strided views would need more memory than the file justifies');
      }
      p.tensor.data = materialize(bytes, view, this.maxExpandBytes);
    }
    this.pending = [];
  }
}

function intList(x: unknown, what: string, fail: (r: string) => never): number[] {
  if (!Array.isArray(x)) fail(`tensor ${what} is not a tuple`);
  const out: number[] = [];
  for (const v of x) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`invalid tensor ${what} entry ${String(v)}`);
    out.push(v);
  }
  return out;
}

export interface TreeCheck {
  /** nesting limit (the reader's resolved maxDepth) */
  maxDepth: number;
  /** leaf objects a lazy reader puts in the tree (TensorRef) */
  isLeaf?: (v: object) => boolean;
}

/**
 * Refuses results a consumer could not walk safely: cycles, nesting deeper than maxDepth, and any
 * internal reader object (a bare storage, a class) left in the tree. Iterative, and linear in the
 * number of distinct nodes (a container shared by many parents is visited once).
 */
export function checkTree(root: unknown, file: string, opts: TreeCheck): PyValue {
  const done = new Set<object>();
  const onPath = new Set<object>();
  const stack: { node: object; kids: unknown[]; i: number }[] = [];
  const enter = (v: unknown): void => {
    if (v === null || typeof v !== 'object') {
      if (typeof v === 'function' || typeof v === 'symbol' || v === undefined) {
        throw new CheckpointError(file, `unsupported value of type ${typeof v} in the result`);
      }
      return;
    }
    if (done.has(v)) return;
    if (onPath.has(v)) throw new CheckpointError(file, 'the pickle builds a cyclic structure');
    if (stack.length >= opts.maxDepth)
      throw new CheckpointError(
        file,
        `containers nested deeper than ${opts.maxDepth} (the maxDepth limit)`,
        raiseHint('maxDepth', 'GRAFT_PICKLE_MAX_DEPTH', opts.maxDepth * 10),
      );
    onPath.add(v);
    stack.push({ node: v, kids: opts.isLeaf?.(v) ? [] : childrenOf(v, file), i: 0 });
  };
  enter(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.i < top.kids.length) {
      enter(top.kids[top.i++]);
    } else {
      stack.pop();
      onPath.delete(top.node);
      done.add(top.node);
    }
  }
  return root as PyValue;
}

function childrenOf(v: object, file: string): unknown[] {
  if (Array.isArray(v)) return v;
  if (v instanceof Uint8Array) return [];
  if (v instanceof Map) {
    const out: unknown[] = [];
    for (const [k, x] of v) out.push(k, x);
    if ('attributes' in v && v.attributes instanceof Map) for (const x of v.attributes.values()) out.push(x);
    return out;
  }
  if (v instanceof Set) return [...v];
  if (v instanceof PyObject) return [...v.attributes.values()];
  if (Object.getPrototypeOf(v) === Object.prototype && 'dtype' in v && 'data' in v) return [];
  const name = v instanceof StorageRef ? 'a bare storage' : (v.constructor?.name ?? 'object');
  throw new CheckpointError(file, `unsupported value in the result: ${name}`);
}
