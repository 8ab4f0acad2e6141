// RMSprop with alpha, eps, centered, momentum, L2 weight decay and maximize:
// torch.optim.RMSprop's 1.13 update, foreach path. `step` is a plain number in its state.
import { Tensor, zerosLike } from '../tensor/index.ts';
import { RMSPROP_SPECS } from './_hparams.ts';
import { listOps } from './_ops.ts';
import { Optimizer, type ParamGroup, type ParamsInput } from './optimizer.ts';

export interface RMSpropOptions {
  lr?: number;
  alpha?: number;
  eps?: number;
  weight_decay?: number;
  momentum?: number;
  centered?: boolean;
  maximize?: boolean;
  /** false: one ATen call per tensor instead of the batched _foreach_ kernels */
  foreach?: boolean | null;
  differentiable?: false;
}

export class RMSprop extends Optimizer {
  readonly type = 'RMSprop';

  constructor(params: ParamsInput, options: RMSpropOptions = {}) {
    super('RMSprop', RMSPROP_SPECS, params, options as Record<string, unknown>);
  }

  protected updateChunk(group: ParamGroup, params: Tensor[], g0: Tensor[]): void {
    const ops = listOps(group.foreach);
    const lr = group.lr;
    const alpha = group.alpha as number;
    const eps = group.eps as number;
    const wd = group.weight_decay as number;
    const momentum = group.momentum as number;
    const centered = group.centered === true;
    const states = params.map((p) => {
      const st = this.stateOf(p);
      if (Object.keys(st).length === 0) {
        st.step = 0;
        st.square_avg = zerosLike(p).keep();
        if (momentum > 0) st.momentum_buffer = zerosLike(p).keep();
        if (centered) st.grad_avg = zerosLike(p).keep();
      }
      // a step loaded from PyTorch 2.x is a tensor: keep its representation
      if (st.step instanceof Tensor) st.step.add_(1);
      else st.step = Number(st.step) + 1;
      return st;
    });

    let grads = group.maximize ? ops.neg(g0) : g0;
    if (wd !== 0) grads = ops.add(grads, params, wd);
    const squareAvgs = states.map((s) => s.square_avg as Tensor);
    ops.mul_(squareAvgs, alpha);
    ops.addcmul_(squareAvgs, grads, grads, 1 - alpha);
    let avg: Tensor[];
    if (centered) {
      for (const s of states) s.grad_avg ??= zerosLike(s.square_avg as Tensor).keep();
      const gradAvgs = states.map((s) => s.grad_avg as Tensor);
      ops.mul_(gradAvgs, alpha);
      ops.add_(gradAvgs, grads, 1 - alpha);
      avg = ops.addcmul(squareAvgs, gradAvgs, gradAvgs, -1);
      ops.sqrt_(avg);
    } else avg = ops.sqrt(squareAvgs);
    ops.addScalar_(avg, eps);
    if (momentum > 0) {
      for (const s of states) s.momentum_buffer ??= zerosLike(s.square_avg as Tensor).keep();
      const bufs = states.map((s) => s.momentum_buffer as Tensor);
      ops.mul_(bufs, momentum);
      ops.addcdiv_(bufs, grads, avg, 1);
      ops.add_(params, bufs, -lr);
    } else ops.addcdiv_(params, grads, avg, -lr);
  }
}
