// Views and shape ops: reshape, permute, slicing, indexing, joining and splitting.
import { ArgumentError } from '../errors.ts';
import { callRaw, op } from './_core.ts';
import { Tensor, type TensorLike, wrap } from './tensor.ts';

/** Accepts both f(2, 3) and f([2, 3]). */
export function shapeArgs(a: number[] | [number[]]): number[] {
  return Array.isArray(a[0]) ? (a[0] as number[]) : (a as number[]);
}

export const reshape = (a: Tensor, shape: number[]): Tensor => new Tensor(callRaw(op('aten::reshape'), a.h, shape));
export const view = (a: Tensor, shape: number[]): Tensor => new Tensor(callRaw(op('aten::view'), a.h, shape));
export const permute = (a: Tensor, dims: number[]): Tensor => new Tensor(callRaw(op('aten::permute'), a.h, dims));
export const transpose = (a: Tensor, d0: number, d1: number): Tensor =>
  new Tensor(callRaw(op('aten::transpose', 'int'), a.h, d0, d1));
export const narrow = (a: Tensor, dim: number, start: number, length: number): Tensor =>
  new Tensor(callRaw(op('aten::narrow'), a.h, dim, start, length));
export const slice = (a: Tensor, dim: number, start?: number, end?: number, step = 1): Tensor =>
  new Tensor(callRaw(op('aten::slice', 'Tensor'), a.h, dim, start ?? null, end ?? null, step));
export const select = (a: Tensor, dim: number, index: number): Tensor =>
  new Tensor(callRaw(op('aten::select', 'int'), a.h, dim, index));
export const indexSelect = (a: Tensor, dim: number, index: Tensor): Tensor =>
  new Tensor(callRaw(op('aten::index_select'), a.h, dim, index.h));
export const gather = (a: Tensor, dim: number, index: Tensor): Tensor =>
  new Tensor(callRaw(op('aten::gather'), a.h, dim, index.h));

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
export const squeeze = (a: Tensor, dim?: number): Tensor =>
  dim === undefined
    ? new Tensor(callRaw(op('aten::squeeze'), a.h))
    : new Tensor(callRaw(op('aten::squeeze', 'dim'), a.h, dim));
export const unsqueeze = (a: Tensor, dim: number): Tensor => new Tensor(callRaw(op('aten::unsqueeze'), a.h, dim));
export const expand = (a: Tensor, shape: number[]): Tensor => new Tensor(callRaw(op('aten::expand'), a.h, shape));
export const flatten = (a: Tensor, start = 0, end = -1): Tensor =>
  new Tensor(callRaw(op('aten::flatten', 'using_ints'), a.h, start, end));
export const contiguous = (a: Tensor): Tensor => new Tensor(callRaw(op('aten::contiguous'), a.h));
export const clone = (a: Tensor): Tensor => new Tensor(callRaw(op('aten::clone'), a.h));
export const detach = (a: Tensor): Tensor => new Tensor(callRaw(op('aten::detach'), a.h));
