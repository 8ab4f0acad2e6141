// Hyper-parameter tables: torch.optim's names, defaults (in PyTorch's order, so state dicts
// list keys as PyTorch does) and the checks its constructors make, shared by the optimizer
// classes and createOptimizer.
import { ArgumentError } from '../errors.ts';
import { editDistance } from '../util/spelling.ts';

/** Marks a hyper-parameter without a default (SGD's lr), like torch.optim's `required`. */
export const REQUIRED: unique symbol = Symbol('required');

export type HKind = 'number' | 'boolean' | 'betas' | 'foreach' | 'unsupported';

export interface HSpec {
  kind: HKind;
  default: unknown;
  /** inclusive lower bound for numbers */
  min?: number;
  /** exclusive upper bound (betas) */
  below?: number;
}

export type HSpecs = Record<string, HSpec>;

const num = (d: unknown, min?: number): HSpec => ({ kind: 'number', default: d, min });
const bool = (d = false): HSpec => ({ kind: 'boolean', default: d });
const betas: HSpec = { kind: 'betas', default: [0.9, 0.999], min: 0, below: 1 };
const foreach: HSpec = { kind: 'foreach', default: null };
const unsupported: HSpec = { kind: 'unsupported', default: false };

export const SGD_SPECS: HSpecs = {
  lr: num(REQUIRED, 0),
  momentum: num(0, 0),
  dampening: num(0),
  weight_decay: num(0, 0),
  nesterov: bool(),
  maximize: bool(),
  foreach,
  differentiable: unsupported,
};

export const ADAM_SPECS: HSpecs = {
  lr: num(1e-3, 0),
  betas,
  eps: num(1e-8, 0),
  weight_decay: num(0, 0),
  amsgrad: bool(),
  maximize: bool(),
  foreach,
  capturable: unsupported,
  differentiable: unsupported,
  fused: unsupported,
};

export const ADAMW_SPECS: HSpecs = {
  lr: num(1e-3, 0),
  betas,
  eps: num(1e-8, 0),
  weight_decay: num(1e-2, 0),
  amsgrad: bool(),
  maximize: bool(),
  foreach,
  capturable: unsupported,
};

export const RMSPROP_SPECS: HSpecs = {
  lr: num(1e-2, 0),
  momentum: num(0, 0),
  alpha: num(0.99, 0),
  eps: num(1e-8, 0),
  centered: bool(),
  weight_decay: num(0, 0),
  foreach,
  maximize: bool(),
  differentiable: unsupported,
};

const show = (v: unknown): string => {
  try {
    return typeof v === 'string' ? `'${v}'` : (JSON.stringify(v) ?? String(v));
  } catch {
    return String(v);
  }
};

function expected(s: HSpec): string {
  switch (s.kind) {
    case 'number':
      return s.min === undefined ? 'a finite number' : `a number >= ${s.min}`;
    case 'boolean':
      return 'true or false';
    case 'betas':
      return 'two numbers in [0, 1), e.g. [0.9, 0.999]';
    case 'foreach':
      return 'true, false or null';
    case 'unsupported':
      return 'false (graft does not implement it)';
  }
}

function ok(s: HSpec, v: unknown): boolean {
  switch (s.kind) {
    case 'number':
      return typeof v === 'number' && Number.isFinite(v) && (s.min === undefined || v >= s.min);
    case 'boolean':
      return typeof v === 'boolean';
    case 'betas':
      return (
        Array.isArray(v) &&
        v.length === 2 &&
        v.every((b) => typeof b === 'number' && Number.isFinite(b) && b >= (s.min ?? 0) && b < (s.below ?? 1))
      );
    case 'foreach':
      return v === null || v === undefined || typeof v === 'boolean';
    case 'unsupported':
      return v === false || v === null || v === undefined;
  }
}

/** Throws ArgumentError naming the key, what was expected and what came, for known keys of `values`. */
export function checkValues(owner: string, specs: HSpecs, values: Record<string, unknown>): void {
  for (const [key, spec] of Object.entries(specs)) {
    if (!(key in values) || values[key] === REQUIRED) continue;
    const v = values[key];
    if (!ok(spec, v)) throw new ArgumentError(`${owner}: '${key}' must be ${expected(spec)}, got ${show(v)}`);
  }
}

const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The closest known key to a misspelt one (weightDecay -> weight_decay), if any is close. */
export function suggestKey(key: string, known: string[]): string | undefined {
  if (known.includes(snake(key))) return snake(key);
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const k of known) {
    const dist = editDistance(key.toLowerCase(), k);
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return best;
}

/** Rejects keys an optimizer does not take, with the list of those it does. */
export function checkKeys(owner: string, specs: HSpecs, values: Record<string, unknown>, extra: string[] = []): void {
  const known = Object.keys(specs);
  for (const key of Object.keys(values)) {
    if (key in specs || extra.includes(key)) continue;
    const near = suggestKey(key, known);
    throw new ArgumentError(
      `${owner}: unknown option '${key}' (expected one of ${known.join(', ')})`,
      near ? `did you mean '${near}'?` : undefined,
    );
  }
}

/** Options merged over the defaults, in PyTorch's key order, checked. */
export function resolveDefaults(
  owner: string,
  specs: HSpecs,
  options: Record<string, unknown>,
): Record<string, unknown> {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new ArgumentError(`${owner}: options must be an object of hyper-parameters, got ${show(options)}`);
  checkKeys(owner, specs, options);
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const v = options[key] === undefined ? spec.default : options[key];
    out[key] = Array.isArray(v) ? v.slice() : v;
  }
  checkValues(owner, specs, out);
  return out;
}
