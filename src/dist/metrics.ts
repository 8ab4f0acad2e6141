// Metrics over every rank: each rank counts its own batches; the sums (loss x items, items, top-k
// hits, the confusion matrix) are all-reduced, never the ranks' averages, so accuracy and loss are
// what one process would have counted over all the samples.
import { fromArray, type Tensor } from '../tensor/index.ts';
import type { Meter } from '../train/index.ts';

/** The part of a process group the training integration uses. */
export interface Collectives {
  readonly rank: number;
  readonly worldSize: number;
  allreduce(ts: Tensor | Tensor[], op?: 'sum' | 'avg' | 'max' | 'min'): Promise<unknown>;
  broadcast(ts: Tensor | Tensor[], root: number): Promise<unknown>;
}

/** The reduced tensor: the collective's result when it gives one, else the input reduced in place. */
function first(result: unknown, input: Tensor): Tensor {
  const r = Array.isArray(result) ? result[0] : result;
  return r && typeof r === 'object' && 'data' in r ? (r as Tensor) : input;
}

/** Element-wise sum (or max) of `values` over the ranks, in float64. */
export async function allreduceNumbers(
  pg: Collectives,
  values: readonly number[],
  op: 'sum' | 'max' = 'sum',
): Promise<number[]> {
  const t = fromArray(Float64Array.from(values), [values.length], { dtype: 'float64' });
  try {
    const r = first(await pg.allreduce([t], op), t);
    const out = Array.from(r.data() as Float64Array);
    if (r !== t) r.dispose();
    return out;
  } finally {
    t.dispose();
  }
}

/** rank 0's numbers on every rank. */
export async function broadcastNumbers(pg: Collectives, values: readonly number[]): Promise<number[]> {
  const t = fromArray(Float64Array.from(values), [values.length], { dtype: 'float64' });
  try {
    const r = first(await pg.broadcast([t], 0), t);
    const out = Array.from(r.data() as Float64Array);
    if (r !== t) r.dispose();
    return out;
  } finally {
    t.dispose();
  }
}

/**
 * Sums a meter's totals over the ranks. With `keepOn: 'all'` every rank holds the world's totals
 * after it (an evaluation's end); with `keepOn: 'root'` rank 0 holds them and the others start
 * from zero, so a later reduction adds only what came after (the training meter mid-epoch, whose
 * totals rank 0 saves in checkpoints).
 */
export async function reduceMeter(meter: Meter, pg: Collectives, keepOn: 'all' | 'root' = 'all'): Promise<void> {
  if (pg.worldSize === 1) return;
  const s = meter.stateDict();
  const confusion = Array.isArray(s.confusion) ? (s.confusion as number[]) : [];
  const classes = confusion.length ? Number(s.num_classes) : 0;
  const [lossSum, items, topk, c] = [Number(s.loss_sum), Number(s.items), Number(s.topk_correct), classes];
  // the class count first: a rank that met no classification batch has no matrix yet
  const [, , , maxC] = await allreduceNumbers(pg, [0, 0, 0, c], 'max');
  const summed = await allreduceNumbers(pg, [
    lossSum,
    items,
    topk,
    ...(maxC ? (c === maxC ? confusion : new Array<number>(maxC * maxC).fill(0)) : []),
  ]);
  const keep = keepOn === 'all' || pg.rank === 0;
  meter.loadStateDict({
    loss_sum: keep ? summed[0] : 0,
    items: keep ? summed[1] : 0,
    num_classes: maxC || (s.num_classes ?? null),
    confusion: maxC ? (keep ? summed.slice(3) : new Array<number>(maxC * maxC).fill(0)) : null,
    topk_correct: keep ? summed[2] : 0,
  });
}
