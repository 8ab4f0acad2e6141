// Tensor creation: from JS data, constants, ranges and random numbers.
import { ArgumentError } from '../errors.ts';
import { callRaw, mapError, native, op } from './_core.ts';
import { DTYPE_BYTES, DTYPE_CODE, type DType, isDType } from './dtype.ts';
import { Tensor } from './tensor.ts';

export interface TensorOptions {
  dtype?: DType;
  device?: string;
  requiresGrad?: boolean;
}

function code(d: DType | undefined): number | null {
  if (d === undefined) return null;
  if (!isDType(d)) throw new ArgumentError(`unknown dtype '${d}'`, `use one of ${Object.keys(DTYPE_CODE).join(', ')}`);
  return DTYPE_CODE[d];
}

function finish(t: Tensor, o: TensorOptions): Tensor {
  if (o.requiresGrad) t.requiresGrad = true;
  return t;
}

function checkShape(shape: number[]): number[] {
  for (const s of shape)
    if (!Number.isInteger(s) || s < 0) throw new ArgumentError(`invalid shape [${shape}]: sizes must be integers >= 0`);
  return shape;
}

// creation ops take (..., dtype, layout, device, pin_memory)
const tail = (o: TensorOptions): unknown[] => [code(o.dtype), null, o.device ?? null];

export const zeros = (shape: number[], o: TensorOptions = {}): Tensor =>
  finish(new Tensor(callRaw(op('aten::zeros'), checkShape(shape), ...tail(o))), o);
export const ones = (shape: number[], o: TensorOptions = {}): Tensor =>
  finish(new Tensor(callRaw(op('aten::ones'), checkShape(shape), ...tail(o))), o);
export const empty = (shape: number[], o: TensorOptions = {}): Tensor =>
  finish(new Tensor(callRaw(op('aten::empty', 'memory_format'), checkShape(shape), ...tail(o))), o);
export const full = (shape: number[], value: number, o: TensorOptions = {}): Tensor =>
  finish(new Tensor(callRaw(op('aten::full'), checkShape(shape), value, ...tail({ dtype: 'float32', ...o }))), o);
export const rand = (shape: number[], o: TensorOptions = {}): Tensor =>
  finish(new Tensor(callRaw(op('aten::rand'), checkShape(shape), ...tail(o))), o);
export const randn = (shape: number[], o: TensorOptions = {}): Tensor =>
  finish(new Tensor(callRaw(op('aten::randn'), checkShape(shape), ...tail(o))), o);
/** Integers uniformly in [low, high), int64 unless a dtype is given. */
export const randint = (low: number, high: number, shape: number[], o: TensorOptions = {}): Tensor =>
  finish(
    new Tensor(callRaw(op('aten::randint', 'low'), low, high, checkShape(shape), ...tail({ dtype: 'int64', ...o }))),
    o,
  );
export const randperm = (n: number, o: TensorOptions = {}): Tensor =>
  new Tensor(callRaw(op('aten::randperm'), n, ...tail({ dtype: 'int64', ...o })));
/** arange(end) or arange(start, end, step); int64 when all bounds are integers, as PyTorch. */
export function arange(start: number, end?: number, step = 1, o: TensorOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  return finish(new Tensor(callRaw(op('aten::arange', 'start_step'), start, end, step, ...tail(o))), o);
}
export const linspace = (start: number, end: number, steps: number, o: TensorOptions = {}): Tensor =>
  finish(new Tensor(callRaw(op('aten::linspace'), start, end, steps, ...tail(o))), o);
export const eye = (n: number, o: TensorOptions = {}): Tensor =>
  finish(new Tensor(callRaw(op('aten::eye'), n, ...tail(o))), o);

export const zerosLike = (t: Tensor, o: TensorOptions = {}): Tensor =>
  finish(new Tensor(callRaw(op('aten::zeros_like'), t.h, ...tail(o))), o);
export const onesLike = (t: Tensor, o: TensorOptions = {}): Tensor =>
  finish(new Tensor(callRaw(op('aten::ones_like'), t.h, ...tail(o))), o);
