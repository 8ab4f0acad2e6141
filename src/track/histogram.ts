// Histograms in TensorBoard's bucket layout, as PyTorch's SummaryWriter.add_histogram builds them
// (bins='tensorflow', torch/utils/tensorboard/summary.py make_histogram): bucket edges
// ±1e-12·1.1^k up to 1e20 and 0, np.histogram's counting (each bucket [left, right), the last one
// closed), then only the span from the first to the last non-empty bucket is kept, with one empty
// bucket on its left so that its left edge shows. Non-finite values are left out.

/** A HistogramProto's fields (protobufjs's names). */
export interface Histogram {
  min: number;
  max: number;
  num: number;
  sum: number;
  sumSquares: number;
  /** right edge of each bucket */
  bucketLimit: number[];
  bucket: number[];
}

/** TensorFlow's default bucket edges, from -1e20 to 1e20 (the same doubles as Python's loop makes). */
export const DEFAULT_EDGES: Float64Array = (() => {
  const pos: number[] = [];
  for (let v = 1e-12; v < 1e20; v *= 1.1) pos.push(v);
  return Float64Array.from([...pos.map((v) => -v).reverse(), 0, ...pos]);
})();

/** numpy's pairwise summation (numpy/core/src/umath/loops_utils.h.src), so a sum matches np.sum's. */
function pairwiseSum(a: ArrayLike<number>, lo: number, n: number): number {
  if (n < 8) {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[lo + i]!;
    return s;
  }
  if (n <= 128) {
    const r = [a[lo]!, a[lo + 1]!, a[lo + 2]!, a[lo + 3]!, a[lo + 4]!, a[lo + 5]!, a[lo + 6]!, a[lo + 7]!];
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j]! += a[lo + i + j]!;
    let s = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
    for (; i < n; i++) s += a[lo + i]!;
    return s;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, lo, n2) + pairwiseSum(a, lo + n2, n - n2);
}

/** np.sum of a float64 array: pairwise within each 8192-element block of numpy's iterator buffer, blocks added in order. */
function npSum(a: Float64Array, n: number): number {
  let s = 0;
  for (let lo = 0; lo < n; lo += 8192) s += pairwiseSum(a, lo, Math.min(8192, n - lo));
  return s;
}

const LOG_BASE = Math.log(1.1);
const MID = (DEFAULT_EDGES.length - 1) / 2; // DEFAULT_EDGES[MID] = 0
const LAST = DEFAULT_EDGES.length - 1;

/**
 * Index of the bucket [edges[i], edges[i+1]) of DEFAULT_EDGES holding v (the last bucket is closed),
 * or -1 outside: a first guess from log(|v|), then moved to the exact edges (a step at most, as a
 * rule), so the result is the binary search's at a fraction of its cost.
 */
function bucketOf(v: number): number {
  const edges = DEFAULT_EDGES;
  if (v < edges[0]! || v > edges[LAST]!) return -1;
  if (v === edges[LAST]) return LAST - 1;
  const a = Math.abs(v);
  const k = a < 1e-12 ? -1 : Math.floor(Math.log(a / 1e-12) / LOG_BASE);
  let i = v >= 0 ? MID + 1 + k : MID - 2 - k;
  i = Math.min(Math.max(i, 0), LAST - 1);
  while (i > 0 && edges[i]! > v) i--;
  while (i < LAST - 1 && edges[i + 1]! <= v) i++;
  return i;
}

/**
 * The histogram of `values` (any typed array or list of numbers), or undefined when no finite value
 * falls inside the edges (TensorBoard has nothing to draw).
 */
export function histogramOf(values: ArrayLike<number>): Histogram | undefined {
  const edges = DEFAULT_EDGES;
  const finite = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) finite[n++] = v;
  }
  if (n === 0) return undefined;
  const counts = new Float64Array(edges.length - 1);
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sumSquares = 0;
  for (let i = 0; i < n; i++) {
    const v = finite[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    sumSquares += v * v;
    const b = bucketOf(v);
    if (b >= 0) counts[b]! += 1;
  }
  let first = -1;
  let last = -1;
  for (let i = 0; i < counts.length; i++)
    if (counts[i]! > 0) {
      if (first < 0) first = i;
      last = i;
    }
  if (first < 0) return undefined;
  const end = last + 1;
  // one empty bucket left of the first non-empty one: TensorBoard draws from right edges only
  const bucket = first > 0 ? Array.from(counts.subarray(first - 1, end)) : [0, ...counts.subarray(0, end)];
  const bucketLimit = Array.from(edges.subarray(first, end + 1));
  return { min, max, num: n, sum: npSum(finite, n), sumSquares, bucketLimit, bucket };
}
