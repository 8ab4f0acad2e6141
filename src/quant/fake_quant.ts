// Fake quantization for quantization-aware training, as torch.ao.quantization's: moving-average
// min / max observers and FusedMovingAvgObsFakeQuantize, which observes, updates its scale and zero
// point and rounds the tensor to the int8 grid in one ATen op (fused_moving_avg_obs_fake_quant, the
// same kernel torch calls, so values and gradients are torch's). Gradients pass straight through
// inside the clamp range.
import { QuantError } from '../errors.ts';
import { Module } from '../nn/index.ts';
import { aten, full, noGrad, ones, type Tensor, tensor, unary, where, zeros } from '../tensor/index.ts';
import { Observer, type ObserverOptions } from './observer.ts';

export interface MovingAverageOptions extends ObserverOptions {
  /** weight of a new batch's min / max in the running value (torch's default 0.01) */
  averagingConstant?: number;
}

/** torch's MovingAverageMinMaxObserver: the first batch sets min / max, later ones move them by c. */
export class MovingAverageMinMaxObserver extends Observer {
  readonly averagingConstant: number;
  minVal: Tensor;
  maxVal: Tensor;
  constructor(o: MovingAverageOptions = {}) {
    super(o, 'per_tensor_affine');
    if (this.perChannel) throw new QuantError('MovingAverageMinMaxObserver is per-tensor');
    this.averagingConstant = o.averagingConstant ?? 0.01;
    this.minVal = this.registerBuffer('min_val', tensor(Number.POSITIVE_INFINITY));
    this.maxVal = this.registerBuffer('max_val', tensor(Number.NEGATIVE_INFINITY));
  }
  observe(x: Tensor): void {
    if (x.numel() === 0) return;
    const [lo, hi] = aten('aminmax')(x.detach().float()) as [Tensor, Tensor];
    const first = this.minVal.item() === Number.POSITIVE_INFINITY && this.maxVal.item() === Number.NEGATIVE_INFINITY;
    const c = this.averagingConstant;
    this.minVal.copy_(first ? lo : this.minVal.add(lo.sub(this.minVal).mul(c)));
    this.maxVal.copy_(first ? hi : this.maxVal.add(hi.sub(this.maxVal).mul(c)));
  }
  calculateQparams(): { scale: Tensor; zeroPoint: Tensor } {
    return this.qparamsFromMinMax(this.minVal, this.maxVal);
  }
}

/** torch's MovingAveragePerChannelMinMaxObserver (channels along chAxis). */
export class MovingAveragePerChannelMinMaxObserver extends Observer {
  readonly averagingConstant: number;
  readonly chAxis: number;
  minVal: Tensor;
  maxVal: Tensor;
  constructor(o: MovingAverageOptions = {}) {
    super(o, 'per_channel_affine');
    if (!this.perChannel) throw new QuantError('MovingAveragePerChannelMinMaxObserver is per-channel');
    this.averagingConstant = o.averagingConstant ?? 0.01;
    this.chAxis = o.chAxis ?? 0;
    this.minVal = this.registerBuffer('min_val', zeros([0]));
    this.maxVal = this.registerBuffer('max_val', zeros([0]));
  }
  /** Sizes the running min / max for `channels` (unseen: +inf / -inf, which the fused kernel treats as empty). */
  presize(channels: number): void {
    if (this.minVal.numel() === channels) return;
    this.minVal = this.registerBuffer('min_val', full([channels], Number.POSITIVE_INFINITY));
    this.maxVal = this.registerBuffer('max_val', full([channels], Number.NEGATIVE_INFINITY));
  }
  observe(x: Tensor): void {
    if (x.numel() === 0) return;
    const dims = x.shape.map((_, i) => i);
    dims[this.chAxis] = 0;
    dims[0] = this.chAxis;
    const [lo, hi] = aten('aminmax')(x.detach().permute(dims).float().flatten(1), 1) as [Tensor, Tensor];
    this.presize(lo.numel());
    const c = this.averagingConstant;
    const seen = unary('isfinite', this.minVal);
    this.minVal.copy_(where(seen, this.minVal.add(lo.sub(this.minVal).mul(c)), lo));
    this.maxVal.copy_(where(seen, this.maxVal.add(hi.sub(this.maxVal).mul(c)), hi));
  }
  calculateQparams(): { scale: Tensor; zeroPoint: Tensor } {
    return this.qparamsFromMinMax(this.minVal, this.maxVal);
  }
  override qparams() {
    return super.qparams(this.chAxis);
  }
}

type MovingAverage = MovingAverageMinMaxObserver | MovingAveragePerChannelMinMaxObserver;

/**
 * torch's FusedMovingAvgObsFakeQuantize: buffers fake_quant_enabled, observer_enabled, scale,
 * zero_point and the observer as child 'activation_post_process' (state-dict keys as torch's).
 */
