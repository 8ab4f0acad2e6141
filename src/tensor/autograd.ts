// Autograd and global modes: backward, grad(), noGrad / enableGrad, autocast.
import { ArgumentError } from '../errors.ts';
import { mapError, native } from './_core.ts';
import { DTYPE_CODE, type DType } from './dtype.ts';
import { Tensor, wrap } from './tensor.ts';

export function setRequiresGrad(t: Tensor, v: boolean): void {
  if (!v && !native.isLeaf(t.h))
    throw new ArgumentError(
      'you can only change requiresGrad of leaf tensors',
      'use detach() to get a tensor that does not require grad',
    );
  try {
    native.setRequiresGrad(t.h, v);
  } catch (e) {
    throw mapError(e);
  }
}

export interface BackwardOptions {
  retainGraph?: boolean;
  createGraph?: boolean;
  /** accumulate only into these leaves */
  inputs?: Tensor[];
}

export function backward(outputs: Tensor[], grads?: (Tensor | undefined)[], o: BackwardOptions = {}): void {
  try {
    native.backward(
      outputs.map((t) => t.h),
      grads?.map((g) => g?.h),
      o.retainGraph,
      o.createGraph,
      o.inputs?.map((t) => t.h),
    );
  } catch (e) {
    throw mapError(e);
  }
}

export interface GradOptions {
  gradOutputs?: (Tensor | undefined)[];
  retainGraph?: boolean;
  createGraph?: boolean;
  allowUnused?: boolean;
}

/** torch.autograd.grad: gradients of outputs with respect to inputs, without touching .grad. */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor[], o: GradOptions = {}): (Tensor | undefined)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  try {
    return wrap(
      native.autogradGrad(
        outs.map((t) => t.h),
        inputs.map((t) => t.h),
        o.gradOutputs?.map((g) => g?.h),
        o.retainGraph,
        o.createGraph,
        o.allowUnused,
      ),
    );
  } catch (e) {
    throw mapError(e);
  }
}

function syncOnly(name: string, r: unknown): void {
  if (r instanceof Promise)
    throw new ArgumentError(`${name}() takes a synchronous function`, 'await outside and run the tensor work inside');
}

function withGradMode<T>(enabled: boolean, name: string, fn: () => T): T {
  const prev = native.setGradEnabled(enabled);
  try {
    const r = fn();
    syncOnly(name, r);
    return r;
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Runs fn with gradient recording off (torch.no_grad()). */
export const noGrad = <T>(fn: () => T): T => withGradMode(false, 'noGrad', fn);
/** Runs fn with gradient recording on, e.g. inside noGrad (torch.enable_grad()). */
export const enableGrad = <T>(fn: () => T): T => withGradMode(true, 'enableGrad', fn);
export const isGradEnabled = (): boolean => native.isGradEnabled();

export interface AutocastOptions {
  device?: 'cpu' | 'cuda';
  /** bfloat16 (default on CPU) or float16 (default on CUDA) */
  dtype?: DType;
  enabled?: boolean;
}

/** Runs fn under automatic mixed precision (torch.autocast). */
export function autocast<T>(fn: () => T, o: AutocastOptions = {}): T {
  const device = o.device ?? 'cpu';
  const dtype = o.dtype ?? (device === 'cpu' ? 'bfloat16' : 'float16');
  if (device === 'cpu' && dtype !== 'bfloat16')
    throw new ArgumentError(`autocast on cpu supports bfloat16, not ${dtype}`);
  const enabled = o.enabled ?? true;
  const [prevEnabled, prevDtype] = native.setAutocast(device, enabled, DTYPE_CODE[dtype]);
  native.autocastNest(true);
  try {
    const r = fn();
    syncOnly('autocast', r);
    return r;
  } finally {
    native.autocastNest(false);
    native.setAutocast(device, prevEnabled, prevDtype);
  }
}

export { Tensor };

/**
 * torch.clear_autocast_cache(): forgets the low-precision copies of weights autocast keeps for
 * the rest of its region. Needed after casts made under noGrad (they carry no graph) when the same
 * region later needs gradients through them (recomputation for gradient checkpointing).
 */
export function clearAutocastCache(): void {
  // the cache is cleared when the nesting count drops to 0: drop it there and restore it
  const depth = native.autocastNest(true) - 1;
  for (let i = 0; i <= depth; i++) native.autocastNest(false);
  for (let i = 0; i < depth; i++) native.autocastNest(true);
}
