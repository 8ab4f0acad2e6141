// Gradient accumulation as a callback: `every` batches add their gradients before one optimizer
// step. Each batch's mean loss is weighted by its items before backward and the window's gradient
// is divided by the items it actually had, so a short last batch or a partial last window gives
// exactly the gradient of the mean loss over the window's items.
import { ArgumentError } from '../../errors.ts';
import { noGrad } from '../../tensor/index.ts';
import { type Callback, CancelBatchException } from '../events.ts';
import type { Trainer } from '../trainer.ts';

export class GradientAccumulation implements Callback {
  readonly name = 'accumulate';
  // after mixed precision's unscale, before clipping
  readonly order = -50;
  readonly every: number;
  #items = 0;

  constructor(every: number) {
    if (!Number.isInteger(every) || every < 1)
      throw new ArgumentError(`accumulate must be an integer >= 1, got ${every}`);
    this.every = every;
  }

  /** A new fit() starts with an empty window (an earlier one may have failed inside one). */
  beforeFit(): void {
    this.#items = 0;
  }

  beforeBackward(t: Trainer): void {
    if (t.lossToBackward) t.lossToBackward = t.lossToBackward.mul(t.items);
  }

  /** Keeps the gradients (cancels the rest of the batch) until the window or the epoch is complete. */
  afterBackward(t: Trainer): void {
    this.#items += t.items;
    const len = t.batchesPerEpoch;
    const closes = (t.batchIndex + 1) % this.every === 0 || (len !== undefined && t.batchIndex + 1 >= len);
    if (!closes) throw new CancelBatchException('accumulating gradients');
  }

  beforeStep(t: Trainer): void {
    // backward saw sum-of-batch-means x items: divide by the items the window actually had
    if (this.#items === 0) return;
    const inv = 1 / this.#items;
    noGrad(() => {
      for (const g of t.optimizer.paramGroups) for (const p of g.params) p.grad?.mul_(inv);
    });
  }

  afterStep(): void {
    this.#items = 0;
  }
}
