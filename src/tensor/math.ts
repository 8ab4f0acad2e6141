// Elementwise math, comparisons, matrix products, dtype/device conversion, data out.
import { ArgumentError } from '../errors.ts';
import { callRaw, defOp, native, op } from './_core.ts';
import { DTYPE_CODE, type DType, isDType } from './dtype.ts';
import { Tensor, type TensorLike, wrap } from './tensor.ts';

export type TypedArray = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array;

const isT = (x: TensorLike): x is Tensor => x instanceof Tensor;

// hot ops keep their resolved callers in closures (no name lookup per call)
function binary(name: string): (a: Tensor, b: TensorLike, alpha?: number) => Tensor {
  const withTensor = defOp(name, 'Tensor');
  const withScalar = defOp(name, 'Scalar');
  return (a, b, alpha) => {
    if (isT(b)) return new Tensor(alpha === undefined ? withTensor(a.h, b.h) : withTensor(a.h, b.h, alpha));
    return new Tensor(alpha === undefined ? withScalar(a.h, b) : withScalar(a.h, b, alpha));
  };
}

export const add: (a: Tensor, b: TensorLike, alpha?: number) => Tensor = binary('aten::add');
export const sub: (a: Tensor, b: TensorLike, alpha?: number) => Tensor = binary('aten::sub');
export const mul: (a: Tensor, b: TensorLike) => Tensor = binary('aten::mul');
export const div: (a: Tensor, b: TensorLike) => Tensor = binary('aten::div');

export function pow(a: Tensor, e: TensorLike): Tensor {
  return isT(e)
    ? new Tensor(callRaw(op('aten::pow', 'Tensor_Tensor'), a.h, e.h))
    : new Tensor(callRaw(op('aten::pow', 'Tensor_Scalar'), a.h, e));
}

export type UnaryName =
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'rsqrt'
  | 'abs'
  | 'sign'
  | 'sin'
  | 'cos'
  | 'tanh'
  | 'sigmoid'
  | 'reciprocal'
  | 'floor'
  | 'ceil'
  | 'round'
  | 'log1p'
  | 'expm1'
  | 'erf'
  | 'logical_not'
  | 'isnan'
  | 'isinf'
  | 'isfinite';

export const unary = (name: UnaryName, a: Tensor): Tensor => new Tensor(callRaw(op(`aten::${name}`), a.h));

export function clamp(a: Tensor, min?: number, max?: number): Tensor {
  if (min === undefined && max === undefined) throw new ArgumentError('clamp: give min, max or both');
  return new Tensor(callRaw(op('aten::clamp'), a.h, min ?? null, max ?? null));
}
export const maximum = (a: Tensor, b: Tensor): Tensor => new Tensor(callRaw(op('aten::maximum'), a.h, b.h));
export const minimum = (a: Tensor, b: Tensor): Tensor => new Tensor(callRaw(op('aten::minimum'), a.h, b.h));

export function compare(name: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge', a: Tensor, b: TensorLike): Tensor {
  return isT(b)
    ? new Tensor(callRaw(op(`aten::${name}`, 'Tensor'), a.h, b.h))
    : new Tensor(callRaw(op(`aten::${name}`, 'Scalar'), a.h, b));
}

/** where(cond, a, b): elements of a where cond is true, else of b. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (isT(a) && isT(b)) return new Tensor(callRaw(op('aten::where', 'self'), cond.h, a.h, b.h));
  if (isT(a)) return new Tensor(callRaw(op('aten::where', 'ScalarOther'), cond.h, a.h, b));
  if (isT(b)) return new Tensor(callRaw(op('aten::where', 'ScalarSelf'), cond.h, a, b.h));
  return new Tensor(callRaw(op('aten::where', 'Scalar'), cond.h, a, b));
}

export const matmul = (a: Tensor, b: Tensor): Tensor => new Tensor(callRaw(op('aten::matmul'), a.h, b.h));
export const mm = (a: Tensor, b: Tensor): Tensor => new Tensor(callRaw(op('aten::mm'), a.h, b.h));
export const bmm = (a: Tensor, b: Tensor): Tensor => new Tensor(callRaw(op('aten::bmm'), a.h, b.h));
export const addmm = (bias: Tensor, a: Tensor, b: Tensor, beta = 1, alpha = 1): Tensor =>
  new Tensor(callRaw(op('aten::addmm'), bias.h, a.h, b.h, beta, alpha));
/** y = x W^T + b, as torch.nn.functional.linear. */
const linearOp = defOp('aten::linear');
export const linear = (x: Tensor, w: Tensor, b?: Tensor): Tensor => new Tensor(linearOp(x.h, w.h, b?.h));

