// Quantizable forms of graft's models, as torchvision's quantizable ResNet: QuantStub before the
// network, DeQuantStub after it, FloatFunctional for the residual add (a quantized add needs its
// own output qparams) and fuseModel() listing the conv + bn + relu runs. A form shares the
// original's layers; fusion replaces them in the form only, so the float model is left as it was.
import { QuantError } from '../errors.ts';
import { BasicBlock, type Bottleneck, CifarNet, ResNet } from '../models/index.ts';
import { BatchNorm2d, Conv2d, Identity, Linear, Module, ReLU, Sequential } from '../nn/index.ts';
import { F, type Tensor } from '../tensor/index.ts';
import { fuseKnown, fuseModules } from './fuse.ts';

/** Marks where float input becomes quantized (an observer watches it until convert). */
export class QuantStub extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Marks where quantized values become float again. */
export class DeQuantStub extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** nn.quantized.FloatFunctional: add / add_relu in float, observed for the quantized add's qparams. */
export class FloatFunctional extends Module {
  activationPostProcess: Module;
  constructor() {
    super();
    this.activationPostProcess = this.registerModule('activation_post_process', new Identity());
  }
  add(a: Tensor, b: Tensor): Tensor {
    return this.activationPostProcess.call(a.add(b));
  }
  addRelu(a: Tensor, b: Tensor): Tensor {
    return this.activationPostProcess.call(F.relu(a.add(b)));
  }
  forward(): never {
    throw new QuantError('FloatFunctional has no forward', 'call add() or addRelu()');
  }
}

/** A model ready for eager-mode static quantization. */
export abstract class QuantizableModel extends Module {
  /** Fuses conv + bn (+ relu) and linear + relu runs in place (eval mode; qat: BatchNorm kept for training). */
  abstract fuseModel(qat?: boolean): void;
}

interface Adder {
  addRelu(a: Tensor, b: Tensor): Tensor;
}

export class QuantizableBasicBlock extends QuantizableModel {
  conv1: Module;
  bn1: Module;
  relu: Module;
  conv2: Module;
  bn2: Module;
  downsample: Module | undefined;
  addRelu: Module & Adder;
  constructor(b: BasicBlock) {
    super();
    this.conv1 = this.registerModule('conv1', b.conv1);
    this.bn1 = this.registerModule('bn1', b.bn1);
    this.relu = this.registerModule('relu', new ReLU());
    this.conv2 = this.registerModule('conv2', b.conv2);
    this.bn2 = this.registerModule('bn2', b.bn2);
    this.downsample = this.registerModule('downsample', b.downsample && twinSequential(b.downsample));
    this.addRelu = this.registerModule('add_relu', new FloatFunctional());
  }
  forward(x: Tensor): Tensor {
    let out = this.relu.call(this.bn1.call(this.conv1.call(x)));
    out = this.bn2.call(this.conv2.call(out));
    const identity = this.downsample ? this.downsample.call(x) : x;
    return this.addRelu.addRelu(out, identity);
  }
  fuseModel(qat = false): void {
    fuseModules(
      this,
      [
        ['conv1', 'bn1', 'relu'],
        ['conv2', 'bn2'],
      ],
      qat,
    );
    if (this.downsample) fuseModules(this.downsample, [['0', '1']], qat);
  }
}

