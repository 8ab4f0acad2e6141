// torch.nn.init: in-place initialisers with PyTorch's fan and gain computations.
import { ArgumentError } from '../errors.ts';
import { aten, noGrad, type Tensor } from '../tensor/index.ts';

export type Nonlinearity =
  | 'linear'
  | 'conv1d'
  | 'conv2d'
  | 'conv3d'
  | 'conv_transpose1d'
  | 'conv_transpose2d'
  | 'conv_transpose3d'
  | 'sigmoid'
  | 'tanh'
  | 'relu'
  | 'leaky_relu'
  | 'selu';
export type FanMode = 'fan_in' | 'fan_out';

/** torch.nn.init.calculate_gain */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope ** 2));
    }
    case 'selu':
      return 3 / 4;
    default:
      return 1;
  }
}

/** [fanIn, fanOut]: dims 1 and 0 times the receptive field (torch's _calculate_fan_in_and_fan_out). */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  const s = t.shape;
  if (s.length < 2) throw new ArgumentError(`fan in and fan out need a tensor with at least 2 dims, got shape [${s}]`);
  const receptive = s.slice(2).reduce((a, b) => a * b, 1);
  return [s[1]! * receptive, s[0]! * receptive];
}

function fan(t: Tensor, mode: FanMode): number {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  return mode === 'fan_in' ? fanIn : fanOut;
}

const uniformOp = () => aten('aten::uniform_');
const normalOp = () => aten('aten::normal_');

export function uniform_<T extends Tensor>(t: T, a = 0, b = 1): T {
  noGrad(() => uniformOp()(t, a, b));
  return t;
}
export function normal_<T extends Tensor>(t: T, mean = 0, std = 1): T {
  noGrad(() => normalOp()(t, mean, std));
  return t;
}
export function constant_<T extends Tensor>(t: T, v: number): T {
  noGrad(() => t.fill_(v));
  return t;
}
export const zeros_ = <T extends Tensor>(t: T): T => constant_(t, 0);
export const ones_ = <T extends Tensor>(t: T): T => constant_(t, 1);

export interface KaimingOptions {
  /** negative slope of the rectifier after this layer (leaky_relu only) */
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
}

export function kaimingUniform_<T extends Tensor>(t: T, o: KaimingOptions = {}): T {
  const std = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt(fan(t, o.mode ?? 'fan_in'));
  const bound = Math.sqrt(3) * std;
  return uniform_(t, -bound, bound);
}
export function kaimingNormal_<T extends Tensor>(t: T, o: KaimingOptions = {}): T {
  const std = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt(fan(t, o.mode ?? 'fan_in'));
  return normal_(t, 0, std);
}
export function xavierUniform_<T extends Tensor>(t: T, gain = 1): T {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const a = Math.sqrt(3) * gain * Math.sqrt(2 / (fanIn + fanOut));
  return uniform_(t, -a, a);
}
export function xavierNormal_<T extends Tensor>(t: T, gain = 1): T {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

/** Normal(mean, std) truncated to [a, b] by inverse-CDF sampling, exactly torch's method. */
export function truncNormal_<T extends Tensor>(t: T, mean = 0, std = 1, a = -2, b = 2): T {
  const cdf = (x: number) => (1 + erf(x / Math.SQRT2)) / 2;
  const l = cdf((a - mean) / std);
  const u = cdf((b - mean) / std);
  noGrad(() => {
    uniformOp()(t, 2 * l - 1, 2 * u - 1);
    aten('aten::erfinv_')(t);
    t.mul_(std * Math.SQRT2);
    t.add_(mean);
    t.clamp_(a, b);
  });
  return t;
}

/** erf to ~1e-13: the Maclaurin series below 2.5, a continued fraction for erfc above. */
export function erf(x: number): number {
  if (x < 0) return -erf(-x);
  if (x < 2.5) {
    let sum = x;
    let term = x;
    const x2 = x * x;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  return 1 - erfc(x);
}

// continued fraction for erfc, accurate for x >= 2.5
function erfc(x: number): number {
  if (x > 27) return 0;
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (x + f);
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / (x + f);
}

// aliases with PyTorch's spelling, for code ported from Python
export {
  kaimingNormal_ as kaiming_normal_,
  kaimingUniform_ as kaiming_uniform_,
  truncNormal_ as trunc_normal_,
  xavierNormal_ as xavier_normal_,
  xavierUniform_ as xavier_uniform_,
};