export const fullLike = (t: Tensor, value: number, o: TensorOptions = {}): Tensor =>
  finish(new Tensor(callRaw(op('aten::full_like'), t.h, value, ...tail(o))), o);
export const randnLike = (t: Tensor, o: TensorOptions = {}): Tensor =>
  finish(new Tensor(callRaw(op('aten::randn_like'), t.h, ...tail(o))), o);

function fromBytes(data: ArrayBufferView, shape: number[], dt: DType): Tensor {
  try {
    return new Tensor(native.fromBuffer(data, shape, DTYPE_CODE[dt]));
  } catch (e) {
    throw mapError(e);
  }
}

type Nested = number | boolean | Nested[];
type Data = ArrayBufferView | Nested[] | number | boolean;

const DTYPE_OF_VIEW = new Map<unknown, DType>([
  [Float32Array, 'float32'],
  [Float64Array, 'float64'],
  [BigInt64Array, 'int64'],
  [Int32Array, 'int32'],
  [Int16Array, 'int16'],
  [Int8Array, 'int8'],
  [Uint8Array, 'uint8'],
]);

const VIEW_OF_DTYPE: Partial<Record<DType, (n: number[]) => ArrayBufferView>> = {
  float32: (n) => Float32Array.from(n),
  float64: (n) => Float64Array.from(n),
  int64: (n) => BigInt64Array.from(n, (v) => BigInt(Math.trunc(v))),
  int32: (n) => Int32Array.from(n),
  int16: (n) => Int16Array.from(n),
  int8: (n) => Int8Array.from(n),
  uint8: (n) => Uint8Array.from(n),
  bool: (n) => Uint8Array.from(n, (v) => (v ? 1 : 0)),
};

function flattenNested(data: Nested[], shape: number[], out: (number | boolean)[], depth = 0): void {
  const n = data.length;
  if (depth === shape.length) shape.push(n);
  else if (shape[depth] !== n)
    throw new ArgumentError(`tensor(): ragged nested array at depth ${depth}: ${n} vs ${shape[depth]}`);
  for (const v of data) {
    if (Array.isArray(v)) flattenNested(v, shape, out, depth + 1);
    else {
      if (depth !== shape.length - 1) throw new ArgumentError('tensor(): ragged nested array');
      out.push(v);
    }
  }
}

/**
 * A tensor from JS data (nested arrays, a number, or a typed array with `shape`).
 * Plain JS numbers become float32 unless `dtype` says otherwise (JS cannot tell 1 from 1.0).
 */
export function tensor(data: Data, o: TensorOptions & { shape?: number[] } = {}): Tensor {
  let t: Tensor;
  if (ArrayBuffer.isView(data)) {
    const dt = o.dtype ?? DTYPE_OF_VIEW.get(data.constructor);
    if (!dt) throw new ArgumentError(`tensor(): unsupported typed array ${data.constructor.name}; pass dtype`);
    const n = data.byteLength / DTYPE_BYTES[dt];
    t = fromBytes(data, o.shape ?? [n], dt);
  } else {
    const shape: number[] = [];
    const flat: (number | boolean)[] = [];
    if (Array.isArray(data)) flattenNested(data, shape, flat);
    else flat.push(data);
    const dt = o.dtype ?? (typeof flat[0] === 'boolean' ? 'bool' : 'float32');
    const make = VIEW_OF_DTYPE[dt];
    const nums = flat.map(Number);
    if (!make) {
      const wide = fromBytes(Float32Array.from(nums), o.shape ?? shape, 'float32');
      t = wide.to(dt);
      wide.dispose();
    } else t = fromBytes(make(nums), o.shape ?? shape, dt);
  }
  if (o.device && o.device !== 'cpu') {
    const moved = t.to({ device: o.device });
    t.dispose();
    t = moved;
  }
  return finish(t, o);
}

/** Alias of tensor() for typed arrays with an explicit shape. */
export const fromArray = (data: ArrayBufferView, shape: number[], o: TensorOptions = {}): Tensor =>
  tensor(data, { ...o, shape });
/** A scalar (0-dim) tensor. */
export const scalarTensor = (v: number, o: TensorOptions = {}): Tensor => tensor(v, o);
