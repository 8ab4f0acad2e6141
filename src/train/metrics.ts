// Classification metrics from accumulated counts (never averages of per-batch values): a confusion
// matrix (rows: true class, columns: predicted) and the number of items whose class was in the top k.
import { ArgumentError } from '../errors.ts';
import { editDistance } from '../util/spelling.ts';

export interface Counts {
  numClasses: number;
  /** row-major numClasses x numClasses: confusion[t * C + p] */
  confusion: number[];
  /** items whose true class was among the k highest scores */
  topkCorrect: number;
  /** k actually used: min(5, numClasses) */
  k: number;
  lossSum: number;
  items: number;
}

export interface ClassificationMetrics {
  loss: number;
  items: number;
  accuracy: number;
  /** top-k accuracy with k = min(5, numClasses) */
  top5: number;
  macroF1: number;
  /** recall of each class; null where the class had no items */
  perClassAccuracy: (number | null)[];
}

export function emptyCounts(numClasses: number, k = 5): Counts {
  return {
    numClasses,
    confusion: new Array(numClasses * numClasses).fill(0),
    topkCorrect: 0,
    k: Math.min(k, numClasses),
    lossSum: 0,
    items: 0,
  };
}

/** Counts from a confusion matrix given as rows (true class) of predicted-class counts. */
export function countsFromMatrix(matrix: number[][], extra: Partial<Counts> = {}): Counts {
  const c = matrix.length;
  const out = emptyCounts(c);
  matrix.forEach((row, t) => {
    row.forEach((v, p) => {
      out.confusion[t * c + p] = v;
    });
  });
  out.items = out.confusion.reduce((a, b) => a + b, 0);
  return { ...out, ...extra };
}

/**
 * Macro-F1 as scikit-learn's f1_score(average='macro') with labels = the classes that occur in the
 * targets or the predictions: the unweighted mean of 2TP / (2TP + FP + FN) over those classes.
 */
export function macroF1(confusion: number[], numClasses: number): number {
  const c = numClasses;
  let sum = 0;
  let n = 0;
  for (let k = 0; k < c; k++) {
    const tp = confusion[k * c + k]!;
    let row = 0;
    let col = 0;
    for (let j = 0; j < c; j++) {
      row += confusion[k * c + j]!;
      col += confusion[j * c + k]!;
    }
    if (row === 0 && col === 0) continue;
    const fn = row - tp;
    const fp = col - tp;
    sum += (2 * tp) / (2 * tp + fp + fn);
    n++;
  }
  return n === 0 ? 0 : sum / n;
}

/** Recall of each class (TP / items of that class); null for classes with no items. */
export function perClassAccuracy(confusion: number[], numClasses: number): (number | null)[] {
  const c = numClasses;
  const out: (number | null)[] = [];
  for (let k = 0; k < c; k++) {
    let row = 0;
    for (let j = 0; j < c; j++) row += confusion[k * c + j]!;
    out.push(row === 0 ? null : confusion[k * c + k]! / row);
  }
  return out;
}

export function accuracy(confusion: number[], numClasses: number): number {
  let tp = 0;
  let all = 0;
  for (let k = 0; k < numClasses; k++) tp += confusion[k * numClasses + k]!;
  for (const v of confusion) all += v;
  return all === 0 ? 0 : tp / all;
}

export function computeMetrics(c: Counts): ClassificationMetrics {
  return {
    loss: c.items === 0 ? Number.NaN : c.lossSum / c.items,
    items: c.items,
    accuracy: accuracy(c.confusion, c.numClasses),
    top5: c.items === 0 ? 0 : c.topkCorrect / c.items,
    macroF1: macroF1(c.confusion, c.numClasses),
    perClassAccuracy: perClassAccuracy(c.confusion, c.numClasses),
  };
}

/** Adds b's counts into a (same number of classes). */
export function mergeCounts(a: Counts, b: Counts): Counts {
  for (let i = 0; i < a.confusion.length; i++) a.confusion[i]! += b.confusion[i]!;
  a.topkCorrect += b.topkCorrect;
  a.lossSum += b.lossSum;
  a.items += b.items;
  return a;
}

// ---- metric names ----
// One vocabulary from the API to recipes and metrics.jsonl: `<split>.<metric>`, split `train` or
// `eval` (the validation data), metric as the meter names it. Other spellings are refused with a
// did-you-mean, so a misspelt monitor fails when the run starts, not after its first epoch.

