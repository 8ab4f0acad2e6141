// Batched in-place updates over lists of tensors (the _foreach_* kernels optimizers use).
import { ArgumentError } from '../errors.ts';
import { callRaw, op } from './_core.ts';
import type { Tensor } from './tensor.ts';
import { wrap } from './tensor.ts';

const hs = (ts: Tensor[]): unknown[] => ts.map((t) => t.h);
type Num = number | number[];

function scalarOrList(name: string, self: Tensor[], s: Num): void {
  if (Array.isArray(s)) callRaw(op(name, 'ScalarList'), hs(self), s);
  else callRaw(op(name, 'Scalar'), hs(self), s);
}

/** self[i] += alpha * other[i], or self[i] += s (or s[i]) */
export function add_(self: Tensor[], other: Tensor[] | Num, alpha = 1): void {
  if (self.length === 0) return;
  if (typeof other === 'number' || typeof other[0] === 'number')
    scalarOrList('aten::_foreach_add_', self, other as Num);
  else callRaw(op('aten::_foreach_add_', 'List'), hs(self), hs(other as Tensor[]), alpha);
}
export function sub_(self: Tensor[], other: Tensor[] | Num, alpha = 1): void {
  if (self.length === 0) return;
  if (typeof other === 'number' || typeof other[0] === 'number')
    scalarOrList('aten::_foreach_sub_', self, other as Num);
  else callRaw(op('aten::_foreach_sub_', 'List'), hs(self), hs(other as Tensor[]), alpha);
}
export function mul_(self: Tensor[], other: Tensor[] | Num): void {
  if (self.length === 0) return;
  if (typeof other === 'number' || typeof other[0] === 'number')
    scalarOrList('aten::_foreach_mul_', self, other as Num);
  else callRaw(op('aten::_foreach_mul_', 'List'), hs(self), hs(other as Tensor[]));
}
export function div_(self: Tensor[], other: Tensor[] | Num): void {
  if (self.length === 0) return;
  if (typeof other === 'number' || typeof other[0] === 'number')
    scalarOrList('aten::_foreach_div_', self, other as Num);
  else callRaw(op('aten::_foreach_div_', 'List'), hs(self), hs(other as Tensor[]));
}
/** self[i] += value * t1[i] * t2[i] */
export function addcmul_(self: Tensor[], t1: Tensor[], t2: Tensor[], value: Num = 1): void {
  if (self.length === 0) return;
  if (Array.isArray(value)) callRaw(op('aten::_foreach_addcmul_', 'ScalarList'), hs(self), hs(t1), hs(t2), value);
  else callRaw(op('aten::_foreach_addcmul_', 'Scalar'), hs(self), hs(t1), hs(t2), value);
}
/** self[i] += value * t1[i] / t2[i] */
export function addcdiv_(self: Tensor[], t1: Tensor[], t2: Tensor[], value: Num = 1): void {
  if (self.length === 0) return;
  if (Array.isArray(value)) callRaw(op('aten::_foreach_addcdiv_', 'ScalarList'), hs(self), hs(t1), hs(t2), value);
  else callRaw(op('aten::_foreach_addcdiv_', 'Scalar'), hs(self), hs(t1), hs(t2), value);
}
let hasForeachLerp: boolean | undefined;

/** self[i] += weight * (end[i] - self[i]); per tensor where libtorch lacks _foreach_lerp_ (1.13). */
export function lerp_(self: Tensor[], end: Tensor[], weight: number): void {
  if (self.length === 0) return;
  if (hasForeachLerp === undefined) {
    try {
      op('aten::_foreach_lerp_', 'Scalar');
      hasForeachLerp = true;
    } catch {
      hasForeachLerp = false;
    }
  }
  if (hasForeachLerp) callRaw(op('aten::_foreach_lerp_', 'Scalar'), hs(self), hs(end), weight);
  else {
    if (end.length !== self.length)
      throw new ArgumentError(`foreach.lerp_: ${self.length} tensors but ${end.length} ends`);
    const one = op('aten::lerp_', 'Scalar');
    self.forEach((t, i) => {
      callRaw(one, t.h, end[i]!.h, weight);
    });
  }
}
export function zero_(self: Tensor[]): void {
  if (self.length) callRaw(op('aten::_foreach_zero_'), hs(self));
}
export function sqrt_(self: Tensor[]): void {
  if (self.length) callRaw(op('aten::_foreach_sqrt_'), hs(self));
}
export function maximum_(self: Tensor[], other: Tensor[]): void {
  if (self.length) callRaw(op('aten::_foreach_maximum_', 'List'), hs(self), hs(other));
}
/** New tensors: sqrt of each. */
export const sqrt = (self: Tensor[]): Tensor[] =>
  self.length ? wrap(callRaw(op('aten::_foreach_sqrt'), hs(self))) : [];
/** New tensors: the p-norm of each. */
export const norm = (self: Tensor[], p = 2): Tensor[] =>
  self.length ? wrap(callRaw(op('aten::_foreach_norm', 'Scalar'), hs(self), p)) : [];
/** New tensors: self[i] + value * t1[i] / t2[i] */
export const addcdiv = (self: Tensor[], t1: Tensor[], t2: Tensor[], value = 1): Tensor[] =>
  self.length ? wrap(callRaw(op('aten::_foreach_addcdiv', 'Scalar'), hs(self), hs(t1), hs(t2), value)) : [];
