// Module fusion as torch.ao.quantization.fuse_modules (eval mode): conv + BatchNorm folds the
// normalisation into the conv's weight and bias (fuse_conv_bn_eval), a following ReLU joins the
// conv / linear in one fused module, and the absorbed modules become Identity. For quantization-aware
// training (fuse_modules_qat) conv + BatchNorm stay apart in ConvBn2d / ConvBnReLU2d: the QAT module
// folds them in every forward.
import { QuantError } from '../errors.ts';
import {
  BatchNorm2d,
  Conv2d,
  foldConvBnWeights,
  Identity,
  Linear,
  type Module,
  ReLU,
  Sequential,
} from '../nn/index.ts';
import { noGrad, type Tensor } from '../tensor/index.ts';

/** nni.ConvReLU2d: children '0' (Conv2d) and '1' (ReLU), as torch's fused Sequential. */
export class ConvReLU2d extends Sequential {
  constructor(conv: Conv2d, relu: ReLU = new ReLU()) {
    super(conv, relu);
  }
  get conv(): Conv2d {
    return this.at<Conv2d>(0);
  }
}

/** nni.LinearReLU: children '0' (Linear) and '1' (ReLU). */
export class LinearReLU extends Sequential {
  constructor(linear: Linear, relu: ReLU = new ReLU()) {
    super(linear, relu);
  }
  get linear(): Linear {
    return this.at<Linear>(0);
  }
}

/** nni.ConvBn2d for QAT: children '0' (Conv2d) and '1' (BatchNorm2d). */
export class ConvBn2d extends Sequential {
  constructor(conv: Conv2d, bn: BatchNorm2d) {
    super(conv, bn);
  }
  get conv(): Conv2d {
    return this.at<Conv2d>(0);
  }
  get bn(): BatchNorm2d {
    return this.at<BatchNorm2d>(1);
  }
}

/** nni.ConvBnReLU2d for QAT: children '0' (Conv2d), '1' (BatchNorm2d), '2' (ReLU). */
export class ConvBnReLU2d extends Sequential {
  constructor(conv: Conv2d, bn: BatchNorm2d, relu: ReLU = new ReLU()) {
    super(conv, bn, relu);
  }
  get conv(): Conv2d {
    return this.at<Conv2d>(0);
  }
  get bn(): BatchNorm2d {
    return this.at<BatchNorm2d>(1);
  }
}

/** torch's fuse_conv_bn_weights (the math is nn's foldConvBnWeights, shared with inference folding). */
export function fuseConvBnWeights(
  convW: Tensor,
  convB: Tensor | undefined,
  bn: BatchNorm2d,
): { weight: Tensor; bias: Tensor } {
  if (!bn.runningMean || !bn.runningVar)
    throw new QuantError(
      'cannot fold a BatchNorm without running statistics into a conv',
      'track_running_stats must be on',
    );
  return foldConvBnWeights(convW, convB, bn);
}

/** A new Conv2d (same geometry, with a bias) holding conv + bn folded (torch's fuse_conv_bn_eval). */
export function fuseConvBn(conv: Conv2d, bn: BatchNorm2d): Conv2d {
  if (conv.training || bn.training)
    throw new QuantError(
      'conv + BatchNorm fusion for post-training quantization needs eval mode',
      'call model.eval() first',
    );
  if (bn.numFeatures !== conv.outChannels)
    throw new QuantError(
      `BatchNorm over ${bn.numFeatures} channels cannot follow a conv with ${conv.outChannels} outputs`,
    );
  const fused = new Conv2d(conv.inChannels, conv.outChannels, conv.kernelSize as [number, number], {
    stride: conv.stride as [number, number],
    padding: conv.padding as [number, number],
    dilation: conv.dilation as [number, number],
    groups: conv.groups,
    bias: true,
  });
  const { weight, bias } = fuseConvBnWeights(conv.weight.detach(), conv.bias?.detach(), bn);
  noGrad(() => {
    fused.weight.copy_(weight);
    fused.bias!.copy_(bias);
  });
  return fused.eval();
}

const kind = (m: Module): string =>
  m instanceof Conv2d
    ? 'conv'
    : m instanceof BatchNorm2d
      ? 'bn'
      : m instanceof ReLU
        ? 'relu'
        : m instanceof Linear
          ? 'linear'
          : m.constructor.name;

/** The fused module for a run of modules (qat: BatchNorm kept for training), or a QuantError naming the pattern. */
export function fuseKnown(mods: Module[], names: string[], qat = false): Module {
  const pattern = mods.map(kind).join('+');
  switch (pattern) {
    case 'conv+bn':
      return qat
        ? new ConvBn2d(mods[0] as Conv2d, mods[1] as BatchNorm2d)
        : fuseConvBn(mods[0] as Conv2d, mods[1] as BatchNorm2d);
    case 'conv+bn+relu':
      return qat
        ? new ConvBnReLU2d(mods[0] as Conv2d, mods[1] as BatchNorm2d, mods[2] as ReLU)
        : new ConvReLU2d(fuseConvBn(mods[0] as Conv2d, mods[1] as BatchNorm2d));
    case 'conv+relu':
      return new ConvReLU2d(mods[0] as Conv2d);
    case 'linear+relu':
      return new LinearReLU(mods[0] as Linear);
    default:
      throw new QuantError(
        `cannot fuse ${names.join(', ')} (${pattern})`,
        'fusable runs: conv+bn, conv+bn+relu, conv+relu, linear+relu',
      );
  }
}

/**
 * fuse_modules(model, groups): each group of dotted names (e.g. ['conv1', 'bn1', 'relu']) becomes one
 * fused module at the first name, the others Identity. In place; returns the model. qat: as
 * fuse_modules_qat (conv + BatchNorm kept apart for quantization-aware training).
 */
export function fuseModules<M extends Module>(model: M, groups: string[][], qat = false): M {
  for (const names of groups) {
    const mods = names.map((n) => model.getSubmodule(n));
    const fused = fuseKnown(mods, names, qat);
    model.setSubmodule(names[0]!, fused);
    for (const n of names.slice(1)) model.setSubmodule(n, new Identity());
  }
  return model;
}
