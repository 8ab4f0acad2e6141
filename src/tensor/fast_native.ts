// The addon's fixed-arity fast entries (native/fast_math.cc, fast_shape.cc), typed. Each takes raw
// values (handles, numbers, arrays) in the op's schema order, as opCall does, and returns a handle
// (in-place ops: undefined). Callers reach them through defFast (_core.ts), which falls back to the
// boxed op while tracing and where the addon lacks an entry.
import { native } from './_core.ts';

type Fn = ((...args: any[]) => any) | undefined;

export interface FastNative {
  fastAdd: Fn;
  fastAddScalar: Fn;
  fastSub: Fn;
  fastSubScalar: Fn;
  fastMul: Fn;
  fastMulScalar: Fn;
  fastDiv: Fn;
  fastDivScalar: Fn;
  fastAdd_: Fn;
  fastAddScalar_: Fn;
  fastSub_: Fn;
  fastSubScalar_: Fn;
  fastMul_: Fn;
  fastMulScalar_: Fn;
  fastDiv_: Fn;
  fastDivScalar_: Fn;
  fastRelu: Fn;
  fastSigmoid: Fn;
  fastTanh: Fn;
  fastNeg: Fn;
  fastExp: Fn;
  fastLog: Fn;
  fastSqrt: Fn;
  fastRsqrt: Fn;
  fastAbs: Fn;
  fastDetach: Fn;
  fastRelu_: Fn;
  fastZero_: Fn;
  fastMatmul: Fn;
  fastMm: Fn;
  fastBmm: Fn;
  fastCopy_: Fn;
  fastFill_: Fn;
  fastAddmm: Fn;
  fastLinear: Fn;
  fastAddcmul_: Fn;
  fastAddcdiv_: Fn;
  fastLerp_: Fn;
  fastSum: Fn;
  fastSumDim: Fn;
  fastMean: Fn;
  fastMeanDim: Fn;
  fastView: Fn;
  fastReshape: Fn;
  fastPermute: Fn;
  fastExpand: Fn;
  fastTranspose: Fn;
  fastFlatten: Fn;
  fastUnsqueeze: Fn;
  fastSqueeze: Fn;
  fastSqueezeDim: Fn;
  fastSelect: Fn;
  fastNarrow: Fn;
  fastSlice: Fn;
  fastClone: Fn;
  fastSoftmax: Fn;
  fastLogSoftmax: Fn;
  fastAdaptiveAvgPool2d: Fn;
  fastDropout: Fn;
  fastIndexSelect: Fn;
  fastGather: Fn;
  fastMaxPool2d: Fn;
  fastConv2d: Fn;
  fastBatchNorm: Fn;
  fastCrossEntropy: Fn;
}

export const fast = native as unknown as FastNative;
