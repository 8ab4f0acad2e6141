// The tensor layer's public surface.
export * from './autograd.ts';
export * from './create.ts';
export * from './dtype.ts';
export * as foreach from './foreach.ts';
export * as F from './functional.ts';
export { getRngState, setRngState } from './generator_native.ts';
export { aten, schemaOf } from './generic.ts';
export * from './loss.ts';
export {
  addcdiv_,
  addcmul_,
  addmm,
  bmm,
  clamp,
  copy_,
  lerp_,
  linear,
  matmul,
  maximum,
  minimum,
  mm,
  type TypedArray,
  unary,
  where,
} from './math.ts';
export { isMemoryFormat, type MemoryFormat, toMemoryFormat } from './memory_format.ts';
export { argmax, argmin, logsumexp, maxDim, mean, minDim, norm, std, sum, topk, variance } from './reduce.ts';
export * from './runtime.ts';
export { dispose, tidy } from './scope.ts';
export { cat, chunk, split, stack } from './shape.ts';
export { type Dims, type Scalar, Tensor, type TensorLike } from './tensor.ts';
export {
  type HandleInfo,
  handleBytes,
  handleInfo,
  isTracing,
  type TracedArg,
  type TracedOp,
  traceOps,
} from './trace.ts';
