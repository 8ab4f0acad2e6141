// Building blocks shared by torchvision models (torchvision.ops.misc / stochastic_depth), same names.
import { ArgumentError } from '../errors.ts';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Module, ReLU, Sequential, Sigmoid } from '../nn/index.ts';
import { aten, empty, noGrad, type Tensor } from '../tensor/index.ts';

export interface ConvNormActOptions {
  stride?: number;
  padding?: number;
  groups?: number;
  dilation?: number;
  /** undefined: no norm layer (then the conv gets a bias) */
  norm?: ((channels: number) => Module) | null;
  /** null: no activation */
  activation?: (() => Module) | null;
  bias?: boolean;
}

/** torchvision's Conv2dNormActivation: Sequential(conv '0', norm '1', activation '2'). */
export class Conv2dNormActivation extends Sequential {
  readonly outChannels: number;
  constructor(inC: number, outC: number, kernelSize = 3, o: ConvNormActOptions = {}) {
    const dilation = o.dilation ?? 1;
    const norm = o.norm === undefined ? (c: number) => new BatchNorm2d(c) : o.norm;
    const act = o.activation === undefined ? () => new ReLU({ inplace: true }) : o.activation;
    const layers: Module[] = [
      new Conv2d(inC, outC, kernelSize, {
        stride: o.stride ?? 1,
        padding: o.padding ?? Math.floor((kernelSize - 1) / 2) * dilation,
        dilation,
        groups: o.groups ?? 1,
        bias: o.bias ?? norm === null,
      }),
    ];
    if (norm) layers.push(norm(outC));
    if (act) layers.push(act());
    super(...layers);
    this.outChannels = outC;
  }
}

/** torchvision's SqueezeExcitation: input * sigmoid(fc2(act(fc1(avgpool(input))))). */
export class SqueezeExcitation extends Module {
  avgpool: AdaptiveAvgPool2d;
  fc1: Conv2d;
  fc2: Conv2d;
  activation: Module;
  scaleActivation: Module;
  constructor(inputChannels: number, squeezeChannels: number, activation: () => Module = () => new ReLU()) {
    super();
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.fc1 = this.registerModule('fc1', new Conv2d(inputChannels, squeezeChannels, 1));
    this.fc2 = this.registerModule('fc2', new Conv2d(squeezeChannels, inputChannels, 1));
    this.activation = this.registerModule('activation', activation());
    this.scaleActivation = this.registerModule('scale_activation', new Sigmoid());
  }
  forward(x: Tensor): Tensor {
    let s = this.avgpool.call(x);
    s = this.fc1.call(s);
    s = this.activation.call(s);
    s = this.fc2.call(s);
    s = this.scaleActivation.call(s);
    return s.mul(x);
  }
}

/** torchvision's StochasticDepth: in training, drops whole rows ('row') or the whole batch ('batch') with probability p. */
export class StochasticDepth extends Module {
  p: number;
  readonly mode: 'row' | 'batch';
  constructor(p: number, mode: 'row' | 'batch' = 'row') {
    super();
    if (p < 0 || p > 1) throw new ArgumentError(`drop probability has to be between 0 and 1, but got ${p}`);
    this.p = p;
    this.mode = mode;
  }
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const survival = 1 - this.p;
    const size = this.mode === 'row' ? [x.size(0), ...Array(x.ndim - 1).fill(1)] : Array(x.ndim).fill(1);
    const noise = noGrad(() => {
      const n = empty(size, { dtype: x.dtype, device: x.device });
      aten('aten::bernoulli_', 'float')(n, survival);
      if (survival > 0) n.div_(survival);
      return n;
    });
    return x.mul(noise);
  }
  override extraRepr(): string {
    return `p=${this.p}, mode=${this.mode}`;
  }
}

/** torchvision's _make_divisible: round channels to a multiple of divisor, never down by more than 10%. */
export function makeDivisible(v: number, divisor: number, minValue?: number): number {
  const min = minValue ?? divisor;
  let out = Math.max(min, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor);
  if (out < 0.9 * v) out += divisor;
  return out;
}
