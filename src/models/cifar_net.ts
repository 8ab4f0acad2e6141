// The small CIFAR-10 CNN of the fine-tuning seed (two convs, three linears), its exact names and sizes.
import { Conv2d, Linear, MaxPool2d, Module } from '../nn/index.ts';
import { F, type Tensor } from '../tensor/index.ts';
import { registerModel } from './_registry.ts';

export interface CifarNetOptions {
  numClasses?: number;
  inChannels?: number;
}

/** conv1(3, 6, 5) -> pool -> conv2(6, 16, 5) -> pool -> fc1(400, 120) -> fc2(120, 84) -> fc3(84, 10); 32x32 input. */
export class CifarNet extends Module {
  conv1: Conv2d;
  pool: MaxPool2d;
  conv2: Conv2d;
  fc1: Linear;
  fc2: Linear;
  fc3: Linear;

  constructor(o: CifarNetOptions = {}) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(o.inChannels ?? 3, 6, 5));
    this.pool = this.registerModule('pool', new MaxPool2d(2, { stride: 2 }));
    this.conv2 = this.registerModule('conv2', new Conv2d(6, 16, 5));
    this.fc1 = this.registerModule('fc1', new Linear(16 * 5 * 5, 120));
    this.fc2 = this.registerModule('fc2', new Linear(120, 84));
    this.fc3 = this.registerModule('fc3', new Linear(84, o.numClasses ?? 10));
  }

  forward(x: Tensor): Tensor {
    x = this.pool.call(F.relu(this.conv1.call(x)));
    x = this.pool.call(F.relu(this.conv2.call(x)));
    x = x.view(-1, 16 * 5 * 5);
    x = F.relu(this.fc1.call(x));
    x = F.relu(this.fc2.call(x));
    return this.fc3.call(x);
  }
}

export const cifarNet = (o: CifarNetOptions = {}) => new CifarNet(o);

registerModel({
  meta: {
    name: 'cifar_net',
    family: 'cifar_net',
    task: 'image-classification',
    classifier: ['fc3'],
    groups: [
      { name: 'features', match: ['conv1', 'conv2'] },
      { name: 'fc', match: ['fc1', 'fc2'] },
      { name: 'head', match: ['fc3'] },
    ],
    inputSize: [3, 32, 32],
    // the seed's transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    mean: [0.5, 0.5, 0.5],
    std: [0.5, 0.5, 0.5],
    numClasses: 10,
    source: 'seed 004_d741f3d7b166a80b (PyTorch CIFAR-10 tutorial Net)',
  },
  create: (o) => cifarNet(o as CifarNetOptions),
});
