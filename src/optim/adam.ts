// Adam (L2 weight decay added to the gradient) and AdamW (decoupled decay, p *= 1 - lr*wd
// first): torch.optim's 1.13 updates, foreach path, bias corrections in double from the
// float32 `step` tensor as PyTorch computes them, so results agree to the last float bit.
import { scalarTensor, type Tensor, zerosLike } from '../tensor/index.ts';
import { pow as pyPow } from '../util/pymath.ts';
import { ADAM_SPECS, ADAMW_SPECS, type HSpecs } from './_hparams.ts';
import { listOps } from './_ops.ts';
import { Optimizer, type ParamGroup, type ParamState, type ParamsInput } from './optimizer.ts';

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weight_decay?: number;
  amsgrad?: boolean;
  maximize?: boolean;
  /** false: one ATen call per tensor instead of the batched _foreach_ kernels */
  foreach?: boolean | null;
  capturable?: false;
  differentiable?: false;
  fused?: false;
}

export type AdamWOptions = Omit<AdamOptions, 'differentiable' | 'fused'>;

abstract class AdamBase extends Optimizer {
  protected abstract readonly decoupled: boolean;

  protected constructor(owner: string, specs: HSpecs, params: ParamsInput, options: Record<string, unknown>) {
    super(owner, specs, params, options);
  }

  protected updateChunk(group: ParamGroup, params: Tensor[], g0: Tensor[]): void {
    const ops = listOps(group.foreach);
    const amsgrad = group.amsgrad === true;
    const [beta1, beta2] = group.betas as [number, number];
    const lr = group.lr;
    const wd = group.weight_decay as number;
    const eps = group.eps as number;
    const states = params.map((p) => this.#init(this.stateOf(p), p, amsgrad));
    const steps = states.map((s) => s.step as Tensor);
    const expAvgs = states.map((s) => s.exp_avg as Tensor);
    const expAvgSqs = states.map((s) => s.exp_avg_sq as Tensor);

    let grads = group.maximize ? ops.neg(g0) : g0;
    ops.addScalar_(steps, 1);
    if (this.decoupled) ops.mul_(params, 1 - lr * wd);
    else if (wd !== 0) grads = ops.add(grads, params, wd);

    ops.mul_(expAvgs, beta1);
    ops.add_(expAvgs, grads, 1 - beta1);
    ops.mul_(expAvgSqs, beta2);
    ops.addcmul_(expAvgSqs, grads, grads, 1 - beta2);

    const stepN = steps.map((s) => s.item());
    const stepSize = stepN.map((n) => (lr / (1 - pyPow(beta1, n))) * -1);
    const bc2Sqrt = stepN.map((n) => Math.sqrt(1 - pyPow(beta2, n)));
    let second = expAvgSqs;
    if (amsgrad) {
      second = states.map((s) => s.max_exp_avg_sq as Tensor);
      ops.maximum_(second, expAvgSqs);
    }
    const denom = ops.sqrt(second);
    ops.divList_(denom, bc2Sqrt);
    ops.addScalar_(denom, eps);
    ops.addcdiv_(params, expAvgs, denom, stepSize);
  }

  // Lazy state as PyTorch: step is a 0-dim float32 CPU tensor, moments are zeros like p.
  #init(st: ParamState, p: Tensor, amsgrad: boolean): ParamState {
    if (st.step === undefined) st.step = scalarTensor(0).keep();
    st.exp_avg ??= zerosLike(p).keep();
    st.exp_avg_sq ??= zerosLike(p).keep();
    if (amsgrad) st.max_exp_avg_sq ??= zerosLike(p).keep();
    return st;
  }

  // Older checkpoints hold `step` as a number; PyTorch 1.13 turns it into a tensor on load.
  protected override afterLoad(): void {
    const states = [...this.state.values()];
    if (states.length === 0 || typeof states[0]!.step !== 'number') return;
    for (const s of states) if (typeof s.step === 'number') s.step = scalarTensor(s.step).keep();
  }
}

export class Adam extends AdamBase {
  readonly type = 'Adam';
  protected readonly decoupled = false;
  constructor(params: ParamsInput, options: AdamOptions = {}) {
    super('Adam', ADAM_SPECS, params, options as Record<string, unknown>);
  }
}

export class AdamW extends AdamBase {
  readonly type = 'AdamW';
  protected readonly decoupled = true;
  constructor(params: ParamsInput, options: AdamWOptions = {}) {
    super('AdamW', ADAMW_SPECS, params, options as Record<string, unknown>);
  }
}
