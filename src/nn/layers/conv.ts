// Conv1d and Conv2d with PyTorch's weight layout [out, in / groups, ...kernel] and default init.
import { ArgumentError } from '../../errors.ts';
import { empty, F, type Tensor } from '../../tensor/index.ts';
import * as init from '../init.ts';
import { Module } from '../module.ts';
import type { Parameter } from '../parameter.ts';
import { expectDims, type FactoryOptions, type Pair, pair, tuple } from './_util.ts';

export interface ConvOptions<P> extends FactoryOptions {
  stride?: P;
  padding?: P | 'same' | 'valid';
  dilation?: P;
  groups?: number;
  bias?: boolean;
  /** only 'zeros' is supported */
  paddingMode?: 'zeros';
}

abstract class ConvNd extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly padding: number[] | 'same' | 'valid';
  readonly dilation: number[];
  readonly groups: number;
  weight: Parameter;
  bias: Parameter | undefined;

  constructor(inC: number, outC: number, k: number[], o: ConvOptions<number | number[]>, n: number) {
    super();
    const groups = o.groups ?? 1;
    const name = this.constructor.name;
    if (!Number.isInteger(groups) || groups < 1 || inC % groups !== 0 || outC % groups !== 0)
      throw new ArgumentError(
        `${name}: in_channels ${inC} and out_channels ${outC} must be divisible by groups ${groups}`,
      );
    if ((o.paddingMode ?? 'zeros') !== 'zeros')
      throw new ArgumentError(`${name}: padding_mode '${o.paddingMode}' is not supported`, "use 'zeros'");
    const nd = (v: number | number[] | undefined, d: number): number[] =>
      v === undefined ? Array(n).fill(d) : Array.isArray(v) ? v : Array(n).fill(v);
    this.inChannels = inC;
    this.outChannels = outC;
    this.kernelSize = k;
    this.stride = nd(o.stride, 1);
    this.padding = typeof o.padding === 'string' ? o.padding : nd(o.padding, 0);
    this.dilation = nd(o.dilation, 1);
    this.groups = groups;
    if (this.padding === 'same' && this.stride.some((s) => s !== 1))
      throw new ArgumentError(`${name}: padding='same' needs stride 1, got ${tuple(this.stride)}`);
    const f = { dtype: o.dtype, device: o.device };
    this.weight = this.registerParameter('weight', empty([outC, inC / groups, ...k], f));
    this.bias = this.registerParameter('bias', o.bias === false ? undefined : empty([outC], f));
    this.resetParameters();
  }

  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const [fanIn] = init.calculateFanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      init.uniform_(this.bias, -bound, bound);
    }
  }

  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${tuple(this.kernelSize)}, stride=${tuple(this.stride)}`;
    const pad = this.padding;
    if (typeof pad === 'string') s += `, padding=${pad}`;
    else if (pad.some((p) => p !== 0)) s += `, padding=${tuple(pad)}`;
    if (this.dilation.some((d) => d !== 1)) s += `, dilation=${tuple(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (!this.bias) s += ', bias=False';
    return s;
  }
}

export class Conv2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: Pair, o: ConvOptions<Pair> = {}) {
    super(inChannels, outChannels, pair(kernelSize), o as ConvOptions<number | number[]>, 2);
  }
  forward(x: Tensor): Tensor {
    expectDims('Conv2d', x, [3, 4]);
    const padding = typeof this.padding === 'string' ? this.padding : pair(this.padding as [number, number]);
    return F.conv2d(x, this.weight, this.bias, {
      stride: pair(this.stride as [number, number]),
      padding,
      dilation: pair(this.dilation as [number, number]),
      groups: this.groups,
    });
  }
}

export class Conv1d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: number, o: ConvOptions<number> = {}) {
    super(inChannels, outChannels, [kernelSize], o, 1);
  }
  forward(x: Tensor): Tensor {
    expectDims('Conv1d', x, [2, 3]);
    return F.conv1d(x, this.weight, this.bias, {
      stride: this.stride[0],
      padding: typeof this.padding === 'string' ? this.padding : this.padding[0],
      dilation: this.dilation[0],
      groups: this.groups,
    });
  }
}