export class FusedMovingAvgObsFakeQuantize extends Module {
  fakeQuantEnabled: Tensor;
  observerEnabled: Tensor;
  scale: Tensor;
  zeroPoint: Tensor;
  readonly activationPostProcess: MovingAverage;
  constructor(observer: MovingAverage) {
    super();
    this.fakeQuantEnabled = this.registerBuffer('fake_quant_enabled', tensor([1], { dtype: 'int64' }));
    this.observerEnabled = this.registerBuffer('observer_enabled', tensor([1], { dtype: 'int64' }));
    this.activationPostProcess = this.registerModule('activation_post_process', observer);
    this.scale = this.registerBuffer('scale', ones([1]));
    this.zeroPoint = this.registerBuffer('zero_point', zeros([1], { dtype: 'int32' }));
  }
  get observer(): Observer {
    return this.activationPostProcess;
  }
  get dtype() {
    return this.activationPostProcess.dtype;
  }
  get perChannel(): boolean {
    return this.activationPostProcess.perChannel;
  }
  get symmetric(): boolean {
    return this.activationPostProcess.qscheme.endsWith('symmetric');
  }
  /** Sizes the per-channel buffers before the first forward (the fused kernel would resize them under graft's cached shapes). */
  presize(channels: number): this {
    const obs = this.activationPostProcess;
    if (!(obs instanceof MovingAveragePerChannelMinMaxObserver) || obs.minVal.numel() === channels) return this;
    obs.presize(channels);
    this.scale = this.registerBuffer('scale', ones([channels]));
    this.zeroPoint = this.registerBuffer('zero_point', zeros([channels], { dtype: 'int32' }));
    return this;
  }
  forward(x: Tensor): Tensor {
    const obs = this.activationPostProcess;
    const chAxis = obs instanceof MovingAveragePerChannelMinMaxObserver ? obs.chAxis : -1;
    if (chAxis >= 0) this.presize(x.shape[chAxis]!);
    return aten('fused_moving_avg_obs_fake_quant')(
      x,
      this.observerEnabled,
      this.fakeQuantEnabled,
      obs.minVal,
      obs.maxVal,
      this.scale,
      this.zeroPoint,
      obs.averagingConstant,
      obs.quantMin,
      obs.quantMax,
      chAxis,
      this.perChannel,
      this.symmetric,
    ) as Tensor;
  }
  /** The observer's qparams (what convert() uses), not the kernel's running scale. */
  calculateQparams(): { scale: Tensor; zeroPoint: Tensor } {
    return this.activationPostProcess.calculateQparams();
  }
  enableObserver(on = true): void {
    noGrad(() => this.observerEnabled.fill_(on ? 1 : 0));
  }
  enableFakeQuant(on = true): void {
    noGrad(() => this.fakeQuantEnabled.fill_(on ? 1 : 0));
  }
  override extraRepr(): string {
    const o = this.activationPostProcess;
    return `fake_quant_enabled=${this.fakeQuantEnabled.item()}, observer_enabled=${this.observerEnabled.item()}, dtype=${o.dtype}, quant_min=${o.quantMin}, quant_max=${o.quantMax}, qscheme=${o.qscheme}`;
  }
}

/** A factory of fused fake-quantizers (a QAT qconfig holds one for activations, one for weights). */
export type FakeQuantFactory = () => FusedMovingAvgObsFakeQuantize;

/** What QAT puts on activations and on weights (torch's QConfig with fake-quantize factories). */
export interface QatQConfig {
  activation: FakeQuantFactory;
  weight: FakeQuantFactory;
}

export const fusedFakeQuant =
  (o: MovingAverageOptions & { perChannel?: boolean } = {}): FakeQuantFactory =>
  () =>
    new FusedMovingAvgObsFakeQuantize(
      o.perChannel ? new MovingAveragePerChannelMinMaxObserver(o) : new MovingAverageMinMaxObserver(o),
    );

/**
 * torch's get_default_qat_qconfig(backend) (version 1, the fused modules): activations quint8 over
 * (0, 255) with reduce_range on fbgemm / x86; weights qint8 (-128, 127) symmetric, per channel
 * (per tensor on qnnpack).
 */
export function defaultQatQconfig(backend: 'fbgemm' | 'x86' | 'qnnpack' | 'onednn' = 'fbgemm'): QatQConfig {
  if (!['fbgemm', 'x86', 'qnnpack', 'onednn'].includes(backend))
    throw new QuantError(`no QAT qconfig for backend '${backend}'`, 'use fbgemm, x86, qnnpack or onednn');
  const reduceRange = backend === 'fbgemm' || backend === 'x86';
  const perChannel = backend !== 'qnnpack';
  return {
    activation: fusedFakeQuant({ quantMin: 0, quantMax: 255, reduceRange }),
    weight: fusedFakeQuant({
      quantMin: -128,
      quantMax: 127,
      dtype: 'qint8',
      qscheme: perChannel ? 'per_channel_symmetric' : 'per_tensor_symmetric',
      perChannel,
    }),
  };
}

/** Observer and fake-quant switches over a whole model (torch's disable_observer / enable_fake_quant ...). */
export function enableObserver(model: Module, on = true): void {
  for (const m of model.modules()) if (m instanceof FusedMovingAvgObsFakeQuantize) m.enableObserver(on);
}
export function enableFakeQuant(model: Module, on = true): void {
  for (const m of model.modules()) if (m instanceof FusedMovingAvgObsFakeQuantize) m.enableFakeQuant(on);
}
