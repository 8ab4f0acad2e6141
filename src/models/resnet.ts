// ResNet-18/34/50 with torchvision's module names (torchvision.models.resnet, 0.14).
import { ArgumentError } from '../errors.ts';
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  GroupNorm,
  init,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
} from '../nn/index.ts';
import type { Tensor } from '../tensor/index.ts';
import { IMAGENET_MEAN, IMAGENET_STD, type ModelOptions, registerModel } from './_registry.ts';

const conv3x3 = (inP: number, outP: number, stride = 1) =>
  new Conv2d(inP, outP, 3, { stride, padding: 1, bias: false });
const conv1x1 = (inP: number, outP: number, stride = 1) => new Conv2d(inP, outP, 1, { stride, bias: false });

export class BasicBlock extends Module {
  static readonly expansion = 1;
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu: ReLU;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  downsample: Module | undefined;

  constructor(inplanes: number, planes: number, stride = 1, downsample?: Module) {
    super();
    this.conv1 = this.registerModule('conv1', conv3x3(inplanes, planes, stride));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.relu = this.registerModule('relu', new ReLU({ inplace: true }));
    this.conv2 = this.registerModule('conv2', conv3x3(planes, planes));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.downsample = this.registerModule('downsample', downsample);
  }

  forward(x: Tensor): Tensor {
    let out = this.relu.call(this.bn1.call(this.conv1.call(x)));
    out = this.bn2.call(this.conv2.call(out));
    const identity = this.downsample ? this.downsample.call(x) : x;
    return this.relu.call(out.add(identity));
  }
}

export class Bottleneck extends Module {
  static readonly expansion = 4;
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  conv3: Conv2d;
  bn3: BatchNorm2d;
  relu: ReLU;
  downsample: Module | undefined;

  constructor(inplanes: number, planes: number, stride = 1, downsample?: Module) {
    super();
    const width = planes;
    this.conv1 = this.registerModule('conv1', conv1x1(inplanes, width));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width));
    this.conv2 = this.registerModule('conv2', conv3x3(width, width, stride));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(width));
    this.conv3 = this.registerModule('conv3', conv1x1(width, planes * 4));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(planes * 4));
    this.relu = this.registerModule('relu', new ReLU({ inplace: true }));
    this.downsample = this.registerModule('downsample', downsample);
  }

  forward(x: Tensor): Tensor {
    let out = this.relu.call(this.bn1.call(this.conv1.call(x)));
    out = this.relu.call(this.bn2.call(this.conv2.call(out)));
    out = this.bn3.call(this.conv3.call(out));
    const identity = this.downsample ? this.downsample.call(x) : x;
    return this.relu.call(out.add(identity));
  }
}

type Block = typeof BasicBlock | typeof Bottleneck;

export interface ResNetOptions {
  numClasses?: number;
  inChannels?: number;
  /** zero the last BatchNorm of each residual branch, so blocks start as identities */
  zeroInitResidual?: boolean;
}

export class ResNet extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu: ReLU;
  maxpool: MaxPool2d;
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  layer4: Sequential;
  avgpool: AdaptiveAvgPool2d;
  fc: Linear;
  #inplanes = 64;

  constructor(block: Block, layers: [number, number, number, number], o: ResNetOptions = {}) {
    super();
    this.conv1 = this.registerModule(
      'conv1',
      new Conv2d(o.inChannels ?? 3, 64, 7, { stride: 2, padding: 3, bias: false }),
    );
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(64));
    this.relu = this.registerModule('relu', new ReLU({ inplace: true }));
    this.maxpool = this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    this.layer1 = this.registerModule('layer1', this.#makeLayer(block, 64, layers[0]));
    this.layer2 = this.registerModule('layer2', this.#makeLayer(block, 128, layers[1], 2));
    this.layer3 = this.registerModule('layer3', this.#makeLayer(block, 256, layers[2], 2));
    this.layer4 = this.registerModule('layer4', this.#makeLayer(block, 512, layers[3], 2));
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d([1, 1]));
    this.fc = this.registerModule('fc', new Linear(512 * block.expansion, o.numClasses ?? 1000));

    for (const m of this.modules()) {
      if (m instanceof Conv2d) init.kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
      else if (m instanceof BatchNorm2d || m instanceof GroupNorm) {
        init.constant_(m.weight!, 1);
        init.constant_(m.bias!, 0);
      }
    }
    if (o.zeroInitResidual)
      for (const m of this.modules()) {
        if (m instanceof Bottleneck) init.zeros_(m.bn3.weight!);
        else if (m instanceof BasicBlock) init.zeros_(m.bn2.weight!);
      }
  }

  #makeLayer(block: Block, planes: number, blocks: number, stride = 1): Sequential {
    let downsample: Module | undefined;
    if (stride !== 1 || this.#inplanes !== planes * block.expansion)
      downsample = new Sequential(
        conv1x1(this.#inplanes, planes * block.expansion, stride),
        new BatchNorm2d(planes * block.expansion),
      );
    const out = [new block(this.#inplanes, planes, stride, downsample)];
    this.#inplanes = planes * block.expansion;
    for (let i = 1; i < blocks; i++) out.push(new block(this.#inplanes, planes));
    return new Sequential(...out);
  }

  forward(x: Tensor): Tensor {
    x = this.maxpool.call(this.relu.call(this.bn1.call(this.conv1.call(x))));
    x = this.layer4.call(this.layer3.call(this.layer2.call(this.layer1.call(x))));
    return this.fc.call(this.avgpool.call(x).flatten(1));
  }
}

export const resnet18 = (o: ResNetOptions = {}) => new ResNet(BasicBlock, [2, 2, 2, 2], o);
export const resnet34 = (o: ResNetOptions = {}) => new ResNet(BasicBlock, [3, 4, 6, 3], o);
export const resnet50 = (o: ResNetOptions = {}) => new ResNet(Bottleneck, [3, 4, 6, 3], o);

function noDropout(name: string, o: ModelOptions): void {
  if (o.dropout) throw new ArgumentError(`${name} has no dropout layer`, 'add one in a custom head instead');
}

for (const [name, make] of [
  ['resnet18', resnet18],
  ['resnet34', resnet34],
  ['resnet50', resnet50],
] as const)
  registerModel({
    meta: {
      name,
      family: 'resnet',
      task: 'image-classification',
      classifier: ['fc'],
      groups: [
        { name: 'stem', match: ['conv1', 'bn1'] },
        { name: 'layer1', match: ['layer1'] },
        { name: 'layer2', match: ['layer2'] },
        { name: 'layer3', match: ['layer3'] },
        { name: 'layer4', match: ['layer4'] },
        { name: 'head', match: ['fc'] },
      ],
      inputSize: [3, 224, 224],
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
      numClasses: 1000,
      source: `torchvision.models.${name}`,
    },
    options: ['zeroInitResidual'],
    create: (o) => {
      noDropout(name, o);
      return make(o as ResNetOptions);
    },
  });
