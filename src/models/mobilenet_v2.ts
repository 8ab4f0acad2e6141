// MobileNetV2 with torchvision's module names (torchvision.models.mobilenetv2, 0.14).
import { ArgumentError } from '../errors.ts';
import { BatchNorm2d, Conv2d, Dropout, GroupNorm, init, Linear, Module, ReLU6, Sequential } from '../nn/index.ts';
import { F, type Tensor } from '../tensor/index.ts';
import { Conv2dNormActivation, makeDivisible } from './_blocks.ts';
import { IMAGENET_MEAN, IMAGENET_STD, prefixRange, registerModel } from './_registry.ts';

const relu6 = () => new ReLU6({ inplace: true });

export class InvertedResidual extends Module {
  readonly stride: number;
  readonly useResConnect: boolean;
  readonly outChannels: number;
  conv: Sequential;

  constructor(inp: number, oup: number, stride: number, expandRatio: number) {
    super();
    if (stride !== 1 && stride !== 2) throw new ArgumentError(`stride should be 1 or 2 instead of ${stride}`);
    this.stride = stride;
    const hidden = Math.round(inp * expandRatio);
    this.useResConnect = stride === 1 && inp === oup;
    const layers: Module[] = [];
    if (expandRatio !== 1) layers.push(new Conv2dNormActivation(inp, hidden, 1, { activation: relu6 }));
    layers.push(
      new Conv2dNormActivation(hidden, hidden, 3, { stride, groups: hidden, activation: relu6 }),
      new Conv2d(hidden, oup, 1, { bias: false }),
      new BatchNorm2d(oup),
    );
    this.conv = this.registerModule('conv', new Sequential(...layers));
    this.outChannels = oup;
  }

  forward(x: Tensor): Tensor {
    const y = this.conv.call(x);
    return this.useResConnect ? x.add(y) : y;
  }
}

export interface MobileNetV2Options {
  numClasses?: number;
  inChannels?: number;
  widthMult?: number;
  roundNearest?: number;
  dropout?: number;
}

// t (expansion), c (channels), n (repeats), s (stride)
const SETTING: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

export class MobileNetV2 extends Module {
  readonly lastChannel: number;
  features: Sequential;
  classifier: Sequential;

  constructor(o: MobileNetV2Options = {}) {
    super();
    const width = o.widthMult ?? 1;
    const round = o.roundNearest ?? 8;
    let input = makeDivisible(32 * width, round);
    this.lastChannel = makeDivisible(1280 * Math.max(1, width), round);
    const features: Module[] = [
      new Conv2dNormActivation(o.inChannels ?? 3, input, 3, { stride: 2, activation: relu6 }),
    ];
    for (const [t, c, n, s] of SETTING) {
      const out = makeDivisible(c * width, round);
      for (let i = 0; i < n; i++) {
        features.push(new InvertedResidual(input, out, i === 0 ? s : 1, t));
        input = out;
      }
    }
    features.push(new Conv2dNormActivation(input, this.lastChannel, 1, { activation: relu6 }));
    this.features = this.registerModule('features', new Sequential(...features));
    this.classifier = this.registerModule(
      'classifier',
      new Sequential(new Dropout(o.dropout ?? 0.2), new Linear(this.lastChannel, o.numClasses ?? 1000)),
    );

    for (const m of this.modules()) {
      if (m instanceof Conv2d) {
        init.kaimingNormal_(m.weight, { mode: 'fan_out' });
        if (m.bias) init.zeros_(m.bias);
      } else if (m instanceof BatchNorm2d || m instanceof GroupNorm) {
        init.ones_(m.weight!);
        init.zeros_(m.bias!);
      } else if (m instanceof Linear) {
        init.normal_(m.weight, 0, 0.01);
        init.zeros_(m.bias!);
      }
    }
  }

  forward(x: Tensor): Tensor {
    x = this.features.call(x);
    // functional pooling, as torchvision (no avgpool module, so no key)
    return this.classifier.call(F.adaptiveAvgPool2d(x, 1).flatten(1));
  }
}

export const mobilenetV2 = (o: MobileNetV2Options = {}) => new MobileNetV2(o);

registerModel({
  meta: {
    name: 'mobilenet_v2',
    family: 'mobilenet',
    task: 'image-classification',
    classifier: ['classifier.1'],
    groups: [
      { name: 'stem', match: ['features.0'] },
      { name: 'stage1', match: prefixRange('features', 1, 3) },
      { name: 'stage2', match: prefixRange('features', 4, 6) },
      { name: 'stage3', match: prefixRange('features', 7, 13) },
      { name: 'stage4', match: prefixRange('features', 14, 18) },
      { name: 'head', match: ['classifier'] },
    ],
    inputSize: [3, 224, 224],
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    numClasses: 1000,
    source: 'torchvision.models.mobilenet_v2',
  },
  options: ['widthMult', 'roundNearest'],
  create: (o) => mobilenetV2(o as MobileNetV2Options),
});
