// RSS over training steps of a small conv net (bench/all.ts's RSS rows; bench/rss_torch.py is the
// PyTorch side): batch 8x3x32x32, conv-relu-pool-conv-relu-pool-linear, SGD momentum 0.9.
//   tidy:    each step inside tidy()
//   notidy:  no tidy() and no dispose(): GC frees the step's tensors; the loop awaits the event
//            loop between steps, as a loop that awaits its data does
//   trainer: graft's Trainer over in-memory batches
// A run of N steps answers the resident set size sampled every RSS_EVERY steps (and V8's heap at the
// same moments), so bench/all.ts can take each window's median instead of two single readings that
// land anywhere in a GC cycle.
import { setImmediate as nextTurn } from 'node:timers/promises';
import * as nn from '../src/nn/index.ts';
import { SGD } from '../src/optim/index.ts';
import { crossEntropy, manualSeed, randint, randn, tidy } from '../src/tensor/index.ts';
import { Trainer } from '../src/train/index.ts';

/** steps between two RSS samples (bench/rss_torch.py uses the same) */
export const RSS_EVERY = 20;

export function smallNet(): nn.Module {
  return new nn.Sequential(
    new nn.Conv2d(3, 16, 3, { padding: 1 }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(16, 32, 3, { padding: 1 }),
    new nn.ReLU(),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(32, 10),
  );
}

export type RssSamples = {
  /** resident set size in bytes, every RSS_EVERY steps */
  rss: number[];
  /** V8's heap (heapTotal) in bytes at the same moments: how much of a change is the JS heap */
  v8: number[];
};

/** A runner of n steps of SCENARIO answering its RSS samples. */
export function rssScenario(name: string): (n: number) => Promise<RssSamples> {
  manualSeed(0);
  const model = smallNet();
  const x = randn([8, 3, 32, 32]).keep();
  const y = randint(0, 10, [8]).keep();
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const step = () => {
    optimizer.zeroGrad();
    const loss = crossEntropy(model.call(x), y);
    loss.backward();
    optimizer.step();
    return loss.item();
  };
  const sampler = () => {
    const out: RssSamples = { rss: [], v8: [] };
    let i = 0;
    return {
      out,
      tick() {
        if (++i % RSS_EVERY !== 0) return;
        const m = process.memoryUsage();
        out.rss.push(m.rss);
        out.v8.push(m.heapTotal);
      },
    };
  };
  switch (name) {
    case 'tidy':
      return async (n) => {
        const s = sampler();
        for (let i = 0; i < n; i++) {
          tidy(step);
          s.tick();
        }
        return s.out;
      };
    case 'notidy':
      return async (n) => {
        const s = sampler();
        for (let i = 0; i < n; i++) {
          step();
          await nextTurn();
          s.tick();
        }
        return s.out;
      };
    case 'trainer':
      return async (n) => {
        const s = sampler();
        const train = Array.from({ length: n }, () => ({ input: x, target: y }));
        await new Trainer({ model, optimizer, train, callbacks: [{ afterBatch: async () => s.tick() }] }).fit(1);
        return s.out;
      };
    default:
      throw new Error(`unknown RSS scenario ${name}: tidy, notidy, trainer`);
  }
}
