// AlexNet with torchvision's module names (torchvision.models.alexnet, 0.14): default PyTorch init.
import { AdaptiveAvgPool2d, Conv2d, Dropout, Linear, MaxPool2d, Module, ReLU, Sequential } from '../nn/index.ts';
import type { Tensor } from '../tensor/index.ts';
import { IMAGENET_MEAN, IMAGENET_STD, registerModel } from './_registry.ts';

export interface AlexNetOptions {
  numClasses?: number;
  inChannels?: number;
  dropout?: number;
}

const relu = () => new ReLU({ inplace: true });

export class AlexNet extends Module {
  features: Sequential;
  avgpool: AdaptiveAvgPool2d;
  classifier: Sequential;

  constructor(o: AlexNetOptions = {}) {
    super();
    const p = o.dropout ?? 0.5;
    this.features = this.registerModule(
      'features',
      new Sequential(
        new Conv2d(o.inChannels ?? 3, 64, 11, { stride: 4, padding: 2 }),
        relu(),
        new MaxPool2d(3, { stride: 2 }),
        new Conv2d(64, 192, 5, { padding: 2 }),
        relu(),
        new MaxPool2d(3, { stride: 2 }),
        new Conv2d(192, 384, 3, { padding: 1 }),
        relu(),
        new Conv2d(384, 256, 3, { padding: 1 }),
        relu(),
        new Conv2d(256, 256, 3, { padding: 1 }),
        relu(),
        new MaxPool2d(3, { stride: 2 }),
      ),
    );
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d([6, 6]));
    this.classifier = this.registerModule(
      'classifier',
      new Sequential(
        new Dropout(p),
        new Linear(256 * 6 * 6, 4096),
        relu(),
        new Dropout(p),
        new Linear(4096, 4096),
        relu(),
        new Linear(4096, o.numClasses ?? 1000),
      ),
    );
  }

  forward(x: Tensor): Tensor {
    x = this.avgpool.call(this.features.call(x));
    return this.classifier.call(x.flatten(1));
  }
}

export const alexnet = (o: AlexNetOptions = {}) => new AlexNet(o);

registerModel({
  meta: {
    name: 'alexnet',
    family: 'alexnet',
    task: 'image-classification',
    classifier: ['classifier.6'],
    groups: [
      { name: 'conv1', match: ['features.0'] },
      { name: 'conv2', match: ['features.3'] },
      { name: 'conv3_5', match: ['features.6', 'features.8', 'features.10'] },
      { name: 'fc', match: ['classifier.1', 'classifier.4'] },
      { name: 'head', match: ['classifier.6'] },
    ],
    inputSize: [3, 224, 224],
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    numClasses: 1000,
    source: 'torchvision.models.alexnet',
  },
  create: (o) => alexnet(o as AlexNetOptions),
});
