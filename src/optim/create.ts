// createOptimizer: an optimizer from a plain object in PyTorch's terms, for recipes and phases.
//   createOptimizer({ type: 'SGD', lr: 0.01, momentum: 0.9 }, groups)
import { ArgumentError } from '../errors.ts';
import { ADAM_SPECS, ADAMW_SPECS, checkKeys, type HSpecs, RMSPROP_SPECS, SGD_SPECS, suggestKey } from './_hparams.ts';
import { Adam, AdamW } from './adam.ts';
import type { Optimizer, ParamsInput } from './optimizer.ts';
import { RMSprop } from './rmsprop.ts';
import { SGD } from './sgd.ts';

export type OptimizerType = 'SGD' | 'Adam' | 'AdamW' | 'RMSprop';

export interface OptimizerSpec {
  /** torch.optim's class name (case does not matter): SGD, Adam, AdamW, RMSprop */
  type: OptimizerType | (string & {});
  [key: string]: unknown;
}

interface Entry {
  specs: HSpecs;
  make: (params: ParamsInput, options: Record<string, unknown>) => Optimizer;
}

const REGISTRY: Record<OptimizerType, Entry> = {
  SGD: { specs: SGD_SPECS, make: (p, o) => new SGD(p, o) },
  Adam: { specs: ADAM_SPECS, make: (p, o) => new Adam(p, o) },
  AdamW: { specs: ADAMW_SPECS, make: (p, o) => new AdamW(p, o) },
  RMSprop: { specs: RMSPROP_SPECS, make: (p, o) => new RMSprop(p, o) },
};

export const OPTIMIZER_TYPES = Object.keys(REGISTRY) as OptimizerType[];

/** The canonical name of an optimizer type ('adamw' -> 'AdamW'), or an ArgumentError listing the known ones. */
export function optimizerType(name: unknown): OptimizerType {
  const found = OPTIMIZER_TYPES.find((t) => typeof name === 'string' && t.toLowerCase() === name.toLowerCase());
  if (found) return found;
  const near = typeof name === 'string' ? suggestKey(name, OPTIMIZER_TYPES) : undefined;
  throw new ArgumentError(
    `optimizer spec: 'type' must be one of ${OPTIMIZER_TYPES.join(', ')}, got ${JSON.stringify(name) ?? String(name)}`,
    near ? `did you mean '${near}'?` : undefined,
  );
}

/** Hyper-parameter names and defaults an optimizer type takes, in PyTorch's order. */
export function optimizerDefaults(type: OptimizerType | string): Record<string, unknown> {
  const specs = REGISTRY[optimizerType(type)].specs;
  return Object.fromEntries(
    Object.entries(specs).map(([k, s]) => [k, typeof s.default === 'symbol' ? undefined : s.default]),
  );
}

/**
 * An optimizer from `{ type, ...hyper-parameters }` (torch.optim's names) over parameters or
 * param groups. Unknown keys and bad values are ArgumentErrors naming the key and what was expected.
 */
export function createOptimizer(spec: OptimizerSpec, params: ParamsInput): Optimizer {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec))
    throw new ArgumentError(`optimizer spec must be an object like { type: 'SGD', lr: 0.01 }, got ${String(spec)}`);
  const { type, ...options } = spec;
  const t = optimizerType(type);
  const entry = REGISTRY[t];
  checkKeys(`optimizer spec (${t})`, entry.specs, options);
  for (const [k, v] of Object.entries(options)) if (v === undefined) delete options[k];
  return entry.make(params, options);
}