export class QuantizableBottleneck extends QuantizableModel {
  conv1: Module;
  bn1: Module;
  conv2: Module;
  bn2: Module;
  conv3: Module;
  bn3: Module;
  relu: Module;
  downsample: Module | undefined;
  skipAddRelu: Module & Adder;
  relu1: Module;
  relu2: Module;
  constructor(b: Bottleneck) {
    super();
    this.conv1 = this.registerModule('conv1', b.conv1);
    this.bn1 = this.registerModule('bn1', b.bn1);
    this.conv2 = this.registerModule('conv2', b.conv2);
    this.bn2 = this.registerModule('bn2', b.bn2);
    this.conv3 = this.registerModule('conv3', b.conv3);
    this.bn3 = this.registerModule('bn3', b.bn3);
    this.relu = this.registerModule('relu', new ReLU());
    this.downsample = this.registerModule('downsample', b.downsample && twinSequential(b.downsample));
    this.skipAddRelu = this.registerModule('skip_add_relu', new FloatFunctional());
    this.relu1 = this.registerModule('relu1', new ReLU());
    this.relu2 = this.registerModule('relu2', new ReLU());
  }
  forward(x: Tensor): Tensor {
    let out = this.relu1.call(this.bn1.call(this.conv1.call(x)));
    out = this.relu2.call(this.bn2.call(this.conv2.call(out)));
    out = this.bn3.call(this.conv3.call(out));
    const identity = this.downsample ? this.downsample.call(x) : x;
    return this.skipAddRelu.addRelu(out, identity);
  }
  fuseModel(qat = false): void {
    fuseModules(
      this,
      [
        ['conv1', 'bn1', 'relu1'],
        ['conv2', 'bn2', 'relu2'],
        ['conv3', 'bn3'],
      ],
      qat,
    );
    if (this.downsample) fuseModules(this.downsample, [['0', '1']], qat);
  }
}

// a Sequential of the same children: fusing the twin leaves the original's children in place
function twinSequential(s: Module): Sequential {
  if (!(s instanceof Sequential))
    throw new QuantError(`a residual downsample must be a Sequential, got ${s.constructor.name}`);
  return new Sequential(...[...s]);
}

export class QuantizableResNet extends QuantizableModel {
  conv1: Module;
  bn1: Module;
  relu: Module;
  maxpool: Module;
  layers: Module[];
  avgpool: Module;
  fc: Module;
  quant: Module;
  dequant: Module;
  constructor(r: ResNet) {
    super();
    this.conv1 = this.registerModule('conv1', r.conv1);
    this.bn1 = this.registerModule('bn1', r.bn1);
    this.relu = this.registerModule('relu', new ReLU());
    this.maxpool = this.registerModule('maxpool', r.maxpool);
    this.layers = [r.layer1, r.layer2, r.layer3, r.layer4].map((layer, i) =>
      this.registerModule(
        `layer${i + 1}`,
        new Sequential(
          ...[...layer].map((b) =>
            b instanceof BasicBlock ? new QuantizableBasicBlock(b) : new QuantizableBottleneck(b as Bottleneck),
          ),
        ),
      ),
    );
    this.avgpool = this.registerModule('avgpool', r.avgpool);
    this.fc = this.registerModule('fc', r.fc);
    this.quant = this.registerModule('quant', new QuantStub());
    this.dequant = this.registerModule('dequant', new DeQuantStub());
  }
  forward(x: Tensor): Tensor {
    x = this.quant.call(x);
    x = this.maxpool.call(this.relu.call(this.bn1.call(this.conv1.call(x))));
    for (const layer of this.layers) x = layer.call(x);
    x = this.fc.call(this.avgpool.call(x).flatten(1));
    return this.dequant.call(x);
  }
  fuseModel(qat = false): void {
    fuseModules(this, [['conv1', 'bn1', 'relu']], qat);
    for (const m of this.modules())
      if (m instanceof QuantizableBasicBlock || m instanceof QuantizableBottleneck) m.fuseModel(qat);
  }
}

