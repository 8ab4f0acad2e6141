// Views and shape ops: reshape, permute, slicing, indexing, joining and splitting.
import { ArgumentError } from '../errors.ts';
import { callRaw, defFast, op } from './_core.ts';
import { fast } from './fast_native.ts';
import { Tensor, type TensorLike, wrap } from './tensor.ts';

/** Accepts both f(2, 3) and f([2, 3]). */
export function shapeArgs(a: number[] | [number[]]): number[] {
  return Array.isArray(a[0]) ? (a[0] as number[]) : (a as number[]);
}

const reshapeOp = defFast('aten::reshape', '', fast.fastReshape);
const viewOp = defFast('aten::view', '', fast.fastView);
const permuteOp = defFast('aten::permute', '', fast.fastPermute);
const transposeOp = defFast('aten::transpose', 'int', fast.fastTranspose);
const narrowOp = defFast('aten::narrow', '', fast.fastNarrow);
const sliceOp = defFast('aten::slice', 'Tensor', fast.fastSlice);
const selectOp = defFast('aten::select', 'int', fast.fastSelect);
const indexSelectOp = defFast('aten::index_select', '', fast.fastIndexSelect);
const gatherOp = defFast('aten::gather', '', fast.fastGather);
export const reshape = (a: Tensor, shape: number[]): Tensor => new Tensor(reshapeOp(a.h, shape));
export const view = (a: Tensor, shape: number[]): Tensor => new Tensor(viewOp(a.h, shape));
export const permute = (a: Tensor, dims: number[]): Tensor => new Tensor(permuteOp(a.h, dims));
export const transpose = (a: Tensor, d0: number, d1: number): Tensor => new Tensor(transposeOp(a.h, d0, d1));
export const narrow = (a: Tensor, dim: number, start: number, length: number): Tensor =>
  new Tensor(narrowOp(a.h, dim, start, length));
export const slice = (a: Tensor, dim: number, start?: number, end?: number, step = 1): Tensor =>
  new Tensor(sliceOp(a.h, dim, start ?? null, end ?? null, step));
export const select = (a: Tensor, dim: number, index: number): Tensor => new Tensor(selectOp(a.h, dim, index));
export const indexSelect = (a: Tensor, dim: number, index: Tensor): Tensor =>
  new Tensor(indexSelectOp(a.h, dim, index.h));
export const gather = (a: Tensor, dim: number, index: Tensor): Tensor => new Tensor(gatherOp(a.h, dim, index.h));

export function scatter(a: Tensor, dim: number, index: Tensor, src: TensorLike): Tensor {
  return src instanceof Tensor
    ? new Tensor(callRaw(op('aten::scatter', 'src'), a.h, dim, index.h, src.h))
    : new Tensor(callRaw(op('aten::scatter', 'value'), a.h, dim, index.h, src));
}

export function maskedFill(a: Tensor, mask: Tensor, value: TensorLike): Tensor {
  return value instanceof Tensor
    ? new Tensor(callRaw(op('aten::masked_fill', 'Tensor'), a.h, mask.h, value.h))
    : new Tensor(callRaw(op('aten::masked_fill', 'Scalar'), a.h, mask.h, value));
}

export function cat(ts: Tensor[], dim = 0): Tensor {
  if (ts.length === 0) throw new ArgumentError('cat: needs at least one tensor');
  return new Tensor(
    callRaw(
      op('aten::cat'),
      ts.map((t) => t.h),
      dim,
    ),
  );
}
export function stack(ts: Tensor[], dim = 0): Tensor {
  if (ts.length === 0) throw new ArgumentError('stack: needs at least one tensor');
  return new Tensor(
    callRaw(
      op('aten::stack'),
      ts.map((t) => t.h),
      dim,
    ),
  );
}
export function split(a: Tensor, size: number | number[], dim = 0): Tensor[] {
  return Array.isArray(size)
    ? wrap(callRaw(op('aten::split', 'sizes'), a.h, size, dim))
    : wrap(callRaw(op('aten::split', 'Tensor'), a.h, size, dim));
}
export const chunk = (a: Tensor, chunks: number, dim = 0): Tensor[] =>
  wrap(callRaw(op('aten::chunk'), a.h, chunks, dim));
const squeezeOp = defFast('aten::squeeze', '', fast.fastSqueeze);
const squeezeDimOp = defFast('aten::squeeze', 'dim', fast.fastSqueezeDim);
const unsqueezeOp = defFast('aten::unsqueeze', '', fast.fastUnsqueeze);
const expandOp = defFast('aten::expand', '', fast.fastExpand);
const flattenOp = defFast('aten::flatten', 'using_ints', fast.fastFlatten);
const cloneOp = defFast('aten::clone', '', fast.fastClone);
const detachOp = defFast('aten::detach', '', fast.fastDetach);
export const squeeze = (a: Tensor, dim?: number): Tensor =>
  dim === undefined ? new Tensor(squeezeOp(a.h)) : new Tensor(squeezeDimOp(a.h, dim));
export const unsqueeze = (a: Tensor, dim: number): Tensor => new Tensor(unsqueezeOp(a.h, dim));
export const expand = (a: Tensor, shape: number[]): Tensor => new Tensor(expandOp(a.h, shape));
export const flatten = (a: Tensor, start = 0, end = -1): Tensor => new Tensor(flattenOp(a.h, start, end));
export const contiguous = (a: Tensor): Tensor => new Tensor(callRaw(op('aten::contiguous'), a.h));
export const clone = (a: Tensor): Tensor => new Tensor(cloneOp(a.h));
export const detach = (a: Tensor): Tensor => new Tensor(detachOp(a.h));
