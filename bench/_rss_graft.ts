// RSS over training steps of a small conv net (bench/all.ts's RSS row; bench/rss_torch.py is the
// PyTorch side): batch 8x3x32x32, conv-relu-pool-conv-relu-pool-linear, SGD momentum 0.9.
//   tidy:    each step inside tidy()
//   notidy:  no tidy() and no dispose(): GC frees the step's tensors; the loop awaits the event
//            loop between steps, as a loop that awaits its data does
//   trainer: graft's Trainer over in-memory batches
import { setImmediate as nextTurn } from 'node:timers/promises';
import * as nn from '../src/nn/index.ts';
import { SGD } from '../src/optim/index.ts';
import { crossEntropy, manualSeed, randint, randn, tidy } from '../src/tensor/index.ts';
import { Trainer } from '../src/train/index.ts';

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

/** A runner of n steps of SCENARIO; it answers the RSS before and after, in bytes. */
export function rssScenario(name: string): (n: number) => Promise<{ rss0: number; rss1: number }> {
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
  const measured = async (n: number, run: () => Promise<void>) => {
    const rss0 = process.memoryUsage.rss();
    await run();
    void n;
    return { rss0, rss1: process.memoryUsage.rss() };
  };
  switch (name) {
    case 'tidy':
      return (n) =>
        measured(n, async () => {
          for (let i = 0; i < n; i++) tidy(step);
        });
    case 'notidy':
      return (n) =>
        measured(n, async () => {
          for (let i = 0; i < n; i++) {
            step();
            await nextTurn();
          }
        });
    case 'trainer':
      return (n) =>
        measured(n, async () => {
          const train = Array.from({ length: n }, () => ({ input: x, target: y }));
          await new Trainer({ model, optimizer, train }).fit(1);
        });
    default:
      throw new Error(`unknown RSS scenario ${name}: tidy, notidy, trainer`);
  }
}
