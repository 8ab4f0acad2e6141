// Observers as torch.ao.quantization's: they watch tensors (running min / max) and turn what they
// saw into scale and zero point with torch's arithmetic (float32 tensors, eps floor, round half to
// even), so graft's qparams equal PyTorch's bit for bit.
import { QuantError } from '../errors.ts';
import { Module } from '../nn/index.ts';
import { aten, maximum, minimum, noGrad, type Tensor, tensor, unary, zeros } from '../tensor/index.ts';
import type { QDType, QParams } from './qtensor.ts';

export type QScheme = 'per_tensor_affine' | 'per_tensor_symmetric' | 'per_channel_affine' | 'per_channel_symmetric';

export interface ObserverOptions {
  dtype?: QDType;
  qscheme?: QScheme;
  /** one bit less of range ((0, 127) or (-64, 63)): x86 kernels' overflow guard */
  reduceRange?: boolean;
  quantMin?: number;
  quantMax?: number;
  /** the channel axis of per-channel observers (0: a conv / linear weight's output channels) */
  chAxis?: number;
}

const FLOAT32_EPS = 1.1920928955078125e-7;

/** torch's calculate_qmin_qmax. */
export function qRange(dtype: QDType, reduceRange: boolean, quantMin?: number, quantMax?: number): [number, number] {
  if (quantMin !== undefined && quantMax !== undefined) {
    if (!(quantMin <= 0 && 0 <= quantMax && quantMin < quantMax))
      throw new QuantError(`quant range (${quantMin}, ${quantMax}) must include 0 and have min < max`);
    return reduceRange ? [Math.floor(quantMin / 2), Math.floor(quantMax / 2)] : [quantMin, quantMax];
  }
  if (dtype === 'qint8') return reduceRange ? [-64, 63] : [-128, 127];
  return reduceRange ? [0, 127] : [0, 255];
}

/** An observer: a module that passes its input through and records what it needs for qparams. */
export abstract class Observer extends Module {
  readonly dtype: QDType;
  readonly qscheme: QScheme;
  readonly reduceRange: boolean;
  readonly quantMin: number;
  readonly quantMax: number;
  readonly #customRange: boolean;
  eps: Tensor;

  constructor(o: ObserverOptions, defaultScheme: QScheme) {
    super();
    this.dtype = o.dtype ?? 'quint8';
    this.qscheme = o.qscheme ?? defaultScheme;
    this.reduceRange = o.reduceRange ?? false;
    if (this.qscheme === 'per_tensor_symmetric' && this.reduceRange && this.dtype === 'quint8')
      throw new QuantError('cannot reduce range for symmetric quantization with quint8');
    this.#customRange = o.quantMin !== undefined && o.quantMax !== undefined;
    [this.quantMin, this.quantMax] = qRange(this.dtype, this.reduceRange, o.quantMin, o.quantMax);
    this.eps = this.registerBuffer('eps', tensor([FLOAT32_EPS]));
  }

  get perChannel(): boolean {
    return this.qscheme.startsWith('per_channel');
  }

  abstract observe(x: Tensor): void;
  abstract calculateQparams(): { scale: Tensor; zeroPoint: Tensor };

  forward(x: Tensor): Tensor {
    noGrad(() => this.observe(x));
    return x;
  }

  /** The qparams as quantize() takes them (per-tensor: plain numbers, as torch's float()/int()). */
  qparams(axis = 0): QParams {
    const { scale, zeroPoint } = this.calculateQparams();
    if (!this.perChannel) return { scheme: 'per_tensor', scale: scale.item(), zeroPoint: zeroPoint.item() };
    return { scheme: 'per_channel', scales: scale.to('float64'), zeroPoints: zeroPoint.to('int64'), axis };
  }

