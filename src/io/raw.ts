// The neutral tensor record every checkpoint format reads into and writes from: no libtorch needed.
import { ShapeError } from '../errors.ts';
import { DTYPE_BYTES, type DType, isDType } from '../tensor/dtype.ts';

/** A dense tensor as bytes: contiguous, little-endian, C order. `data.byteLength === numel(shape) * itemsize`. */
export interface RawTensor {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

/** Element count of a shape; ShapeError when a dim is not a non-negative safe integer or the product overflows. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new ShapeError(`invalid dimension ${d} in shape [${shape}]`);
    n *= d;
    if (!Number.isSafeInteger(n)) throw new ShapeError(`shape [${shape}] has more elements than 2^53`);
  }
  return n;
}

/** Bytes a contiguous tensor of this dtype and shape occupies. */
export function byteSize(dtype: DType, shape: readonly number[]): number {
  const n = numel(shape) * DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(n)) throw new ShapeError(`shape [${shape}] of ${dtype} is larger than 2^53 bytes`);
  return n;
}

/** True for objects shaped like a RawTensor with consistent sizes. */
export function isRawTensor(x: unknown): x is RawTensor {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || x instanceof Map) return false;
  const t = x as Partial<RawTensor>;
  return isDType(t.dtype) && Array.isArray(t.shape) && t.data instanceof Uint8Array;
}

/** Throws ShapeError unless t is a RawTensor whose byte length matches its dtype and shape. */
export function checkRawTensor(t: unknown, name = 'tensor'): asserts t is RawTensor {
  if (!isRawTensor(t)) throw new ShapeError(`${name} is not a RawTensor {dtype, shape, data: Uint8Array}`);
  const want = byteSize(t.dtype, t.shape);
  if (t.data.byteLength !== want) {
    throw new ShapeError(
      `${name}: ${t.dtype}[${t.shape}] needs ${want} bytes, data has ${t.data.byteLength}`,
      'data must be contiguous little-endian bytes in C order',
    );
  }
}

/** A RawTensor after checking sizes; zero-filled when data is omitted. */
export function rawTensor(dtype: DType, shape: readonly number[], data?: Uint8Array): RawTensor {
  if (!isDType(dtype)) throw new ShapeError(`unknown dtype ${String(dtype)}`);
  const t = { dtype, shape: [...shape], data: data ?? new Uint8Array(byteSize(dtype, shape)) };
  checkRawTensor(t);
  return t;
}

/** Row-major strides (in elements) of a contiguous tensor of this shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= Math.max(shape[i]!, 1);
  }
  return s;
}

/** True when stride describes C-contiguous layout (dims of size 1 may have any stride, as in PyTorch). */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 1) continue;
    if (stride[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

/** Default cap on bytes a view may expand to beyond its storage (256 MiB). */
export const DEFAULT_MAX_EXPAND = 256 * 2 ** 20;

/** Where a PyTorch tensor's elements sit inside its storage. Offsets and strides in elements. */
export interface ViewLayout {
  dtype: DType;
  shape: readonly number[];
  stride: readonly number[];
  offset: number;
}

/**
 * Why a view cannot be materialised from a storage of storageBytes, or null when it can:
 * shape/stride/offset must be non-negative safe integers, every element must lie inside the storage,
 * and the result may exceed the storage's size (zero strides, as from expand()) only up to maxExpandBytes.
 */
export function checkView(v: ViewLayout, storageBytes: number, maxExpandBytes = DEFAULT_MAX_EXPAND): string | null {
  if (v.shape.length !== v.stride.length) return `shape [${v.shape}] and stride [${v.stride}] differ in length`;
  if (!Number.isSafeInteger(v.offset) || v.offset < 0) return `invalid storage offset ${v.offset}`;
  const item = DTYPE_BYTES[v.dtype];
  const storageElems = Math.floor(storageBytes / item);
  let n = 1;
  let last = v.offset;
  for (let i = 0; i < v.shape.length; i++) {
    const d = v.shape[i]!;
    const s = v.stride[i]!;
    if (!Number.isSafeInteger(d) || d < 0) return `invalid size ${d} in shape [${v.shape}]`;
    if (!Number.isSafeInteger(s) || s < 0) return `invalid stride ${s} in stride [${v.stride}]`;
    n *= d;
    if (d > 0) last += (d - 1) * s;
    if (!Number.isSafeInteger(n) || !Number.isSafeInteger(last)) return `shape [${v.shape}] is too large`;
  }
  if (n === 0) return null;
  if (last >= storageElems) {
    return `view [${v.shape}] stride [${v.stride}] offset ${v.offset} reaches element ${last} of a storage with ${storageElems}`;
  }
  const bytes = n * item;
  if (bytes > storageBytes && bytes > maxExpandBytes) {
    return `view [${v.shape}] expands a ${storageBytes}-byte storage to ${bytes} bytes (limit ${maxExpandBytes})`;
  }
  return null;
}

/**
 * Contiguous bytes of a strided view of storage. A contiguous view returns a subarray (no copy:
 * tensors that shared a storage in PyTorch keep sharing bytes); others are gathered into a new array.
 * Throws ShapeError on views checkView rejects.
 */
export function materialize(storage: Uint8Array, v: ViewLayout, maxExpandBytes?: number): Uint8Array {
  const bad = checkView(v, storage.byteLength, maxExpandBytes);
  if (bad) throw new ShapeError(bad);
  const item = DTYPE_BYTES[v.dtype];
  const n = numel(v.shape);
  if (n === 0) return new Uint8Array(0);
  if (isContiguous(v.shape, v.stride)) return storage.subarray(v.offset * item, (v.offset + n) * item);
  const out = new Uint8Array(n * item);
  const nd = v.shape.length;
  const inner = v.shape[nd - 1]!;
  const innerStride = v.stride[nd - 1]!;
  const idx = new Array<number>(nd - 1).fill(0);
  let dst = 0;
  for (;;) {
    let base = v.offset;
    for (let i = 0; i < nd - 1; i++) base += idx[i]! * v.stride[i]!;
    if (innerStride === 1) {
      out.set(storage.subarray(base * item, (base + inner) * item), dst);
      dst += inner * item;
    } else {
      for (let j = 0; j < inner; j++) {
        const src = (base + j * innerStride) * item;
        for (let b = 0; b < item; b++) out[dst++] = storage[src + b]!;
      }
    }
    let k = nd - 2;
    while (k >= 0) {
      idx[k]!++;
      if (idx[k]! < v.shape[k]!) break;
      idx[k] = 0;
      k--;
    }
    if (k < 0) break;
  }
  return out;
}