// ---- in place ----
export function inplace<T extends Tensor>(
  name: 'add_' | 'sub_' | 'mul_' | 'div_',
  a: T,
  b: TensorLike,
  alpha?: number,
): T {
  const ov = isT(b) ? 'Tensor' : 'Scalar';
  const bv = isT(b) ? b.h : b;
  if (alpha === undefined) callRaw(op(`aten::${name}`, ov), a.h, bv);
  else callRaw(op(`aten::${name}`, ov), a.h, bv, alpha);
  return a;
}
export function copy_<T extends Tensor>(a: T, src: Tensor): T {
  callRaw(op('aten::copy_'), a.h, src.h);
  return a;
}
export function fill_<T extends Tensor>(a: T, v: number): T {
  callRaw(op('aten::fill_', 'Scalar'), a.h, v);
  return a;
}
export function zero_<T extends Tensor>(a: T): T {
  callRaw(op('aten::zero_'), a.h);
  return a;
}
export function clamp_<T extends Tensor>(a: T, min?: number, max?: number): T {
  callRaw(op('aten::clamp_'), a.h, min ?? null, max ?? null);
  return a;
}
/** a += value * t1 * t2 */
export function addcmul_<T extends Tensor>(a: T, t1: Tensor, t2: Tensor, value = 1): T {
  callRaw(op('aten::addcmul_'), a.h, t1.h, t2.h, value);
  return a;
}
/** a += value * t1 / t2 */
export function addcdiv_<T extends Tensor>(a: T, t1: Tensor, t2: Tensor, value = 1): T {
  callRaw(op('aten::addcdiv_'), a.h, t1.h, t2.h, value);
  return a;
}
export function lerp_<T extends Tensor>(a: T, end: Tensor, weight: number): T {
  callRaw(op('aten::lerp_', 'Scalar'), a.h, end.h, weight);
  return a;
}

// ---- conversion ----
export function to(a: Tensor, target: DType | string | { dtype?: DType; device?: string }): Tensor {
  const spec = typeof target === 'string' ? (isDType(target) ? { dtype: target } : { device: target }) : target;
  if (spec.dtype !== undefined && !isDType(spec.dtype)) throw new ArgumentError(`to(): unknown dtype '${spec.dtype}'`);
  return wrap(
    callRaw(
      op('aten::to', 'dtype_layout'),
      a.h,
      spec.dtype === undefined ? null : DTYPE_CODE[spec.dtype],
      null,
      spec.device ?? null,
    ),
  );
}

const ARRAY_OF: Partial<Record<DType, new (b: ArrayBuffer) => TypedArray>> = {
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

export function toTypedArray(a: Tensor): TypedArray {
  const d = a.dtype;
  const Ctor = ARRAY_OF[d];
  if (!Ctor) {
    const wide = to(a, 'float32');
    try {
      return new Float32Array(native.toBuffer(wide.h));
    } finally {
      wide.dispose();
    }
  }
  return new Ctor(native.toBuffer(a.h));
}

export function tolist(a: Tensor): unknown {
  const flat = Array.from(toTypedArray(a) as ArrayLike<number | bigint>, (v) =>
    a.dtype === 'bool' ? v !== 0 : Number(v),
  );
  const shape = a.shape;
  if (shape.length === 0) return flat[0];
  let at = 0;
  const build = (d: number): unknown[] => {
    const out: unknown[] = [];
    for (let i = 0; i < shape[d]!; i++) out.push(d === shape.length - 1 ? flat[at++] : build(d + 1));
    return out;
  };
  return build(0);
}
