// graft twins of the torch models in scripts/fixtures/quant_pth_fixtures.py (same module names), and
// how scripts/fixtures/quant_pth_graft_write.ts quantizes them in graft (seeded, deterministic).
import { BasicBlock } from '../../src/models/index.ts';
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Flatten,
  Linear,
  MaxPool2d,
  type Module,
  ReLU,
  Sequential,
} from '../../src/nn/index.ts';
import * as quant from '../../src/quant/index.ts';
import { manualSeed, noGrad, rand, randn, type Tensor } from '../../src/tensor/index.ts';

export const convNet = (): Sequential =>
  new Sequential(
    new Conv2d(3, 4, 3, { padding: 1 }),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(4, 8, 3, { padding: 1 }),
    new BatchNorm2d(8),
    new ReLU(),
    new Flatten(),
    new Linear(8 * 4 * 4, 16),
    new ReLU(),
    new Linear(16, 10),
  );

/** torchvision's QuantizableBasicBlocks after a conv + bn + relu stem, with stubs. */
export class TinyResNet extends quant.QuantizableModel {
  constructor() {
    super();
    this.registerModule('quant', new quant.QuantStub());
    this.registerModule('conv1', new Conv2d(3, 8, 3, { padding: 1, bias: false }));
    this.registerModule('bn1', new BatchNorm2d(8));
    this.registerModule('relu', new ReLU());
    const down = new Sequential(new Conv2d(8, 16, 1, { stride: 2, bias: false }), new BatchNorm2d(16));
    this.registerModule(
      'layer1',
      new Sequential(
        new quant.QuantizableBasicBlock(new BasicBlock(8, 8)),
        new quant.QuantizableBasicBlock(new BasicBlock(8, 16, 2, down)),
      ),
    );
    this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.registerModule('fc', new Linear(16, 5));
    this.registerModule('dequant', new quant.DeQuantStub());
  }
  forward(x: Tensor): Tensor {
    const m = (n: string) => this.getSubmodule(n);
    x = m('relu').call(m('bn1').call(m('conv1').call(m('quant').call(x))));
    x = m('avgpool').call(m('layer1').call(x)).flatten(1);
    return m('dequant').call(m('fc').call(x));
  }
  fuseModel(qat = false): void {
    quant.fuseModules(this, [['conv1', 'bn1', 'relu']], qat);
    for (const b of this.getSubmodule('layer1').children()) (b as quant.QuantizableBasicBlock).fuseModel(qat);
  }
}

export const mlp = (): Sequential => new Sequential(new Linear(8, 16), new ReLU(), new Linear(16, 4));

export const STATIC = {
  conv_per_tensor: { make: convNet, backend: 'qnnpack' },
  conv_per_channel: { make: convNet, backend: 'fbgemm' },
  resnet_tiny: { make: () => new TinyResNet(), backend: 'fbgemm' },
} as const;
export const DYNAMIC = { dynamic_per_tensor: false, dynamic_per_channel: true } as const;
export type FixtureName = keyof typeof STATIC | keyof typeof DYNAMIC;
/** the models torch quantized for the torch -> graft fixtures */
export const NAMES = [...Object.keys(STATIC), ...Object.keys(DYNAMIC)] as FixtureName[];
/** graft -> torch also covers a graft QAT model (converted like static; torch loads it as resnet_tiny) */
export type GraftName = FixtureName | 'qat_resnet_tiny';
export const GRAFT_NAMES: GraftName[] = [...NAMES, 'qat_resnet_tiny'];

/** A fresh float model of the fixture's architecture (eval mode). */
export function floatModel(name: FixtureName): Module {
  const make = name in STATIC ? STATIC[name as keyof typeof STATIC].make : mlp;
  return make().eval();
}

/** Seeded weights and BatchNorm statistics away from (0, 1), so folding matters. */
function seedWeights(m: Module, seed: number): void {
  manualSeed(seed);
  noGrad(() => {
    for (const [k, v] of m.stateDict()) {
      if (k.endsWith('num_batches_tracked')) continue;
      if (k.endsWith('running_var')) v.copy_(rand(v.shape).mul(0.5).add(0.5));
      else v.copy_(randn(v.shape).mul(v.ndim > 1 ? 1 / Math.sqrt(v.numel() / v.shape[0]!) : 0.1));
    }
  });
}

/** The model graft quantizes itself for the graft -> torch fixtures, and an input for it. */
export function graftQuantized(name: GraftName, seed: number): { model: Module; x: Tensor } {
  if (name === 'qat_resnet_tiny') {
    const float = floatModel('resnet_tiny');
    seedWeights(float, seed);
    // a few training-mode forwards move the fake quantizers' ranges, as QAT fine-tuning would
    const prepared = quant.prepareQat(float, { backend: 'fbgemm' });
    noGrad(() => {
      for (let i = 0; i < 3; i++) prepared.call(randn([2, 3, 8, 8]));
    });
    return { model: quant.convertQat(prepared.eval()), x: randn([2, 3, 8, 8]) };
  }
  const float = floatModel(name);
  seedWeights(float, seed);
  if (name in DYNAMIC) {
    quant.quantizeDynamic(float, { perChannel: DYNAMIC[name as keyof typeof DYNAMIC] });
    return { model: float, x: randn([3, 8]).mul(2) };
  }
  const calib = Array.from({ length: 3 }, () => randn([2, 3, 8, 8]));
  const backend = STATIC[name as keyof typeof STATIC].backend;
  const model = quant.quantizeStatic(float, calib, { backend, activation: 'minmax' });
  return { model, x: randn([2, 3, 8, 8]) };
}
