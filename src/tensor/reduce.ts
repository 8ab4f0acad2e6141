// Reductions with PyTorch's dim / keepdim semantics.
import { callRaw, defFast, op } from './_core.ts';
import { fast } from './fast_native.ts';
import { type Dims, Tensor, wrap } from './tensor.ts';

const dimList = (d: Dims | undefined): number[] | null => (d === undefined ? null : Array.isArray(d) ? d : [d]);

const sumOp = defFast('aten::sum', '', fast.fastSum);
const sumDimOp = defFast('aten::sum', 'dim_IntList', fast.fastSumDim);
const meanOp = defFast('aten::mean', '', fast.fastMean);
const meanDimOp = defFast('aten::mean', 'dim', fast.fastMeanDim);

export function sum(a: Tensor, dim?: Dims, keepdim = false): Tensor {
  return dim === undefined ? new Tensor(sumOp(a.h)) : new Tensor(sumDimOp(a.h, dimList(dim), keepdim));
}

export function mean(a: Tensor, dim?: Dims, keepdim = false): Tensor {
  return dim === undefined ? new Tensor(meanOp(a.h)) : new Tensor(meanDimOp(a.h, dimList(dim), keepdim));
}

export interface VarOptions {
  /** Bessel's correction: 1 (default, unbiased) or 0 */
  correction?: number;
  keepdim?: boolean;
}

export const variance = (a: Tensor, dim?: Dims, o: VarOptions = {}): Tensor =>
  new Tensor(callRaw(op('aten::var', 'correction'), a.h, dimList(dim), o.correction ?? 1, o.keepdim ?? false));
export const std = (a: Tensor, dim?: Dims, o: VarOptions = {}): Tensor =>
  new Tensor(callRaw(op('aten::std', 'correction'), a.h, dimList(dim), o.correction ?? 1, o.keepdim ?? false));

export const max = (a: Tensor): Tensor => new Tensor(callRaw(op('aten::max'), a.h));
export const min = (a: Tensor): Tensor => new Tensor(callRaw(op('aten::min'), a.h));
/** max over a dim: [values, indices] */
export const maxDim = (a: Tensor, dim: number, keepdim = false): [Tensor, Tensor] =>
  wrap(callRaw(op('aten::max', 'dim'), a.h, dim, keepdim));
export const minDim = (a: Tensor, dim: number, keepdim = false): [Tensor, Tensor] =>
  wrap(callRaw(op('aten::min', 'dim'), a.h, dim, keepdim));
export const argmax = (a: Tensor, dim?: number, keepdim = false): Tensor =>
  new Tensor(callRaw(op('aten::argmax'), a.h, dim ?? null, keepdim));
export const argmin = (a: Tensor, dim?: number, keepdim = false): Tensor =>
  new Tensor(callRaw(op('aten::argmin'), a.h, dim ?? null, keepdim));
export const logsumexp = (a: Tensor, dim: Dims, keepdim = false): Tensor =>
  new Tensor(callRaw(op('aten::logsumexp'), a.h, dimList(dim), keepdim));
/** Vector p-norm over all elements or over dims (torch.linalg.vector_norm). */
export const norm = (a: Tensor, p = 2, dim?: Dims, keepdim = false): Tensor =>
  new Tensor(callRaw(op('aten::linalg_vector_norm'), a.h, p, dimList(dim), keepdim));
/** top-k along a dim: [values, indices] */
export const topk = (a: Tensor, k: number, dim = -1, largest = true, sorted = true): [Tensor, Tensor] =>
  wrap(callRaw(op('aten::topk'), a.h, k, dim, largest, sorted));
