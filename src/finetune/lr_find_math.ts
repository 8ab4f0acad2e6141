// The numbers of the LR finder, after fastai's LRFinder and its suggestion functions: the
// exponential sweep, the bias-corrected smoothed loss, the divergence test and the four ways to
// read a learning rate off the curve (valley, slide, minimum, steep). No tensors: the trainer
// records (lr, loss) pairs and these functions work on plain arrays.
import { ArgumentError } from '../errors.ts';
import { pow } from '../util/pymath.ts';

/**
 * fastai's suggestion methods: valley (its default), slide, minimum (the minimum's lr / 10), steep;
 * and Lightning's Tuner suggestion (the steepest gradient).
 */
export const LR_SUGGESTIONS = ['valley', 'slide', 'minimum', 'steep', 'lightning'] as const;
export type LrSuggestionMethod = (typeof LR_SUGGESTIONS)[number];

export interface LrSuggestion {
  method: LrSuggestionMethod;
  /** the suggested learning rate */
  lr: number;
  /** the point of the curve the suggestion comes from (minimum: the minimum itself, not lr / 10) */
  point: { lr: number; loss: number };
}

/**
 * The learning rate of sweep step `i` (0-based) of `numIt`: start x (end / start)^(i / numIt), as
 * fastai's SchedExp at pos = i / numIt (the sweep never quite reaches `end`).
 */
export function sweepLr(i: number, numIt: number, start: number, end: number): number {
  return start * pow(end / start, i / numIt);
}

/** Checks a sweep's range and length; numIt below 6 becomes 6, as in fastai. */
export function checkSweep(start: number, end: number, numIt: number): number {
  if (!(Number.isFinite(start) && start > 0))
    throw new ArgumentError(`lr finder: start lr must be a number > 0, got ${start}`);
  if (!(Number.isFinite(end) && end > start))
    throw new ArgumentError(`lr finder: end lr must be a number above the start lr (${start}), got ${end}`);
  if (!Number.isInteger(numIt) || numIt < 1)
    throw new ArgumentError(`lr finder: the number of steps must be a positive integer, got ${numIt}`);
  return Math.max(6, numIt);
}

/**
 * fastai's AvgSmoothLoss: an exponential moving average of the loss (val = beta x val + (1 - beta)
 * x loss, from 0) divided by 1 - beta^count, so the first values are not pulled towards zero.
 */
export class SmoothLoss {
  readonly beta: number;
  count = 0;
  #val = 0;
  constructor(beta = 0.98) {
    if (!(beta >= 0 && beta < 1)) throw new ArgumentError(`lr finder: beta must be in [0, 1), got ${beta}`);
    this.beta = beta;
  }
  /** Adds one loss; returns the smoothed value. */
  add(loss: number): number {
    this.count += 1;
    this.#val = loss + this.beta * (this.#val - loss); // torch.lerp(loss, val, beta)
    return this.value;
  }
  get value(): number {
    return this.count === 0 ? Number.NaN : this.#val / (1 - this.beta ** this.count);
  }
}

/**
 * The divergence test after a smoothed loss: true when it is above `threshold` x the best so far
 * (the best includes this value, as fastai updates it first). A non-finite loss has diverged too.
 */
export function diverged(smoothed: number, best: number, threshold: number): boolean {
  if (!Number.isFinite(smoothed)) return true;
  return smoothed > threshold * Math.min(best, smoothed);
}

// Python's a[i] for a negative i
const at = <T>(a: readonly T[], i: number): T => {
  const v = a[i < 0 ? a.length + i : i];
  if (v === undefined) throw new ArgumentError(`lr finder: index ${i} is outside the ${a.length} points`);
  return v;
};

const argmin = (a: readonly number[]): number => {
  let k = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! < a[k]!) k = i;
  return k;
};

/** numpy.gradient with unit spacing: central differences inside, one-sided at the ends. */
export function gradient(y: readonly number[]): number[] {
  const n = y.length;
  if (n < 2) throw new ArgumentError('lr finder: a gradient needs at least 2 points');
  return y.map((_, i) => (i === 0 ? y[1]! - y[0]! : i === n - 1 ? y[n - 1]! - y[n - 2]! : (y[i + 1]! - y[i - 1]!) / 2));
}

/** numpy.interp: linear interpolation in increasing xs, clamped to the end values outside them. */
export function interp(x: number, xs: readonly number[], ys: readonly number[]): number {
  if (x <= xs[0]!) return ys[0]!;
  const n = xs.length;
  if (x >= xs[n - 1]!) return ys[n - 1]!;
  let i = 1;
  while (xs[i]! < x) i++;
  const t = (x - xs[i - 1]!) / (xs[i]! - xs[i - 1]!);
  return ys[i - 1]! + t * (ys[i]! - ys[i - 1]!);
}

/**
 * fastai's valley: the longest run of strictly falling losses (as a longest decreasing
 * subsequence), and the point about 2/3 of the way down it.
 */
export function valley(lrs: readonly number[], losses: readonly number[]): LrSuggestion {
  const n = losses.length;
  let maxStart = 0;
  let maxEnd = 0;
  const lds = new Array<number>(n).fill(1);
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) if (losses[i]! < losses[j]! && lds[i]! < lds[j]! + 1) lds[i] = lds[j]! + 1;
    if (lds[maxEnd]! < lds[i]!) {
      maxEnd = i;
      maxStart = maxEnd - lds[maxEnd]!;
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  const idx = maxStart + Math.trunc(sections) + Math.trunc(sections / 2);
  const lr = at(lrs, idx);
  return { method: 'valley', lr, point: { lr, loss: at(losses, idx) } };
}

