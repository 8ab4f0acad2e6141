// Parameter: a Tensor that a Module trains (requiresGrad by default), as torch.nn.Parameter.
import { noGrad, Tensor } from '../tensor/index.ts';

// The detached wrapper a Parameter is made from shares its handle and has a finalizer of its own:
// held (weakly keyed by the parameter) so GC cannot collect it, and free the handle, while the parameter lives.
const bases = new WeakMap<Tensor, Tensor>();

export class Parameter extends Tensor {
  /** Shares `data`'s storage through its own handle, so disposing `data` leaves the parameter alive. */
  constructor(data: Tensor, requiresGrad = true) {
    const d = noGrad(() => data.detach());
    // the detached handle now belongs to this object; outer tidy() scopes must not free it
    d.keep();
    super(d.h);
    bases.set(this, d);
    this.keep();
    if (requiresGrad) this.requiresGrad = true;
  }
}

export const isParameter = (t: unknown): t is Parameter => t instanceof Parameter;