  /** torch's _calculate_qparams over min / max tensors ([] or [C], float32). */
  protected qparamsFromMinMax(minVal: Tensor, maxVal: Tensor): { scale: Tensor; zeroPoint: Tensor } {
    return noGrad(() => {
      const mins = minVal.data();
      const maxs = maxVal.data();
      if (mins.length === 0 || (mins[0] === Number.POSITIVE_INFINITY && maxs[0] === Number.NEGATIVE_INFINITY))
        return { scale: tensor([1]), zeroPoint: tensor([0], { dtype: 'int64' }) };
      const minNeg = minimum(minVal, zeros(minVal.shape));
      let maxPos = maximum(maxVal, zeros(maxVal.shape));
      let scale: Tensor;
      let zeroPoint: Tensor;
      if (this.qscheme === 'per_tensor_symmetric' || this.qscheme === 'per_channel_symmetric') {
        maxPos = maximum(minNeg.neg(), maxPos);
        scale = maximum(maxPos.div((this.quantMax - this.quantMin) / 2), this.eps);
        const zp =
          this.dtype === 'quint8' ? (this.#customRange ? Math.floor((this.quantMin + this.quantMax) / 2) : 128) : 0;
        zeroPoint = zeros(minNeg.shape, { dtype: 'int64' }).fill_(zp);
      } else {
        scale = maximum(maxPos.sub(minNeg).div(this.quantMax - this.quantMin), this.eps);
        zeroPoint = unary('round', minNeg.div(scale)).to('int32').neg().add(this.quantMin);
        zeroPoint = zeroPoint.clamp(this.quantMin, this.quantMax);
      }
      if (scale.ndim === 0) scale = scale.reshape([1]);
      if (zeroPoint.ndim === 0) zeroPoint = zeroPoint.reshape([1]);
      return { scale, zeroPoint };
    });
  }
}

/** Running min and max of everything seen (torch.ao.quantization.MinMaxObserver). */
export class MinMaxObserver extends Observer {
  minVal: Tensor;
  maxVal: Tensor;
  constructor(o: ObserverOptions = {}) {
    super(o, 'per_tensor_affine');
    if (this.perChannel) throw new QuantError('MinMaxObserver is per-tensor', 'use PerChannelMinMaxObserver');
    this.minVal = this.registerBuffer('min_val', tensor(Number.POSITIVE_INFINITY));
    this.maxVal = this.registerBuffer('max_val', tensor(Number.NEGATIVE_INFINITY));
  }
  observe(x: Tensor): void {
    if (x.numel() === 0) return;
    const [lo, hi] = aten('aminmax')(x.detach().float()) as [Tensor, Tensor];
    this.minVal.copy_(minimum(lo, this.minVal));
    this.maxVal.copy_(maximum(hi, this.maxVal));
  }
  calculateQparams(): { scale: Tensor; zeroPoint: Tensor } {
    return this.qparamsFromMinMax(this.minVal, this.maxVal);
  }
  override extraRepr(): string {
    return `min_val=${this.minVal.item()}, max_val=${this.maxVal.item()}`;
  }
}

/** Running min and max per channel along chAxis (torch's PerChannelMinMaxObserver). */
export class PerChannelMinMaxObserver extends Observer {
  readonly chAxis: number;
  minVal: Tensor;
  maxVal: Tensor;
  constructor(o: ObserverOptions = {}) {
    super(o, 'per_channel_affine');
    if (!this.perChannel) throw new QuantError('PerChannelMinMaxObserver is per-channel', 'use MinMaxObserver');
    this.chAxis = o.chAxis ?? 0;
    this.minVal = this.registerBuffer('min_val', zeros([0]));
    this.maxVal = this.registerBuffer('max_val', zeros([0]));
  }
  observe(x: Tensor): void {
    if (x.numel() === 0) return;
    const dims = x.shape.map((_, i) => i);
    dims[this.chAxis] = 0;
    dims[0] = this.chAxis;
    const y = x.detach().permute(dims).float().flatten(1);
    let [lo, hi] = aten('aminmax')(y, 1) as [Tensor, Tensor];
    if (this.minVal.numel() > 0) {
      lo = minimum(lo, this.minVal);
      hi = maximum(hi, this.maxVal);
    }
    this.minVal = this.registerBuffer('min_val', lo.contiguous());
    this.maxVal = this.registerBuffer('max_val', hi.contiguous());
  }
  calculateQparams(): { scale: Tensor; zeroPoint: Tensor } {
    return this.qparamsFromMinMax(this.minVal, this.maxVal);
  }
  override qparams(): QParams {
    return super.qparams(this.chAxis);
  }
}

/** Makes a fresh observer (a QConfig holds one for activations and one for weights). */
export type ObserverFactory = () => Observer;

export const minMax =
  (o: ObserverOptions = {}): ObserverFactory =>
  () =>
    new MinMaxObserver(o);
export const perChannelMinMax =
  (o: ObserverOptions = {}): ObserverFactory =>
  () =>
    new PerChannelMinMaxObserver(o);
