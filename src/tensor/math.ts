// Elementwise math, comparisons, matrix products, dtype/device conversion, data out.
import { ArgumentError } from '../errors.ts';
import { callRaw, defFast, native, op } from './_core.ts';
import { DTYPE_CODE, type DType, isDType } from './dtype.ts';
import { fast } from './fast_native.ts';
import { Tensor, type TensorLike, wrap } from './tensor.ts';

export type TypedArray = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array;

const isT = (x: TensorLike): x is Tensor => x instanceof Tensor;

// hot ops keep their resolved callers in closures (no name lookup per call)
type Raw = (...args: unknown[]) => any;
function binary(name: string, fastTensor: Raw | undefined, fastScalar: Raw | undefined) {
  const withTensor = defFast(name, 'Tensor', fastTensor);
  const withScalar = defFast(name, 'Scalar', fastScalar);
  return (a: Tensor, b: TensorLike, alpha?: number): Tensor => {
    if (isT(b)) return new Tensor(alpha === undefined ? withTensor(a.h, b.h) : withTensor(a.h, b.h, alpha));
    return new Tensor(alpha === undefined ? withScalar(a.h, b) : withScalar(a.h, b, alpha));
  };
}

export const add: (a: Tensor, b: TensorLike, alpha?: number) => Tensor = binary(
  'aten::add',
  fast.fastAdd,
  fast.fastAddScalar,
);
export const sub: (a: Tensor, b: TensorLike, alpha?: number) => Tensor = binary(
  'aten::sub',
  fast.fastSub,
  fast.fastSubScalar,
);
export const mul: (a: Tensor, b: TensorLike) => Tensor = binary('aten::mul', fast.fastMul, fast.fastMulScalar);
export const div: (a: Tensor, b: TensorLike) => Tensor = binary('aten::div', fast.fastDiv, fast.fastDivScalar);

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

const fastUnary: Partial<Record<UnaryName, Raw>> = {
  neg: defFast('aten::neg', '', fast.fastNeg),
  exp: defFast('aten::exp', '', fast.fastExp),
  log: defFast('aten::log', '', fast.fastLog),
  sqrt: defFast('aten::sqrt', '', fast.fastSqrt),
  rsqrt: defFast('aten::rsqrt', '', fast.fastRsqrt),
  abs: defFast('aten::abs', '', fast.fastAbs),
  tanh: defFast('aten::tanh', '', fast.fastTanh),
  sigmoid: defFast('aten::sigmoid', '', fast.fastSigmoid),
};

export const unary = (name: UnaryName, a: Tensor): Tensor => {
  const f = fastUnary[name];
  return new Tensor(f ? f(a.h) : callRaw(op(`aten::${name}`), a.h));
};

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

const matmulOp = defFast('aten::matmul', '', fast.fastMatmul);
const mmOp = defFast('aten::mm', '', fast.fastMm);
const bmmOp = defFast('aten::bmm', '', fast.fastBmm);
const addmmOp = defFast('aten::addmm', '', fast.fastAddmm);
export const matmul = (a: Tensor, b: Tensor): Tensor => new Tensor(matmulOp(a.h, b.h));
export const mm = (a: Tensor, b: Tensor): Tensor => new Tensor(mmOp(a.h, b.h));
export const bmm = (a: Tensor, b: Tensor): Tensor => new Tensor(bmmOp(a.h, b.h));
export const addmm = (bias: Tensor, a: Tensor, b: Tensor, beta = 1, alpha = 1): Tensor =>
  new Tensor(addmmOp(bias.h, a.h, b.h, beta, alpha));
/** y = x W^T + b, as torch.nn.functional.linear. */
const linearOp = defFast('aten::linear', '', fast.fastLinear);
export const linear = (x: Tensor, w: Tensor, b?: Tensor): Tensor => new Tensor(linearOp(x.h, w.h, b?.h));

// ---- in place ----
type InplaceName = 'add_' | 'sub_' | 'mul_' | 'div_';
const inplaceOps: Record<InplaceName, [tensor: Raw, scalar: Raw]> = {
  add_: [defFast('aten::add_', 'Tensor', fast.fastAdd_), defFast('aten::add_', 'Scalar', fast.fastAddScalar_)],
  sub_: [defFast('aten::sub_', 'Tensor', fast.fastSub_), defFast('aten::sub_', 'Scalar', fast.fastSubScalar_)],
  mul_: [defFast('aten::mul_', 'Tensor', fast.fastMul_), defFast('aten::mul_', 'Scalar', fast.fastMulScalar_)],
  div_: [defFast('aten::div_', 'Tensor', fast.fastDiv_), defFast('aten::div_', 'Scalar', fast.fastDivScalar_)],
};
export function inplace<T extends Tensor>(name: InplaceName, a: T, b: TensorLike, alpha?: number): T {
  const [withTensor, withScalar] = inplaceOps[name];
  const f = isT(b) ? withTensor : withScalar;
  const bv = isT(b) ? b.h : b;
  if (alpha === undefined) f(a.h, bv);
  else f(a.h, bv, alpha);
  return a;
}
const copyOp = defFast('aten::copy_', '', fast.fastCopy_);
const fillOp = defFast('aten::fill_', 'Scalar', fast.fastFill_);
const zeroOp = defFast('aten::zero_', '', fast.fastZero_);
const addcmulOp = defFast('aten::addcmul_', '', fast.fastAddcmul_);
const addcdivOp = defFast('aten::addcdiv_', '', fast.fastAddcdiv_);
const lerpOp = defFast('aten::lerp_', 'Scalar', fast.fastLerp_);
export function copy_<T extends Tensor>(a: T, src: Tensor): T {
  copyOp(a.h, src.h);
  return a;
}
export function fill_<T extends Tensor>(a: T, v: number): T {
  fillOp(a.h, v);
  return a;
}
export function zero_<T extends Tensor>(a: T): T {
  zeroOp(a.h);
  return a;
}
export function clamp_<T extends Tensor>(a: T, min?: number, max?: number): T {
  callRaw(op('aten::clamp_'), a.h, min ?? null, max ?? null);
  return a;
}
/** a += value * t1 * t2 */
export function addcmul_<T extends Tensor>(a: T, t1: Tensor, t2: Tensor, value = 1): T {
  addcmulOp(a.h, t1.h, t2.h, value);
  return a;
}
/** a += value * t1 / t2 */
export function addcdiv_<T extends Tensor>(a: T, t1: Tensor, t2: Tensor, value = 1): T {
  addcdivOp(a.h, t1.h, t2.h, value);
  return a;
}
export function lerp_<T extends Tensor>(a: T, end: Tensor, weight: number): T {
  lerpOp(a.h, end.h, weight);
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