/** What a split's meter reports (classification metrics need class logits and index targets). */
export const SPLIT_METRICS = ['loss', 'accuracy', 'top5', 'macroF1'] as const;
/** What a causal-LM run's meters report: the token-averaged loss and exp of it. */
export const LM_METRICS = ['loss', 'perplexity'] as const;
export type Task = 'classification' | 'causal-lm';

export interface MetricNameOptions {
  /** the run has validation data (eval.* metrics exist) */
  valid: boolean;
  /** k of the top-k accuracy; it is logged as `top5` whatever k is */
  topK?: number;
  /** 'causal-lm': loss and perplexity (default 'classification') */
  task?: Task;
}

const splitMetrics = (o: MetricNameOptions): readonly string[] => (o.task === 'causal-lm' ? LM_METRICS : SPLIT_METRICS);

/** Every metric name a run logs: train.loss, train.accuracy, ..., and eval.* with validation data. */
export function metricNames(o: MetricNameOptions): string[] {
  const splits = o.valid ? ['train', 'eval'] : ['train'];
  return splits.flatMap((s) => splitMetrics(o).map((m) => `${s}.${m}`));
}

const METRIC_ALIASES: Record<string, string> = {
  acc: 'accuracy',
  accuracy: 'accuracy',
  top5: 'top5',
  top_5: 'top5',
  top5accuracy: 'top5',
  top_k: 'top5',
  topk: 'top5',
  f1: 'macroF1',
  macrof1: 'macroF1',
  macro_f1: 'macroF1',
  f1macro: 'macroF1',
  loss: 'loss',
  ppl: 'perplexity',
  perplexity: 'perplexity',
};
const EVAL_PREFIXES = ['val_', 'valid_', 'validation_', 'eval_', 'test_', 'val.', 'valid.', 'validation.', 'test.'];
const TRAIN_PREFIXES = ['train_', 'training_', 'training.'];

/** The known name a misspelt or old-style one ('val_acc', 'accuracy', 'eval.acuracy') most likely meant. */
export function suggestMetricName(name: string, o: MetricNameOptions): string | undefined {
  const known = metricNames(o);
  const lower = name.toLowerCase();
  let split: string | undefined;
  let metric = lower;
  const pre = (ps: string[]) => ps.find((p) => lower.startsWith(p));
  const ev = pre(EVAL_PREFIXES);
  const tr = pre(TRAIN_PREFIXES);
  if (ev) [split, metric] = ['eval', lower.slice(ev.length)];
  else if (tr) [split, metric] = ['train', lower.slice(tr.length)];
  else if (lower.includes('.'))
    [split, metric] = [lower.slice(0, lower.indexOf('.')), lower.slice(lower.indexOf('.') + 1)];
  if (split !== undefined && split !== 'train' && split !== 'eval') split = split.startsWith('t') ? 'train' : 'eval';
  split ??= o.valid ? 'eval' : 'train';
  if (split === 'eval' && !o.valid) split = 'train';
  const flat = metric.replace(/[-\s]/g, '_');
  let m = METRIC_ALIASES[flat] ?? (/^top_?\d+/.test(flat) ? 'top5' : undefined);
  if (!m) {
    let best = Number.POSITIVE_INFINITY;
    for (const k of splitMetrics(o)) {
      const dist = editDistance(flat, k.toLowerCase());
      if (dist < best && dist <= Math.max(2, Math.floor(k.length / 3))) [m, best] = [k, dist];
    }
  }
  const guess = m ? `${split}.${m}` : undefined;
  return guess && known.includes(guess) && guess !== name ? guess : undefined;
}

/** Throws ArgumentError (the known names, a did-you-mean) unless `name` is a metric the run logs. */
export function checkMetricName(name: string, o: MetricNameOptions, where = 'monitor'): void {
  const known = metricNames(o);
  if (typeof name === 'string' && known.includes(name)) return;
  if (
    typeof name === 'string' &&
    name.startsWith('eval.') &&
    !o.valid &&
    metricNames({ ...o, valid: true }).includes(name)
  )
    throw new ArgumentError(
      `${where}: '${name}' is a validation metric, but this run has no validation data`,
      `give validation data, or watch ${name.replace('eval.', 'train.')}`,
    );
  const near = typeof name === 'string' ? suggestMetricName(name, o) : undefined;
  const topNote = /top_?\d/i.test(String(name)) ? ' (the top-k accuracy is named top5 for any k)' : '';
  throw new ArgumentError(
    `${where}: unknown metric '${String(name)}'; the metrics are ${known.join(', ')}${topNote}`,
    near ? `did you mean '${near}'?` : 'metric names are <split>.<metric>, split train or eval',
  );
}
