// Classification metrics from accumulated counts (never averages of per-batch values): a confusion
// matrix (rows: true class, columns: predicted) and the number of items whose class was in the top k.

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
