// Statically quantized modules (torch.ao.nn.quantized): quint8 activations in and out with fixed
// output scale / zero point, qint8 weights packed for the engine's kernels. State dicts hold plain
// tensors: the int8 `weight` with `weight_scale` / `weight_zero_point`, the float `bias`, and the
// output `scale` / `zero_point` (torch's key names for the last two).
import { QuantError } from '../errors.ts';
import { type Conv2d, type Linear, Module } from '../nn/index.ts';
import { aten, type Tensor, tensor } from '../tensor/index.ts';
import { type Packed, qcall } from '../tensor/quant_native.ts';
import { QuantizedModule } from './module.ts';
import type { Observer } from './observer.ts';
import type { QConfig } from './qconfig.ts';
import {
  fromIntRepr,
  intRepr,
  QDTYPE_CODE,
  type QParams,
  qparamsFromTensors,
  qparamsOf,
  qparamsToTensors,
  quantize,
} from './qtensor.ts';

/** The output qparams an activation observer settled on (torch: float(scale), int(zero_point)). */
export function outputQparams(obs: Observer | undefined, where: string): { scale: number; zeroPoint: number } {
  if (!obs)
    throw new QuantError(`${where} has no activation observer`, 'run prepare() and calibrate() before convert()');
  const qp = obs.qparams();
  if (qp.scheme !== 'per_tensor') throw new QuantError(`${where}: activation qparams must be per-tensor`);
  return { scale: qp.scale, zeroPoint: qp.zeroPoint };
}

/** Observes a float weight with the qconfig's weight observer and quantizes it to qint8. */
export function quantizeWeight(w: Tensor, qconfig: QConfig): Tensor {
  const obs = qconfig.weight();
  if (obs.dtype !== 'qint8') throw new QuantError('weights quantize to qint8: the weight observer must be qint8');
  const wf = w.detach().float();
  obs.call(wf);
  return quantize(wf, obs.qparams(), 'qint8');
}

/** Shared state of the packed-weight modules: int weight, its qparams, float bias, output qparams. */
abstract class PackedOutputModule extends QuantizedModule {
  weight!: Tensor;
  weightScale!: Tensor;
  weightZeroPoint!: Tensor;
  bias: Tensor | undefined;
  scale: Tensor;
  zeroPoint: Tensor;
  protected packed: Packed | undefined;

  constructor(qweight: Tensor, bias: Tensor | undefined, out: { scale: number; zeroPoint: number }) {
    super();
    const { scale, zeroPoint } = qparamsToTensors(qparamsOf(qweight));
    this.weight = this.registerBuffer('weight', intRepr(qweight));
    this.weightScale = this.registerBuffer('weight_scale', scale);
    this.weightZeroPoint = this.registerBuffer('weight_zero_point', zeroPoint);
    this.bias = this.registerBuffer('bias', bias?.detach().float());
    this.scale = this.registerBuffer('scale', tensor(out.scale));
    this.zeroPoint = this.registerBuffer('zero_point', tensor(out.zeroPoint, { dtype: 'int64' }));
  }

  /** Replaces the qint8 weight (per-tensor or per-channel) and float bias, and repacks (a torch file's layout). */
  setWeightBias(qweight: Tensor, bias: Tensor | undefined): void {
    const { scale, zeroPoint } = qparamsToTensors(qparamsOf(qweight));
    this.weight = this.registerBuffer('weight', intRepr(qweight));
    this.weightScale = this.registerBuffer('weight_scale', scale);
    this.weightZeroPoint = this.registerBuffer('weight_zero_point', zeroPoint);
    this.bias = this.registerBuffer('bias', bias?.detach().float());
    this.repack();
  }

  weightQparams(): QParams {
    return qparamsFromTensors(this.weightScale, this.weightZeroPoint, 0);
  }
  quantizedWeight(): Tensor {
    return fromIntRepr(this.weight, this.weightQparams());
  }
  releasePacked(): void {
    this.packed?.free();
    this.packed = undefined;
  }
  protected ready(): Packed {
    if (!this.packed)
      throw new QuantError(`this quantized ${this.constructor.name} was released`, 'call repack() first');
    return this.packed;
  }
  protected outScale(): number {
    return this.scale.item();
  }
}

/** A conv's shape and strides, as quantized (and QAT) convs keep them: numeric padding only. */
export interface ConvGeometry {
  inChannels: number;
  outChannels: number;
  kernelSize: number[];
  stride: number[];
  padding: number[];
  dilation: number[];
  groups: number;
}

export function convGeometry(m: Conv2d): ConvGeometry {
  if (m.padding === 'same') throw new QuantError("quantized Conv2d needs numeric padding, not 'same'");
  return {
    inChannels: m.inChannels,
    outChannels: m.outChannels,
    kernelSize: m.kernelSize,
    stride: m.stride,
    padding: m.padding === 'valid' ? [0, 0] : m.padding,
    dilation: m.dilation,
    groups: m.groups,
  };
}

/** nnq.Linear / nniq.LinearReLU (relu = true). */
export class QuantizedLinear extends PackedOutputModule {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly relu: boolean;
  #out: [number, number];

