// Parameter: a Tensor that a Module trains (requiresGrad by default), as torch.nn.Parameter.
import { noGrad, Tensor } from '../tensor/index.ts';

export class Parameter extends Tensor {
  /** Shares `data`'s storage through its own handle, so disposing `data` leaves the parameter alive. */
  constructor(data: Tensor, requiresGrad = true) {
    const d = noGrad(() => data.detach());
    // the detached handle now belongs to this object; outer tidy() scopes must not free it
    d.keep();
    super(d.h);
    this.keep();
    if (requiresGrad) this.requiresGrad = true;
  }
}

export const isParameter = (t: unknown): t is Parameter => t instanceof Parameter;
