// Learning-rate spreads over layer groups: fastai's slice(lo, hi) and timm's layer_decay,
// with Python's float operations so values equal the Python tools' to the last bit.
import { ArgumentError } from '../errors.ts';
import { pow } from '../util/pymath.ts';

/** fastai's even_mults(start, stop, n): n values from start to stop, evenly spaced on a log scale. */
export function evenMults(start: number, stop: number, n: number): number[] {
  checkCount('evenMults', n);
  if (!(start > 0) || !(stop > 0))
    throw new ArgumentError(`evenMults: start and stop must be > 0, got ${start}, ${stop}`);
  if (n === 1) return [stop];
  const mult = stop / start;
  const step = pow(mult, 1 / (n - 1));
  return Array.from({ length: n }, (_, i) => start * pow(step, i));
}

/**
 * fastai's lr_range for slice(lo, hi) over n groups: even_mults(lo, hi, n); with only hi
 * (slice(hi)), hi / 10 for every group but the last, which gets hi.
 */
export function lrSlice(n: number, hi: number, lo?: number): number[] {
  checkCount('lrSlice', n);
  if (lo !== undefined && lo !== 0) return evenMults(lo, hi, n);
  return [...new Array<number>(n - 1).fill(hi / 10), hi];
}

/** timm's layer_decay scales: decay ** (last - i) for group i of n, so the last group gets 1. */
export function layerDecayScales(n: number, decay: number): number[] {
  checkCount('layerDecayScales', n);
  if (!(decay > 0)) throw new ArgumentError(`layer decay must be > 0, got ${decay}`);
  return Array.from({ length: n }, (_, i) => pow(decay, n - 1 - i));
}

function checkCount(owner: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new ArgumentError(`${owner}: group count must be an integer >= 1, got ${n}`);
}

/** '1.00e-3' (two decimals, exponent without +). */
export function fmtLr(x: number): string {
  if (x === 0) return '0';
  return x.toExponential(2).replace('e+', 'e');
}
