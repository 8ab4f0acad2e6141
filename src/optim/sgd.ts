// SGD with momentum, dampening, Nesterov, L2 weight decay and maximize: torch.optim.SGD's
// update (1.13), foreach path. The momentum buffer starts as a copy of the first gradient.
import { ArgumentError } from '../errors.ts';
import type { Tensor } from '../tensor/index.ts';
import { SGD_SPECS } from './_hparams.ts';
import { listOps } from './_ops.ts';
import { Optimizer, type ParamGroup, type ParamsInput } from './optimizer.ts';

export interface SGDOptions {
  /** required: in the options or in every group */
  lr?: number;
  momentum?: number;
  dampening?: number;
  weight_decay?: number;
  nesterov?: boolean;
  maximize?: boolean;
  /** false: one ATen call per tensor instead of the batched _foreach_ kernels */
  foreach?: boolean | null;
  differentiable?: false;
}

export class SGD extends Optimizer {
  readonly type = 'SGD';

  constructor(params: ParamsInput, options: SGDOptions = {}) {
    super('SGD', SGD_SPECS, params, options as Record<string, unknown>);
  }

  protected override checkGroup(g: Record<string, unknown>, where: string): void {
    const momentum = g.momentum as number | undefined;
    if (g.nesterov === true && ((momentum ?? 0) <= 0 || (g.dampening ?? 0) !== 0))
      throw new ArgumentError(
        `SGD ${where}: Nesterov momentum requires a momentum and zero dampening (momentum ${momentum}, dampening ${g.dampening})`,
      );
  }

  protected updateChunk(group: ParamGroup, params: Tensor[], g0: Tensor[]): void {
    const ops = listOps(group.foreach);
    const lr = group.lr;
    const momentum = group.momentum as number;
    const dampening = group.dampening as number;
    const wd = group.weight_decay as number;
    let grads = group.maximize ? ops.neg(g0) : g0;
    if (wd !== 0) grads = ops.add(grads, params, wd);
    if (momentum !== 0) {
      const states = params.map((p) => this.stateOf(p));
      const bufs = states.map((s) => s.momentum_buffer);
      let buffers: Tensor[];
      if (bufs.every((b) => b != null)) {
        buffers = bufs as Tensor[];
        ops.mul_(buffers, momentum);
        ops.add_(buffers, grads, 1 - dampening);
      } else {
        buffers = bufs.map((b, i) => {
          if (b == null) {
            const nb = grads[i]!.clone().keep();
            states[i]!.momentum_buffer = nb;
            return nb;
          }
          const t = b as Tensor;
          t.mul_(momentum).add_(grads[i]!, 1 - dampening);
          return t;
        });
      }
      grads = group.nesterov ? ops.add(grads, buffers, momentum) : buffers;
    } else {
      // PyTorch 1.13 records a None buffer for every parameter it stepped
      for (const p of params) {
        const st = this.stateOf(p);
        if (!('momentum_buffer' in st)) st.momentum_buffer = null;
      }
    }
    ops.add_(params, grads, -lr);
  }
}
