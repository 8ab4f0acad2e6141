// graft's side of the ResNet-18 fine-tune bench (bench/train.ts, bench/all.ts): one Trainer step loop
// per mode, batch 16x3x112x112, SGD momentum 0.9, 10 classes.
//   full:     every parameter trains
//   frozen:   all but fc have requiresGrad false, so backward stops at fc
//   features: the backbone runs under noGrad in eval mode, then fc trains on its output
import * as models from '../src/models/index.ts';
import type { Module } from '../src/nn/index.ts';
import { SGD } from '../src/optim/index.ts';
import { manualSeed, noGrad, randint, randn, type Tensor } from '../src/tensor/index.ts';
import { type BatchInput, type Callback, type ForwardFn, Trainer } from '../src/train/index.ts';

export const BATCH = 16;
export const SIZE = 112;
export type Mode = 'full' | 'frozen' | 'features';

function backbone(r: models.ResNet, x: Tensor): Tensor {
  x = r.maxpool.call(r.relu.call(r.bn1.call(r.conv1.call(x))));
  x = r.layer4.call(r.layer3.call(r.layer2.call(r.layer1.call(x))));
  return r.avgpool.call(x).flatten(1);
}

/** A runner of `steps` steps of MODE; it answers images per second. */
export function graftSide(mode: Mode): (steps: number) => Promise<number> {
  manualSeed(0);
  const model = models.create('resnet18', { numClasses: 10 }) as models.ResNet;
  const x = randn([BATCH, 3, SIZE, SIZE]);
  const y = randint(0, 10, [BATCH]);
  if (mode !== 'full') for (const [n, p] of model.namedParameters()) p.requiresGrad = n.startsWith('fc.');
  const optimizer = new SGD(mode === 'full' ? model.parameters() : model.fc.parameters(), { lr: 0.01, momentum: 0.9 });
  const forward: ForwardFn | undefined =
    mode === 'features'
      ? (m: Module, input: BatchInput) =>
          (m as models.ResNet).fc.call(noGrad(() => backbone(m as models.ResNet, input as Tensor)))
      : undefined;
  const callbacks: Callback[] = mode === 'features' ? [{ beforeEpoch: (t) => void t.model.eval() }] : [];
  return async (steps: number) => {
    const train = Array.from({ length: steps }, () => ({ input: x, target: y }));
    const t = new Trainer({ model, optimizer, train, forward, callbacks });
    const t0 = performance.now();
    await t.fit(1);
    return (steps * BATCH) / ((performance.now() - t0) / 1000);
  };
}
