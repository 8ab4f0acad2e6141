// EfficientNet-B0 with torchvision's module names (torchvision.models.efficientnet, 0.14).
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  GroupNorm,
  init,
  Linear,
  Module,
  Sequential,
  SiLU,
} from '../nn/index.ts';
import type { Tensor } from '../tensor/index.ts';
import { Conv2dNormActivation, makeDivisible, SqueezeExcitation, StochasticDepth } from './_blocks.ts';
import { IMAGENET_MEAN, IMAGENET_STD, registerModel } from './_registry.ts';

const silu = () => new SiLU({ inplace: true });
const adjust = (channels: number, widthMult: number) => makeDivisible(channels * widthMult, 8);

/** One stage row of torchvision's MBConvConfig. */
export interface MBConvConfig {
  expandRatio: number;
  kernel: number;
  stride: number;
  inputChannels: number;
  outChannels: number;
  numLayers: number;
}

export class MBConv extends Module {
  readonly useResConnect: boolean;
  readonly outChannels: number;
  block: Sequential;
  stochasticDepth: StochasticDepth;

  constructor(c: MBConvConfig, stochasticDepthProb: number) {
    super();
    this.useResConnect = c.stride === 1 && c.inputChannels === c.outChannels;
    const layers: Module[] = [];
    const expanded = adjust(c.inputChannels, c.expandRatio);
    if (expanded !== c.inputChannels)
      layers.push(new Conv2dNormActivation(c.inputChannels, expanded, 1, { activation: silu }));
    layers.push(
      new Conv2dNormActivation(expanded, expanded, c.kernel, { stride: c.stride, groups: expanded, activation: silu }),
      new SqueezeExcitation(expanded, Math.max(1, Math.floor(c.inputChannels / 4)), silu),
      new Conv2dNormActivation(expanded, c.outChannels, 1, { activation: null }),
    );
    this.block = this.registerModule('block', new Sequential(...layers));
    this.stochasticDepth = this.registerModule('stochastic_depth', new StochasticDepth(stochasticDepthProb, 'row'));
    this.outChannels = c.outChannels;
  }

  forward(x: Tensor): Tensor {
    const y = this.block.call(x);
    return this.useResConnect ? this.stochasticDepth.call(y).add(x) : y;
  }
}

export interface EfficientNetOptions {
  numClasses?: number;
  inChannels?: number;
  dropout?: number;
  stochasticDepthProb?: number;
}

export class EfficientNet extends Module {
  features: Sequential;
  avgpool: AdaptiveAvgPool2d;
  classifier: Sequential;

  constructor(setting: MBConvConfig[], dropout: number, o: EfficientNetOptions = {}) {
    super();
    const sdProb = o.stochasticDepthProb ?? 0.2;
    const layers: Module[] = [
      new Conv2dNormActivation(o.inChannels ?? 3, setting[0]!.inputChannels, 3, { stride: 2, activation: silu }),
    ];
    const total = setting.reduce((a, c) => a + c.numLayers, 0);
    let id = 0;
    for (const c of setting) {
      const stage: Module[] = [];
      for (let i = 0; i < c.numLayers; i++) {
        const cfg = i === 0 ? c : { ...c, inputChannels: c.outChannels, stride: 1 };
        stage.push(new MBConv(cfg, (sdProb * id) / total));
        id++;
      }
      layers.push(new Sequential(...stage));
    }
    const lastIn = setting[setting.length - 1]!.outChannels;
    const lastOut = 4 * lastIn;
    layers.push(new Conv2dNormActivation(lastIn, lastOut, 1, { activation: silu }));
    this.features = this.registerModule('features', new Sequential(...layers));
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.classifier = this.registerModule(
      'classifier',
      new Sequential(new Dropout(dropout, { inplace: true }), new Linear(lastOut, o.numClasses ?? 1000)),
    );

    for (const m of this.modules()) {
      if (m instanceof Conv2d) {
        init.kaimingNormal_(m.weight, { mode: 'fan_out' });
        if (m.bias) init.zeros_(m.bias);
      } else if (m instanceof BatchNorm2d || m instanceof GroupNorm) {
        init.ones_(m.weight!);
        init.zeros_(m.bias!);
      } else if (m instanceof Linear) {
        const range = 1 / Math.sqrt(m.outFeatures);
        init.uniform_(m.weight, -range, range);
        init.zeros_(m.bias!);
      }
    }
  }

  forward(x: Tensor): Tensor {
    x = this.avgpool.call(this.features.call(x));
    return this.classifier.call(x.flatten(1));
  }
}

/** torchvision's _efficientnet_conf('efficientnet_bN', width_mult, depth_mult). */
export function efficientnetConf(widthMult = 1, depthMult = 1): MBConvConfig[] {
  const rows: [number, number, number, number, number, number][] = [
    [1, 3, 1, 32, 16, 1],
    [6, 3, 2, 16, 24, 2],
    [6, 5, 2, 24, 40, 2],
    [6, 3, 2, 40, 80, 3],
    [6, 5, 1, 80, 112, 3],
    [6, 5, 2, 112, 192, 4],
    [6, 3, 1, 192, 320, 1],
  ];
  return rows.map(([expandRatio, kernel, stride, i, o, n]) => ({
    expandRatio,
    kernel,
    stride,
    inputChannels: adjust(i, widthMult),
    outChannels: adjust(o, widthMult),
    numLayers: Math.ceil(n * depthMult),
  }));
}

export const efficientnetB0 = (o: EfficientNetOptions = {}) =>
  new EfficientNet(efficientnetConf(1, 1), o.dropout ?? 0.2, o);

registerModel({
  meta: {
    name: 'efficientnet_b0',
    family: 'efficientnet',
    task: 'image-classification',
    classifier: ['classifier.1'],
    groups: [
      { name: 'stem', match: ['features.0'] },
      { name: 'stage1', match: ['features.1', 'features.2'] },
      { name: 'stage2', match: ['features.3', 'features.4'] },
      { name: 'stage3', match: ['features.5', 'features.6'] },
      { name: 'stage4', match: ['features.7', 'features.8'] },
      { name: 'head', match: ['classifier'] },
    ],
    inputSize: [3, 224, 224],
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    numClasses: 1000,
    source: 'torchvision.models.efficientnet_b0',
  },
  options: ['stochasticDepthProb'],
  create: (o) => efficientnetB0(o as EfficientNetOptions),
});
