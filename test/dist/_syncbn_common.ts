// The model, data and steps shared by the SyncBatchNorm worker (2 ranks) and its whole-batch
// reference in one process (syncbn.test.ts).
import * as nn from '../../src/nn/index.ts';
import { SGD } from '../../src/optim/index.ts';
import { crossEntropy, manualSeed, randint, randn, type Tensor } from '../../src/tensor/index.ts';

export const PER_RANK = 3;
export const STEPS = 3;

/** BatchNorm2d after a conv, BatchNorm1d (no affine weights) after a linear layer: per-rank batches of 3. */
export function bnNet(): nn.Module {
  manualSeed(11);
  return new nn.Sequential(
    new nn.Conv2d(2, 4, 3),
    new nn.BatchNorm2d(4),
    new nn.ReLU(),
    new nn.Flatten(),
    new nn.Linear(4 * 3 * 3, 5),
    new nn.BatchNorm1d(5, { momentum: 0.3, affine: false }),
    new nn.ReLU(),
    new nn.Linear(5, 3),
  );
}

/** The world's batch of `step` (2 ranks x PER_RANK samples; rank r takes rows r*PER_RANK...). */
export function worldBatch(step: number): { x: Tensor; y: Tensor } {
  manualSeed(500 + step);
  // an offset and a scale per channel, so statistics of one half differ from the whole's
  const x = randn([2 * PER_RANK, 2, 5, 5])
    .mul(2)
    .add(0.5);
  return { x, y: randint(0, 3, [2 * PER_RANK]) };
}

export const rows = (t: Tensor, rank: number, world: number): Tensor => {
  const n = t.size(0) / world;
  return t.narrow(0, rank * n, n);
};

export const sgd = (m: nn.Module): SGD => new SGD(m.parameters(), { lr: 0.2, momentum: 0.9 });

/** One SGD step of `model` on (x, y); returns the loss. */
export function trainStep(model: nn.Module, opt: SGD, x: Tensor, y: Tensor): number {
  opt.zeroGrad();
  const loss = crossEntropy(model.call(x) as Tensor, y);
  loss.backward();
  opt.step();
  return loss.item();
}

export function stateOf(m: nn.Module): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, t] of m.stateDict()) out[k] = Array.from(t.data() as ArrayLike<number>, Number);
  return out;
}
