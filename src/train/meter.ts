// Accumulates a split's loss and classification counts batch by batch; metrics come from the
// totals at the end (metrics.ts), so a last small batch weighs what its items weigh.
import type { SplitMetrics } from '../report/index.ts';
import { noGrad, type Tensor, topk } from '../tensor/index.ts';
import { type Counts, computeMetrics, emptyCounts } from './metrics.ts';

const isIndexTarget = (t: Tensor): boolean => t.ndim === 1 && (t.dtype === 'int64' || t.dtype === 'int32');

export class Meter {
  #counts: Counts | undefined;
  #lossSum = 0;
  #items = 0;
  numClasses: number | undefined;
  /** k of the top-k accuracy */
  readonly k: number;
  /** report perplexity = exp(loss) (causal-LM runs, whose items are tokens) */
  perplexity = false;

  constructor(numClasses?: number, k = 5) {
    this.numClasses = numClasses;
    this.k = k;
  }

  reset(): void {
    this.#counts = undefined;
    this.#lossSum = 0;
    this.#items = 0;
  }

  get items(): number {
    return this.#items;
  }

  /** Adds one batch: `loss` is the batch's mean loss over its `n` items. */
  update(loss: number, n: number, logits?: Tensor, target?: Tensor): void {
    this.#lossSum += loss * n;
    this.#items += n;
    if (!logits || !target || logits.ndim !== 2 || !isIndexTarget(target)) return;
    const c = logits.size(1);
    this.numClasses ??= c;
    if (c !== this.numClasses) return;
    this.#counts ??= emptyCounts(c, this.k);
    const counts = this.#counts;
    const k = counts.k;
    const idx = noGrad(() => topk(logits.detach(), k, 1)[1]).data() as BigInt64Array;
    const tgt = target.data();
    for (let i = 0; i < tgt.length; i++) {
      const t = Number(tgt[i]);
      if (t < 0 || t >= c) continue; // ignore_index and the like
      counts.confusion[t * c + Number(idx[i * k])]! += 1;
      for (let j = 0; j < k; j++)
        if (Number(idx[i * k + j]) === t) {
          counts.topkCorrect += 1;
          break;
        }
    }
  }

  result(): SplitMetrics {
    const loss = this.#items === 0 ? Number.NaN : this.#lossSum / this.#items;
    if (this.perplexity) return { loss, items: this.#items, perplexity: Math.exp(loss) };
    if (!this.#counts) return { loss, items: this.#items };
    const m = computeMetrics({ ...this.#counts, lossSum: this.#lossSum, items: this.#items });
    return {
      loss,
      items: this.#items,
      accuracy: m.accuracy,
      top5: m.top5,
      macroF1: m.macroF1,
      perClassAccuracy: m.perClassAccuracy,
    };
  }

  /** Plain numbers, for checkpoints (a mid-epoch resume continues the same totals). */
  stateDict(): Record<string, unknown> {
    return {
      loss_sum: this.#lossSum,
      items: this.#items,
      num_classes: this.numClasses ?? null,
      confusion: this.#counts ? [...this.#counts.confusion] : null,
      topk_correct: this.#counts?.topkCorrect ?? 0,
    };
  }

  loadStateDict(s: Record<string, unknown>): void {
    this.reset();
    this.#lossSum = Number(s.loss_sum ?? 0);
    this.#items = Number(s.items ?? 0);
    if (typeof s.num_classes === 'number') this.numClasses = s.num_classes;
    if (Array.isArray(s.confusion) && this.numClasses !== undefined) {
      this.#counts = emptyCounts(this.numClasses, this.k);
      this.#counts.confusion = s.confusion.map(Number);
      this.#counts.topkCorrect = Number(s.topk_correct ?? 0);
    }
  }
}
