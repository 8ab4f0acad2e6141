// Quantization-aware training modules (torch.ao.nn.qat and nn.intrinsic.qat): the float layer's own
// parameters (shared, so the float model trains too) with a fake-quantizer on the weight; ConvBn2d
// keeps the BatchNorm and folds it into the weight in each forward as torch's approximate method,
// so the weight the int8 model will hold is what training sees. State-dict keys as torch's.
import { type BatchNorm2d, type Conv2d, type Linear, Module, type Parameter } from '../nn/index.ts';
import { F, type Tensor, zeros } from '../tensor/index.ts';
import type { FusedMovingAvgObsFakeQuantize, QatQConfig } from './fake_quant.ts';
import { type ConvGeometry, convGeometry } from './qmodules.ts';

const convOpts = (g: ConvGeometry) => ({
  stride: g.stride as [number, number],
  padding: g.padding as [number, number],
  dilation: g.dilation as [number, number],
  groups: g.groups,
});

/** nnqat.Linear / nniqat.LinearReLU (relu = true). */
export class QatLinear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly relu: boolean;
  weight: Parameter;
  bias: Parameter | undefined;
  readonly weightFakeQuant: FusedMovingAvgObsFakeQuantize;
  constructor(linear: Linear, qconfig: QatQConfig, relu = false) {
    super();
    this.inFeatures = linear.inFeatures;
    this.outFeatures = linear.outFeatures;
    this.relu = relu;
    this.weight = this.registerParameter('weight', linear.weight);
    this.bias = this.registerParameter('bias', linear.bias);
    this.weightFakeQuant = this.registerModule('weight_fake_quant', qconfig.weight().presize(linear.outFeatures));
  }
  forward(x: Tensor): Tensor {
    const y = F.linear(x, this.weightFakeQuant.call(this.weight), this.bias);
    return this.relu ? F.relu(y) : y;
  }
  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}${this.relu ? ', relu' : ''}`;
  }
}

/** nnqat.Conv2d / nniqat.ConvReLU2d (relu = true). */
export class QatConv2d extends Module {
  readonly geometry: ConvGeometry;
  readonly relu: boolean;
  weight: Parameter;
  bias: Parameter | undefined;
  readonly weightFakeQuant: FusedMovingAvgObsFakeQuantize;
  constructor(conv: Conv2d, qconfig: QatQConfig, relu = false) {
    super();
    this.geometry = convGeometry(conv);
    this.relu = relu;
    this.weight = this.registerParameter('weight', conv.weight);
    this.bias = this.registerParameter('bias', conv.bias);
    this.weightFakeQuant = this.registerModule('weight_fake_quant', qconfig.weight().presize(conv.outChannels));
  }
  forward(x: Tensor): Tensor {
    const y = F.conv2d(x, this.weightFakeQuant.call(this.weight), this.bias, convOpts(this.geometry));
    return this.relu ? F.relu(y) : y;
  }
}

/**
 * nniqat.ConvBn2d / ConvBnReLU2d: conv weight scaled by gamma / sqrt(running_var + eps) and then
 * fake-quantized, the conv output scaled back and normalised by the BatchNorm (batch statistics
 * while training, running ones once frozen: freezeBnStats()).
 */
export class QatConvBn2d extends Module {
  readonly geometry: ConvGeometry;
  readonly relu: boolean;
  weight: Parameter;
  bias: Parameter | undefined;
  readonly bn: BatchNorm2d;
  readonly weightFakeQuant: FusedMovingAvgObsFakeQuantize;
  /** torch's freeze_bn: the BatchNorm stays in eval mode (running statistics, not updated). */
  freezeBn = false;
  constructor(conv: Conv2d, bn: BatchNorm2d, qconfig: QatQConfig, relu = false) {
    super();
    this.geometry = convGeometry(conv);
    this.relu = relu;
    this.weight = this.registerParameter('weight', conv.weight);
    this.bias = this.registerParameter('bias', conv.bias);
    this.bn = this.registerModule('bn', bn);
    this.weightFakeQuant = this.registerModule('weight_fake_quant', qconfig.weight().presize(conv.outChannels));
  }
  freezeBnStats(): this {
    this.freezeBn = true;
    return this;
  }
  updateBnStats(): this {
    this.freezeBn = false;
    return this;
  }
  forward(x: Tensor): Tensor {
    // torch's ConvBn train() leaves a frozen BatchNorm in eval mode; graft's Module.train() sets every
    // descendant, so freezing is applied here (a BatchNorm put in eval mode by a freeze plan stays so)
    if (this.freezeBn || !this.training) this.bn.training = false;
    const rv = this.bn.runningVar;
    if (!rv) throw new Error('QAT conv + BatchNorm needs running statistics');
    const n = this.geometry.outChannels;
    const gamma = this.bn.weight ?? zeros([n]).add(1);
    const scaleFactor = gamma.div(rv.add(this.bn.eps).sqrt());
    const scaled = this.weightFakeQuant.call(this.weight.mul(scaleFactor.reshape([-1, 1, 1, 1])));
    const conv = F.conv2d(x, scaled, zeros([n], { dtype: x.dtype }), convOpts(this.geometry));
    let orig = conv.div(scaleFactor.reshape([1, -1, 1, 1]));
    if (this.bias) orig = orig.add(this.bias.reshape([1, -1, 1, 1]));
    const y = this.bn.call(orig);
    return this.relu ? F.relu(y) : y;
  }
}

export type QatModule = QatLinear | QatConv2d | QatConvBn2d;
export const isQatModule = (m: Module): m is QatModule =>
  m instanceof QatLinear || m instanceof QatConv2d || m instanceof QatConvBn2d;
