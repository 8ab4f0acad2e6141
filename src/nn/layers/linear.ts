// Linear, Identity, Flatten.
import { empty, linear, type Tensor } from '../../tensor/index.ts';
import * as init from '../init.ts';
import { Module } from '../module.ts';
import type { Parameter } from '../parameter.ts';
import type { FactoryOptions } from './_util.ts';

export interface LinearOptions extends FactoryOptions {
  bias?: boolean;
}

/** y = x W^T + b with weight [out, in]; PyTorch's default init (kaiming_uniform a=sqrt(5)). */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight: Parameter;
  bias: Parameter | undefined;

  constructor(inFeatures: number, outFeatures: number, o: LinearOptions = {}) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const f = { dtype: o.dtype, device: o.device };
    this.weight = this.registerParameter('weight', empty([outFeatures, inFeatures], f));
    this.bias = this.registerParameter('bias', o.bias === false ? undefined : empty([outFeatures], f));
    this.resetParameters();
  }

  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const fanIn = this.inFeatures;
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      init.uniform_(this.bias, -bound, bound);
    }
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? 'True' : 'False'}`;
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Flattens dims startDim..endDim (default 1..-1, keeping the batch dim). */
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}