  constructor(
    inF: number,
    outF: number,
    qweight: Tensor,
    bias: Tensor | undefined,
    out: { scale: number; zeroPoint: number },
    relu = false,
  ) {
    super(qweight, bias, out);
    this.inFeatures = inF;
    this.outFeatures = outF;
    this.relu = relu;
    this.#out = [out.scale, out.zeroPoint];
    this.repack();
  }

  static fromFloat(m: Linear, obs: Observer | undefined, qconfig: QConfig, relu = false): QuantizedLinear {
    const out = outputQparams(obs, 'Linear');
    return new QuantizedLinear(m.inFeatures, m.outFeatures, quantizeWeight(m.weight, qconfig), m.bias, out, relu);
  }

  repack(): void {
    this.releasePacked();
    this.#out = [this.outScale(), this.zeroPoint.item()];
    this.packed = qcall('quantized::linear_prepack', '', this.quantizedWeight(), this.bias);
  }

  forward(x: Tensor): Tensor {
    return qcall(this.relu ? 'quantized::linear_relu' : 'quantized::linear', '', x, this.ready(), ...this.#out);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, scale=${this.#out[0]}, zero_point=${this.#out[1]}${this.relu ? ', relu' : ''}`;
  }
}

/** nnq.Conv2d / nniq.ConvReLU2d (relu = true). */
export class QuantizedConv2d extends PackedOutputModule {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly padding: number[];
  readonly dilation: number[];
  readonly groups: number;
  readonly relu: boolean;
  #out: [number, number];

  constructor(
    geometry: ConvGeometry,
    qweight: Tensor,
    bias: Tensor | undefined,
    out: { scale: number; zeroPoint: number },
    relu = false,
  ) {
    super(qweight, bias, out);
    this.inChannels = geometry.inChannels;
    this.outChannels = geometry.outChannels;
    this.kernelSize = geometry.kernelSize;
    this.stride = geometry.stride;
    this.padding = geometry.padding;
    this.dilation = geometry.dilation;
    this.groups = geometry.groups;
    this.relu = relu;
    this.#out = [out.scale, out.zeroPoint];
    this.repack();
  }

  static fromFloat(m: Conv2d, obs: Observer | undefined, qconfig: QConfig, relu = false): QuantizedConv2d {
    const out = outputQparams(obs, 'Conv2d');
    return new QuantizedConv2d(convGeometry(m), quantizeWeight(m.weight, qconfig), m.bias, out, relu);
  }

  repack(): void {
    this.releasePacked();
    this.#out = [this.outScale(), this.zeroPoint.item()];
    this.packed = qcall(
      'quantized::conv2d_prepack',
      '',
      this.quantizedWeight(),
      this.bias,
      this.stride,
      this.padding,
      this.dilation,
      this.groups,
    );
  }

  forward(x: Tensor): Tensor {
    return qcall(this.relu ? 'quantized::conv2d_relu' : 'quantized::conv2d', 'new', x, this.ready(), ...this.#out);
  }

  override extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, kernel_size=(${this.kernelSize.join(', ')}), stride=(${this.stride.join(', ')}), scale=${this.#out[0]}, zero_point=${this.#out[1]}${this.relu ? ', relu' : ''}`;
  }
}

/** nnq.Quantize: float in, quint8 out with the calibrated scale / zero point. */
export class Quantize extends Module {
  scale: Tensor;
  zeroPoint: Tensor;
  constructor(out: { scale: number; zeroPoint: number }) {
    super();
    this.scale = this.registerBuffer('scale', tensor(out.scale));
    this.zeroPoint = this.registerBuffer('zero_point', tensor(out.zeroPoint, { dtype: 'int64' }));
  }
  forward(x: Tensor): Tensor {
    return aten('quantize_per_tensor')(x.float(), this.scale.item(), this.zeroPoint.item(), QDTYPE_CODE.quint8);
  }
  override extraRepr(): string {
    return `scale=${this.scale.item()}, zero_point=${this.zeroPoint.item()}, dtype=quint8`;
  }
}

/** nnq.DeQuantize: quantized in, float out. */
export class DeQuantize extends Module {
  forward(x: Tensor): Tensor {
    return aten('dequantize', 'self')(x);
  }
}

/** nnq.QFunctional: add / add_relu of two quantized tensors with the calibrated output qparams. */
export class QFunctional extends Module {
  scale: Tensor;
  zeroPoint: Tensor;
  constructor(out: { scale: number; zeroPoint: number }) {
    super();
    this.scale = this.registerBuffer('scale', tensor(out.scale));
    this.zeroPoint = this.registerBuffer('zero_point', tensor(out.zeroPoint, { dtype: 'int64' }));
  }
  add(a: Tensor, b: Tensor): Tensor {
    return aten('quantized::add')(a, b, this.scale.item(), this.zeroPoint.item());
  }
  addRelu(a: Tensor, b: Tensor): Tensor {
    return aten('quantized::add_relu')(a, b, this.scale.item(), this.zeroPoint.item());
  }
  forward(): never {
    throw new QuantError('QFunctional has no forward', 'call add() or addRelu()');
  }
}
