// The data-parallel tests' shared set-up: a tiny conv net with BatchNorm, fixed batches of 8, a
// two-phase run (body frozen, then everything), and the one-process references the ranks must equal.
import type { RunSpec } from '../../src/finetune/index.ts';
import { PhaseRunner } from '../../src/finetune/index.ts';
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Flatten,
  Linear,
  Module,
  ReLU,
  Sequential,
} from '../../src/nn/index.ts';
import { crossEntropy, manualSeed, randint, randn, type Tensor } from '../../src/tensor/index.ts';
import type { Callback, FitOptions } from '../../src/train/index.ts';

export const BATCH = 8;
export const STEPS = 3;

export class Net extends Module {
  body = this.registerModule('body', new Sequential(new Conv2d(3, 4, 3), new BatchNorm2d(4), new ReLU()));
  head = this.registerModule('head', new Sequential(new AdaptiveAvgPool2d(1), new Flatten(), new Linear(4, 3)));
  forward(x: Tensor): Tensor {
    return this.head.call(this.body.call(x));
  }
}

/** 'train': BatchNorm normalises by each batch (per rank); 'eval': by its running statistics. */
export type Mode = 'train' | 'eval';

export function spec(mode: Mode): RunSpec {
  return {
    optimizer: { type: 'SGD', lr: 0.1, momentum: 0.9 },
    // frozen body first: the reduction is rebuilt when it unfreezes
    phases:
      mode === 'train'
        ? [
            { epochs: 1, freeze: { freeze: 'body' } },
            { epochs: 2, freeze: 'none' },
          ]
        : [{ epochs: 2 }],
  };
}

/** The same model and batches in every process (seeded). */
export function setup(mode: Mode): { model: Net; batches: { x: Tensor; y: Tensor }[]; runner: PhaseRunner } {
  manualSeed(7);
  const model = new Net();
  const batches = Array.from({ length: STEPS }, () => ({ x: randn([BATCH, 3, 6, 6]), y: randint(0, 3, [BATCH]) }));
  return { model, batches, runner: new PhaseRunner(model, spec(mode)) };
}

/** BatchNorm in eval mode for the whole run (the trainer puts the model in train mode at the start). */
export const bnEval: Callback = {
  beforeEpoch: (t) => {
    for (const m of t.model.modules()) if (m instanceof BatchNorm2d) m.eval();
  },
};

/** Rank r's share of each batch: rows [r * 8 / n, (r + 1) * 8 / n). */
export function share(batches: { x: Tensor; y: Tensor }[], rank: number, world: number) {
  const n = BATCH / world;
  return batches.map((b) => ({ input: b.x.narrow(0, rank * n, n), target: b.y.narrow(0, rank * n, n) }));
}

/**
 * One process, 'halves': each batch's two halves through the model separately (BatchNorm
 * statistics per half, as each rank sees), their losses averaged; 'whole': the batch at once.
 */
export function referenceOptions(mode: Mode, how: 'halves' | 'whole'): FitOptions {
  const { model, batches, runner } = setup(mode);
  const o: FitOptions = {
    model,
    runner,
    train: batches.map((b) => ({ input: b.x, target: b.y })),
    seed: 0,
    progress: false,
    callbacks: mode === 'eval' ? [bnEval] : [],
  };
  if (how === 'whole') return o;
  return {
    ...o,
    forward: (m, input) => {
      const x = input as Tensor;
      return [m.call(x.narrow(0, 0, BATCH / 2)), m.call(x.narrow(0, BATCH / 2, BATCH / 2))];
    },
    loss: (out, target) => {
      const [a, b] = out as Tensor[];
      const t = target as Tensor;
      return crossEntropy(a!, t.narrow(0, 0, BATCH / 2))
        .add(crossEntropy(b!, t.narrow(0, BATCH / 2, BATCH / 2)))
        .mul(0.5);
    },
  };
}

/** Every parameter and buffer as plain numbers (float32 values are exact as doubles). */
export function stateOf(m: Module): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, t] of m.stateDict()) out[k] = Array.from(t.data() as ArrayLike<number> as Float32Array, Number);
  return out;
}
