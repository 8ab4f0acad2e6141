// How much to prune, with torch.nn.utils.prune's rules (_validate_pruning_amount_init,
// _compute_nparams_toprune, _validate_pruning_amount).
import { ArgumentError } from '../errors.ts';

/**
 * A fraction of the entries or channels (PyTorch's float `amount`) or an absolute count
 * (PyTorch's int). A plain number follows Python's types: an integer is a count, anything
 * else a fraction in [0, 1]. JavaScript cannot tell `1` from `1.0`, so `1` means one entry;
 * prune everything with `{ fraction: 1 }`.
 */
export type Amount = number | { fraction: number } | { count: number };

/** Normalized: either a count (Python int) or a fraction (Python float). */
export type AmountSpec = { kind: 'count'; value: number } | { kind: 'fraction'; value: number };

const HINT = 'pass a fraction in [0, 1] (e.g. 0.3), a whole count (e.g. 5), { fraction: 1 } or { count: n }';

/** Checks an amount as PyTorch's constructors do (before any tensor is seen). */
export function parseAmount(amount: Amount, where: string): AmountSpec {
  const spec: AmountSpec | undefined =
    typeof amount === 'number'
      ? { kind: Number.isInteger(amount) ? 'count' : 'fraction', value: amount }
      : amount !== null && typeof amount === 'object' && 'fraction' in amount && typeof amount.fraction === 'number'
        ? { kind: 'fraction', value: amount.fraction }
        : amount !== null && typeof amount === 'object' && 'count' in amount && typeof amount.count === 'number'
          ? { kind: 'count', value: amount.count }
          : undefined;
  if (spec === undefined || !Number.isFinite(spec.value))
    throw new ArgumentError(`${where}: amount ${JSON.stringify(amount)} is not a number`, HINT);
  if (spec.kind === 'count' && (spec.value < 0 || !Number.isInteger(spec.value)))
    throw new ArgumentError(`${where}: amount=${spec.value} should be a non-negative whole count`, HINT);
  if (spec.kind === 'fraction' && (spec.value < 0 || spec.value > 1))
    throw new ArgumentError(`${where}: amount=${spec.value} should be a fraction in the range [0, 1]`, HINT);
  return spec;
}

/** Python's round(): halves go to the even neighbour (round(2.5) == 2). */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** How many of `size` entries (or channels) to prune; a count larger than size is an error. */
export function nToPrune(spec: AmountSpec, size: number, where: string): number {
  const n = spec.kind === 'count' ? spec.value : pyRound(spec.value * size);
  if (spec.kind === 'count' && n > size)
    throw new ArgumentError(
      `${where}: amount=${n} should be smaller than the number of parameters to prune=${size}`,
      'prune fewer entries, or pass a fraction of what is left',
    );
  return n;
}
