// Tensor's gradient members, kept out of tensor.ts (its size) and out of the public API: the grad
// property, t.data = src, and t.backward()'s fast route.
import { ArgumentError } from '../errors.ts';
import { defOp, native } from './_core.ts';
import { backward } from './autograd.ts';
import { backwardRoot } from './autograd_native.ts';
import { Tensor } from './tensor.ts';

const setDataOp = defOp('aten::set_data');

/** PyTorch's `t.data = src` (Tensor.setData_ resets its cached shape and dtype). */
export function setData(t: Tensor, src: Tensor): void {
  setDataOp(t.h, src.h);
}

export function gradOf(t: Tensor): Tensor | undefined {
  const g = native.grad(t.h);
  return g === undefined ? undefined : new Tensor(g);
}

/** `t.grad = g`: PyTorch checks an assigned gradient at once, not at the next backward(). */
export function assignGrad(t: Tensor, g: Tensor | undefined): void {
  if (g !== undefined) {
    const [a, b] = [g.shape, t.shape];
    if (a.length !== b.length || a.some((d, i) => d !== b[i]))
      throw new ArgumentError(`assigned grad has shape [${a}], the tensor has [${b}]`);
    if (g.dtype !== t.dtype) throw new ArgumentError(`assigned grad has dtype ${g.dtype}, the tensor ${t.dtype}`);
    if (g.device !== t.device) throw new ArgumentError(`assigned grad is on ${g.device}, the tensor on ${t.device}`);
  }
  native.setGrad(t.h, g?.h);
}

/**
 * t.backward(grad?, opts): the common `loss.backward()` (no gradient given, no createGraph) takes one
 * native call and, where the graph allows, the lean executor (autograd_native.ts); the rest goes
 * through torch::autograd::backward.
 */
export function backwardOne(t: Tensor, grad?: Tensor, o?: { retainGraph?: boolean; createGraph?: boolean }): void {
  if (grad === undefined && o?.createGraph !== true && backwardRoot(t, o?.retainGraph)) return;
  backward([t], grad ? [grad] : undefined, o);
}