/** The CIFAR CNN with ReLU modules (fusable) and stubs. */
export class QuantizableCifarNet extends QuantizableModel {
  readonly #flat: number;
  constructor(n: CifarNet) {
    super();
    this.registerModule('quant', new QuantStub());
    this.registerModule('conv1', n.conv1);
    this.registerModule('relu1', new ReLU());
    this.registerModule('pool', n.pool);
    this.registerModule('conv2', n.conv2);
    this.registerModule('relu2', new ReLU());
    this.registerModule('fc1', n.fc1);
    this.registerModule('relu3', new ReLU());
    this.registerModule('fc2', n.fc2);
    this.registerModule('relu4', new ReLU());
    this.registerModule('fc3', n.fc3);
    this.registerModule('dequant', new DeQuantStub());
    this.#flat = n.fc1.inFeatures;
  }
  forward(x: Tensor): Tensor {
    const m = (name: string) => this.getSubmodule(name);
    x = m('quant').call(x);
    x = m('pool').call(m('relu1').call(m('conv1').call(x)));
    x = m('pool').call(m('relu2').call(m('conv2').call(x)));
    x = x.reshape(-1, this.#flat);
    x = m('relu3').call(m('fc1').call(x));
    x = m('relu4').call(m('fc2').call(x));
    return m('dequant').call(m('fc3').call(x));
  }
  fuseModel(qat = false): void {
    fuseModules(
      this,
      [
        ['conv1', 'relu1'],
        ['conv2', 'relu2'],
        ['fc1', 'relu3'],
        ['fc2', 'relu4'],
      ],
      qat,
    );
  }
}

/**
 * torch's QuantWrapper for models whose every op takes quantized tensors (a Sequential of convs,
 * BatchNorms, ReLUs, pools, Flatten and Linears): quant, dequant, module; fuseModel() fuses each
 * conv + bn (+ relu), conv + relu and linear + relu run found in Sequentials.
 */
export class QuantWrapper extends QuantizableModel {
  quant: Module;
  dequant: Module;
  module: Module;
  constructor(m: Module) {
    super();
    this.quant = this.registerModule('quant', new QuantStub());
    this.dequant = this.registerModule('dequant', new DeQuantStub());
    this.module = this.registerModule('module', twinTree(m));
  }
  forward(x: Tensor): Tensor {
    return this.dequant.call(this.module.call(this.quant.call(x)));
  }
  fuseModel(qat = false): void {
    for (const [name, m] of [...this.module.namedModules()])
      if (m instanceof Sequential) {
        const kids = [...m.namedChildren()];
        for (let i = 0; i < kids.length; i++) {
          const run = runAt(
            kids.map(([, k]) => k),
            i,
          );
          if (run < 2) continue;
          const names = kids.slice(i, i + run).map(([n]) => n);
          m.registerModule(
            names[0]!,
            fuseKnown(
              kids.slice(i, i + run).map(([, k]) => k),
              names.map((n) => (name ? `${name}.${n}` : n)),
              qat,
            ),
          );
          for (const n of names.slice(1)) m.registerModule(n, new Identity());
          i += run - 1;
        }
      }
  }
}

// Sequentials copied all the way down (fusion replaces children in the copies), other modules shared
function twinTree(m: Module): Module {
  return m instanceof Sequential ? new Sequential(...[...m].map(twinTree)) : m;
}

// length of the fusable run starting at i: conv+bn+relu, conv+bn, conv+relu, linear+relu
function runAt(mods: Module[], i: number): number {
  const a = mods[i];
  const b = mods[i + 1];
  const c = mods[i + 2];
  if (a instanceof Conv2d && b instanceof BatchNorm2d) return c instanceof ReLU ? 3 : 2;
  if ((a instanceof Conv2d || a instanceof Linear) && b instanceof ReLU) return 2;
  return 0;
}

/** The quantizable form of a model: itself if it already is one, else a form sharing its layers. */
export function quantizable(model: Module): QuantizableModel {
  if (model instanceof QuantizableModel) return model;
  if (model instanceof ResNet) return new QuantizableResNet(model);
  if (model instanceof CifarNet) return new QuantizableCifarNet(model);
  if (model instanceof Sequential) return new QuantWrapper(model);
  throw new QuantError(
    `no quantizable form of ${model.constructor.name} for static quantization`,
    'static int8 covers ResNet, the CIFAR CNN and Sequential conv nets; use dynamic quantization (Linear layers) for transformers',
  );
}
