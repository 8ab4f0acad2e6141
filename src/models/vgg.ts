// VGG-16 and VGG-16-BN with torchvision's module names (torchvision.models.vgg, 0.14).
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  init,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
} from '../nn/index.ts';
import type { Tensor } from '../tensor/index.ts';
import { IMAGENET_MEAN, IMAGENET_STD, type LayerGroup, registerModel } from './_registry.ts';

export type VggConfig = (number | 'M')[];

/** torchvision's cfgs['D'] (VGG-16). */
export const VGG16_CFG: VggConfig = [
  64,
  64,
  'M',
  128,
  128,
  'M',
  256,
  256,
  256,
  'M',
  512,
  512,
  512,
  'M',
  512,
  512,
  512,
  'M',
];

/** torchvision's make_layers: conv(3x3, pad 1) [+ BatchNorm] + ReLU per number, MaxPool2d(2, 2) per 'M'. */
export function makeLayers(cfg: VggConfig, batchNorm: boolean, inChannels = 3): Sequential {
  const layers: Module[] = [];
  let c = inChannels;
  for (const v of cfg) {
    if (v === 'M') layers.push(new MaxPool2d(2, { stride: 2 }));
    else {
      layers.push(new Conv2d(c, v, 3, { padding: 1 }));
      if (batchNorm) layers.push(new BatchNorm2d(v));
      layers.push(new ReLU({ inplace: true }));
      c = v;
    }
  }
  return new Sequential(...layers);
}

export interface VggOptions {
  numClasses?: number;
  inChannels?: number;
  dropout?: number;
  /** torchvision's init (kaiming_normal fan_out convs, N(0, 0.01) linears); default true */
  initWeights?: boolean;
}

export class VGG extends Module {
  features: Sequential;
  avgpool: AdaptiveAvgPool2d;
  classifier: Sequential;

  constructor(features: Sequential, o: VggOptions = {}) {
    super();
    const p = o.dropout ?? 0.5;
    this.features = this.registerModule('features', features);
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d([7, 7]));
    this.classifier = this.registerModule(
      'classifier',
      new Sequential(
        new Linear(512 * 7 * 7, 4096),
        new ReLU({ inplace: true }),
        new Dropout(p),
        new Linear(4096, 4096),
        new ReLU({ inplace: true }),
        new Dropout(p),
        new Linear(4096, o.numClasses ?? 1000),
      ),
    );
    if (o.initWeights ?? true)
      for (const m of this.modules()) {
        if (m instanceof Conv2d) {
          init.kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
          if (m.bias) init.constant_(m.bias, 0);
        } else if (m instanceof BatchNorm2d) {
          init.constant_(m.weight!, 1);
          init.constant_(m.bias!, 0);
        } else if (m instanceof Linear) {
          init.normal_(m.weight, 0, 0.01);
          init.constant_(m.bias!, 0);
        }
      }
  }

  forward(x: Tensor): Tensor {
    x = this.avgpool.call(this.features.call(x));
    return this.classifier.call(x.flatten(1));
  }
}

export const vgg16 = (o: VggOptions = {}) => new VGG(makeLayers(VGG16_CFG, false, o.inChannels), o);
export const vgg16Bn = (o: VggOptions = {}) => new VGG(makeLayers(VGG16_CFG, true, o.inChannels), o);

/** One group per pooling block of features (block1..block5), then fc, then head. */
function vggGroups(cfg: VggConfig, batchNorm: boolean): LayerGroup[] {
  const groups: LayerGroup[] = [];
  let block: string[] = [];
  let i = 0;
  for (const v of cfg) {
    if (v === 'M') {
      groups.push({ name: `block${groups.length + 1}`, match: block });
      block = [];
      i += 1;
    } else {
      block.push(`features.${i}`);
      if (batchNorm) block.push(`features.${i + 1}`);
      i += batchNorm ? 3 : 2;
    }
  }
  groups.push({ name: 'fc', match: ['classifier.0', 'classifier.3'] }, { name: 'head', match: ['classifier.6'] });
  return groups;
}

for (const [name, bn, make] of [
  ['vgg16', false, vgg16],
  ['vgg16_bn', true, vgg16Bn],
] as const)
  registerModel({
    meta: {
      name,
      family: 'vgg',
      task: 'image-classification',
      classifier: ['classifier.6'],
      groups: vggGroups(VGG16_CFG, bn),
      inputSize: [3, 224, 224],
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
      numClasses: 1000,
      source: `torchvision.models.${name}`,
    },
    options: ['initWeights'],
    create: (o) => make(o as VggOptions),
  });
