// transformers' logits processors and warpers (generation/logits_process.py), on [B, V] scores.
import { ArgumentError } from '../errors.ts';
import { arange, aten, type Tensor, tidy, topk, unary } from '../tensor/index.ts';

/** RepetitionPenaltyLogitsProcessor: scores of tokens already in inputIds divided by penalty (multiplied when < 0). */
export function repetitionPenalty(inputIds: Tensor, scores: Tensor, penalty: number): Tensor {
  if (!(penalty > 0)) throw new ArgumentError(`repetitionPenalty must be > 0, got ${penalty}`);
  return tidy(() => {
    const score = scores.gather(1, inputIds);
    const penalised = aten('aten::where', 'self')(score.lt(0), score.mul(penalty), score.div(penalty)) as Tensor;
    return scores.scatter(1, inputIds, penalised);
  });
}

/** TopKLogitsWarper: -inf below the k-th largest score (k at least minTokensToKeep, at most V). */
export function topKFilter(scores: Tensor, topK: number, minTokensToKeep = 1): Tensor {
  if (!Number.isInteger(topK) || topK < 1) throw new ArgumentError(`topK must be an integer >= 1, got ${topK}`);
  return tidy(() => {
    const k = Math.min(Math.max(topK, minTokensToKeep), scores.size(-1));
    const [values] = topk(scores, k);
    const kth = values.slice(-1, k - 1, k);
    return scores.maskedFill(scores.lt(kth), Number.NEGATIVE_INFINITY);
  });
}

/**
 * TopPLogitsWarper: keeps the smallest set of most likely tokens whose probabilities add up to
 * more than topP (at least minTokensToKeep); the rest -inf.
 */
export function topPFilter(scores: Tensor, topP: number, minTokensToKeep = 1): Tensor {
  if (!(topP >= 0 && topP <= 1)) throw new ArgumentError(`topP must be in [0, 1], got ${topP}`);
  return tidy(() => {
    const [sorted, indices] = aten('aten::sort')(scores, -1, false) as unknown as [Tensor, Tensor];
    const cumulative = aten('aten::cumsum')(sorted.softmax(-1), -1) as Tensor;
    const V = scores.size(-1);
    const lastCols = arange(0, V, 1, { dtype: 'int64', device: scores.device }).ge(V - minTokensToKeep);
    const sortedRemove = aten('aten::logical_and')(cumulative.le(1 - topP), unary('logical_not', lastCols)) as Tensor;
    const remove = sortedRemove.scatter(1, indices, sortedRemove);
    return scores.maskedFill(remove, Number.NEGATIVE_INFINITY);
  });
}

export interface ProcessOptions {
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  minTokensToKeep?: number;
  repetitionPenalty?: number;
}

/**
 * The processors in generate()'s order: repetition penalty (over inputIds, the sequences so far),
 * then (sampling only) temperature, top-k, top-p.
 */
export function processScores(inputIds: Tensor | undefined, scores: Tensor, o: ProcessOptions): Tensor {
  return tidy(() => {
    let s = scores;
    if (o.repetitionPenalty !== undefined && o.repetitionPenalty !== 1) {
      if (!inputIds) throw new ArgumentError('a repetition penalty needs the sequences so far (inputIds)');
      s = repetitionPenalty(inputIds, s, o.repetitionPenalty);
    }
    if (!o.doSample) return s;
    if (o.temperature !== undefined && o.temperature !== 1) {
      if (!(o.temperature > 0))
        throw new ArgumentError(
          `temperature must be > 0, got ${o.temperature}`,
          'for greedy decoding set doSample: false',
        );
      s = s.div(o.temperature);
    }
    if (o.topK) s = topKFilter(s, o.topK, o.minTokensToKeep);
    if (o.topP !== undefined && o.topP < 1) s = topPFilter(s, o.topP, o.minTokensToKeep);
    return s;
  });
}