/**
 * fastai's slide rule: walking left from the end, the first lr where the loss gradient `lrDiff`
 * points apart differs by at most `thresh` (times adjustValue).
 */
export function slide(
  lrs: readonly number[],
  losses: readonly number[],
  o: { lrDiff?: number; thresh?: number; adjustValue?: number } = {},
): LrSuggestion {
  const lrDiff = o.lrDiff ?? 15;
  const thresh = o.thresh ?? 0.005;
  const grad = gradient(losses);
  let r = -1;
  let l = r - lrDiff;
  let localMin = at(lrs, l);
  while (l >= -losses.length && Math.abs(at(grad, r) - at(grad, l)) > thresh) {
    localMin = at(lrs, l);
    r -= 1;
    l -= 1;
  }
  const lr = localMin * (o.adjustValue ?? 1);
  const loss = interp(Math.log10(lr), lrs.map(Math.log10), losses);
  return { method: 'slide', lr, point: { lr, loss } };
}

/** fastai's minimum: one tenth of the lr at the lowest loss. */
export function minimum(lrs: readonly number[], losses: readonly number[]): LrSuggestion {
  const k = argmin(losses);
  return { method: 'minimum', lr: lrs[k]! / 10, point: { lr: lrs[k]!, loss: losses[k]! } };
}

/** fastai's steep: the lr where the loss falls fastest against log(lr). */
export function steep(lrs: readonly number[], losses: readonly number[]): LrSuggestion {
  if (losses.length < 2) throw new ArgumentError('lr finder: steep needs at least 2 points');
  const grads = losses.slice(1).map((l, i) => (l - losses[i]!) / (Math.log(lrs[i + 1]!) - Math.log(lrs[i]!)));
  const k = argmin(grads);
  return { method: 'steep', lr: lrs[k]!, point: { lr: lrs[k]!, loss: losses[k]! } };
}

/**
 * Lightning's Tuner suggestion: where numpy.gradient of the loss is lowest, on the whole record
 * without its first `skipBegin` and last `skipEnd` points (non-finite losses dropped first, as
 * Lightning does; the index then counts from skipBegin as Lightning's does).
 */
export function lightning(
  lrs: readonly number[],
  losses: readonly number[],
  o: { skipBegin?: number; skipEnd?: number } = {},
): LrSuggestion {
  const begin = o.skipBegin ?? 10;
  const l = losses.slice(begin, losses.length - (o.skipEnd ?? 1)).filter((v) => Number.isFinite(v));
  const k = argmin(gradient(l)) + begin;
  return { method: 'lightning', lr: lrs[k]!, point: { lr: lrs[k]!, loss: losses[k]! } };
}

/**
 * The points fastai's lr_find reads suggestions from: the recorded curve without its first
 * numIt // 10 and its last 5 points, cut at the first NaN.
 */
export function suggestionWindow(
  lrs: readonly number[],
  losses: readonly number[],
  numIt: number,
): { lrs: number[]; losses: number[] } {
  const from = Math.floor(numIt / 10);
  const to = Math.max(from, lrs.length - 5);
  let l = lrs.slice(from, to);
  let s = losses.slice(from, to);
  const nan = s.findIndex((v) => Number.isNaN(v));
  if (nan >= 0) {
    l = l.slice(0, nan);
    s = s.slice(0, nan);
  }
  return { lrs: l, losses: s };
}

/**
 * Suggestions as fastai's lr_find gives them, one per method, from a recorded sweep (the lrs and
 * smoothed losses of every step). A method that cannot read the curve (too few points: the
 * sweep diverged at once) is left out; `problems` says why.
 */
export function suggestLrs(
  lrs: readonly number[],
  losses: readonly number[],
  numIt: number,
  methods: readonly LrSuggestionMethod[] = ['valley'],
): { suggestions: LrSuggestion[]; problems: string[] } {
  const w = suggestionWindow(lrs, losses, numIt);
  const suggestions: LrSuggestion[] = [];
  const problems: string[] = [];
  for (const m of methods) {
    if (!LR_SUGGESTIONS.includes(m))
      throw new ArgumentError(`lr finder: unknown suggestion method '${m}'`, `use ${LR_SUGGESTIONS.join(', ')}`);
    // Lightning reads the whole record (its own skips), fastai's methods the window
    const usable =
      m === 'lightning' ? losses.slice(10, losses.length - 1).filter((v) => Number.isFinite(v)).length : w.lrs.length;
    const need = m === 'slide' ? 16 : m === 'steep' || m === 'lightning' ? 2 : 1;
    if (usable < need) {
      problems.push(
        `${m}: ${usable} usable points (needs ${need}): the sweep ${lrs.length < numIt ? 'diverged after ' : 'had '}${lrs.length} steps`,
      );
      continue;
    }
    if (m === 'lightning') suggestions.push(lightning(lrs, losses));
    else suggestions.push({ valley, slide, minimum, steep }[m](w.lrs, w.losses));
  }
  return { suggestions, problems };
}
