// Models, data and the steps shared by the DataParallel reducer worker (2 ranks) and its
// single-process reference in reducer.test.ts.
import * as nn from '../../src/nn/index.ts';
import { SGD } from '../../src/optim/index.ts';
import { crossEntropy, manualSeed, noGrad, randint, randn, type Tensor } from '../../src/tensor/index.ts';

export const PER_RANK = 4;

export function mlp(seed: number): nn.Module {
  manualSeed(seed);
  return new nn.Sequential(new nn.Linear(6, 8), new nn.ReLU(), new nn.Linear(8, 8), new nn.ReLU(), new nn.Linear(8, 3));
}

export function cnn(seed: number): nn.Module {
  manualSeed(seed);
  return new nn.Sequential(
    new nn.Conv2d(1, 3, 3),
    new nn.BatchNorm2d(3),
    new nn.ReLU(),
    new nn.Flatten(),
    new nn.Linear(3 * 4 * 4, 3),
  );
}

/** The world's batch for `step` (2 ranks x PER_RANK samples); each rank takes its half. */
export function batch(step: number, image: boolean): { x: Tensor; y: Tensor } {
  manualSeed(1000 + step);
  const n = 2 * PER_RANK;
  return { x: randn(image ? [n, 1, 6, 6] : [n, 6]), y: randint(0, 3, [n]) };
}

export const half = (t: Tensor, part: number): Tensor => {
  const size = t.size(0) / 2;
  return t.narrow(0, part * size, size);
};

export const sgd = (m: nn.Module): SGD => new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });

export const loss = (m: nn.Module, x: Tensor, y: Tensor): Tensor => crossEntropy(m.call(x) as Tensor, y);

/** Parameters and buffers as base64 of their bytes: equal strings mean bit-identical. */
export function snapshot(m: nn.Module): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, t] of m.stateDict()) out[name] = Buffer.from(t.bytes()).toString('base64');
  return out;
}

export const copyInto = (dst: Tensor[], src: Tensor[]): void =>
  noGrad(() => {
    for (const [i, d] of dst.entries()) d.copy_(src[i]!);
  });
