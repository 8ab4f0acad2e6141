// createScheduler: builds a scheduler from a plain object (the recipe layer's entry point).
// Keys are PyTorch's keyword arguments (`step_size`, `T_max`, `eta_min`); camelCase aliases
// (`stepSize`, `tMax`, `etaMin`) are accepted too. Unknown or missing keys are ArgumentErrors.

import { ArgumentError } from '../errors.ts';
import type { OptimizerLike, ParamGroupLike } from '../optim/types.ts';
import { didYouMean } from '../util/spelling.ts';
import { describe, LRScheduler, type StepScheduler } from './_base.ts';
import { ConstantLR, ExponentialLR, LinearLR, MultiStepLR, PolynomialLR, StepLR } from './basic.ts';
import { ChainedScheduler, SequentialLR } from './compose.ts';
import { CosineAnnealingLR, CosineAnnealingWarmRestarts } from './cosine.ts';
import {
  getConstantScheduleWithWarmup,
  getCosineScheduleWithWarmup,
  getCosineWithHardRestartsScheduleWithWarmup,
  getLinearScheduleWithWarmup,
  getPolynomialDecayScheduleWithWarmup,
} from './hf.ts';
import { LambdaLR, MultiplicativeLR } from './lambda.ts';
import { OneCycleLR } from './onecycle.ts';
import { ReduceLROnPlateau } from './plateau.ts';

/** A scheduler description: `{ type: 'MultiStepLR', milestones: [10, 20], gamma: 0.5 }`. */
export interface SchedulerSpec {
  type: string;
  [key: string]: unknown;
}

export type AnyScheduler = StepScheduler | ReduceLROnPlateau;

type Opts = Record<string, any>;

interface Entry {
  required: string[];
  optional: string[];
  build(optimizer: OptimizerLike, o: Opts, path: string): AnyScheduler;
}

const BASE = ['last_epoch', 'verbose'];
const WARMUP = ['num_warmup_steps', 'num_training_steps'];

const REGISTRY: Record<string, Entry> = {
  StepLR: { required: ['step_size'], optional: ['gamma', ...BASE], build: (opt, o) => new StepLR(opt, o as any) },
  MultiStepLR: {
    required: ['milestones'],
    optional: ['gamma', ...BASE],
    build: (opt, o) => new MultiStepLR(opt, o as any),
  },
  ConstantLR: { required: [], optional: ['factor', 'total_iters', ...BASE], build: (opt, o) => new ConstantLR(opt, o) },
  LinearLR: {
    required: [],
    optional: ['start_factor', 'end_factor', 'total_iters', ...BASE],
    build: (opt, o) => new LinearLR(opt, o),
  },
  ExponentialLR: { required: ['gamma'], optional: BASE, build: (opt, o) => new ExponentialLR(opt, o as any) },
  PolynomialLR: {
    required: [],
    optional: ['total_iters', 'power', ...BASE],
    build: (opt, o) => new PolynomialLR(opt, o),
  },
  CosineAnnealingLR: {
    required: ['T_max'],
    optional: ['eta_min', ...BASE],
    build: (opt, o) => new CosineAnnealingLR(opt, o as any),
  },
  CosineAnnealingWarmRestarts: {
    required: ['T_0'],
    optional: ['T_mult', 'eta_min', ...BASE],
    build: (opt, o) => new CosineAnnealingWarmRestarts(opt, o as any),
  },
  OneCycleLR: {
    required: ['max_lr'],
    optional: [
      'total_steps',
      'epochs',
      'steps_per_epoch',
      'pct_start',
      'anneal_strategy',
      'cycle_momentum',
      'base_momentum',
      'max_momentum',
      'div_factor',
      'final_div_factor',
      'three_phase',
      ...BASE,
    ],
    build: (opt, o) => new OneCycleLR(opt, o as any),
  },
  LambdaLR: { required: ['lr_lambda'], optional: BASE, build: (opt, o) => new LambdaLR(opt, o as any) },
  MultiplicativeLR: {
    required: ['lr_lambda'],
    optional: BASE,
    build: (opt, o) => new MultiplicativeLR(opt, o as any),
  },
  SequentialLR: {
    required: ['schedulers', 'milestones'],
    optional: BASE,
    build: (opt, o, path) => {
      const children = buildChildren(opt, o.schedulers, path);
      if (children.some((c) => !(c instanceof LRScheduler))) {
        throw new ArgumentError(`${path}.schedulers: SequentialLR takes only chainable LR schedulers`);
      }
      return new SequentialLR(opt, { ...o, schedulers: children as LRScheduler[] } as any);
    },
  },
  ChainedScheduler: {
    required: ['schedulers'],
    optional: [],
    build: (opt, o, path) => new ChainedScheduler(buildChildren(opt, o.schedulers, path) as StepScheduler[]),
  },
  ReduceLROnPlateau: {
    required: [],
    optional: ['mode', 'factor', 'patience', 'threshold', 'threshold_mode', 'cooldown', 'min_lr', 'eps', 'verbose'],
    build: (opt, o) => new ReduceLROnPlateau(opt, o),
  },
  // Hugging Face transformers' schedules (see hf.ts), by function name and by SchedulerType name.
  constant_schedule_with_warmup: {
    required: ['num_warmup_steps'],
    optional: ['last_epoch'],
    build: (opt, o) => getConstantScheduleWithWarmup(opt, o as any),
  },
  linear_schedule_with_warmup: {
    required: WARMUP,
    optional: ['last_epoch'],
    build: (opt, o) => getLinearScheduleWithWarmup(opt, o as any),
  },
  cosine_schedule_with_warmup: {
    required: WARMUP,
    optional: ['num_cycles', 'last_epoch'],
    build: (opt, o) => getCosineScheduleWithWarmup(opt, o as any),
  },
  cosine_with_hard_restarts_schedule_with_warmup: {
    required: WARMUP,
    optional: ['num_cycles', 'last_epoch'],
    build: (opt, o) => getCosineWithHardRestartsScheduleWithWarmup(opt, o as any),
  },
  polynomial_decay_schedule_with_warmup: {
    required: WARMUP,
    optional: ['lr_end', 'power', 'lr_init', 'last_epoch'],
    build: (opt, o) => getPolynomialDecayScheduleWithWarmup(opt, o as any),
  },
  constant: {
    required: [],
    optional: ['last_epoch'],
    build: (opt, o) => new LambdaLR(opt, { ...o, lr_lambda: () => 1 }),
  },
};
REGISTRY.constant_with_warmup = REGISTRY.constant_schedule_with_warmup!;
REGISTRY.linear = REGISTRY.linear_schedule_with_warmup!;
REGISTRY.cosine = REGISTRY.cosine_schedule_with_warmup!;
REGISTRY.cosine_with_restarts = REGISTRY.cosine_with_hard_restarts_schedule_with_warmup!;
REGISTRY.polynomial = REGISTRY.polynomial_decay_schedule_with_warmup!;

/** The `type` names createScheduler knows. */
export const SCHEDULER_TYPES: readonly string[] = Object.keys(REGISTRY);

/** `T_max` -> `tMax`, `step_size` -> `stepSize`, `T_0` -> `t0`. */
export function camelAlias(key: string): string {
  const c = key.replace(/_([a-zA-Z0-9])/g, (_, ch: string) => ch.toUpperCase());
  return c.charAt(0).toLowerCase() + c.slice(1);
}

function buildChildren(optimizer: OptimizerLike, specs: unknown, path: string): AnyScheduler[] {
  if (!Array.isArray(specs) || specs.length === 0) {
    throw new ArgumentError(`${path}.schedulers: expected a non-empty list of scheduler specs, got ${describe(specs)}`);
  }
  return specs.map((s, i) => build(s, optimizer, `${path}.schedulers[${i}]`));
}

function build(spec: unknown, optimizer: OptimizerLike, path: string): AnyScheduler {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw new ArgumentError(
      `${path}: expected a scheduler spec object like { type: 'StepLR', step_size: 10 }, got ${describe(spec)}`,
    );
  }
  const { type, ...rest } = spec as Record<string, unknown>;
  if (typeof type !== 'string') {
    throw new ArgumentError(
      `${path}.type: expected a scheduler name (one of ${SCHEDULER_TYPES.join(', ')}), got ${describe(type)}`,
    );
  }
  const entry = Object.hasOwn(REGISTRY, type) ? REGISTRY[type] : undefined;
  if (!entry) {
    const near = didYouMean(type, SCHEDULER_TYPES);
    throw new ArgumentError(
      `${path}.type: unknown scheduler '${type}' (expected one of ${SCHEDULER_TYPES.join(', ')})`,
      near ? `did you mean '${near}'?` : undefined,
    );
  }
  const allowed = [...entry.required, ...entry.optional];
  const byAlias = new Map<string, string>();
  for (const k of allowed) {
    byAlias.set(k, k);
    byAlias.set(camelAlias(k), k);
  }
  const opts: Opts = {};
  for (const [key, value] of Object.entries(rest)) {
    const canonical = byAlias.get(key);
    if (canonical === undefined) {
      const near = didYouMean(key, allowed);
      throw new ArgumentError(
        `${path}.${key}: unknown key for ${type} (expected ${allowed.length ? allowed.join(', ') : 'no other keys'})`,
        near ? `did you mean '${near}'?` : undefined,
      );
    }
    if (canonical in opts) {
      throw new ArgumentError(
        `${path}.${key}: '${canonical}' is given twice (as '${canonical}' and '${camelAlias(canonical)}')`,
      );
    }
    if (value !== undefined) opts[canonical] = value;
  }
  for (const k of entry.required) {
    if (!(k in opts)) {
      throw new ArgumentError(`${path}.${k}: ${type} requires '${k}'`, `e.g. { type: '${type}', ${k}: ... }`);
    }
  }
  return entry.build(optimizer, opts, path);
}

/** Build a scheduler for `optimizer` from a plain spec object; throws ArgumentError naming a bad key. */
export function createScheduler(spec: SchedulerSpec, optimizer: OptimizerLike): AnyScheduler {
  return build(spec, optimizer, 'scheduler');
}

/**
 * The LRs a spec produces, without a real optimizer: row 0 is after construction, row k after
 * the k-th step(). `groups` are base LRs or param-group objects (copied, never modified).
 */
export function planSchedule(
  spec: SchedulerSpec,
  groups: readonly (number | Partial<ParamGroupLike>)[],
  steps: number,
): number[][] {
  const paramGroups = groups.map((g) =>
    typeof g === 'number' ? ({ lr: g, momentum: 0 } as ParamGroupLike) : ({ momentum: 0, ...g } as ParamGroupLike),
  );
  const scheduler = createScheduler(spec, { paramGroups });
  if (scheduler instanceof ReduceLROnPlateau) {
    throw new ArgumentError('planSchedule: ReduceLROnPlateau depends on metrics and cannot be planned ahead');
  }
  const rows = [paramGroups.map((g) => g.lr)];
  for (let i = 0; i < steps; i++) {
    scheduler.step();
    rows.push(paramGroups.map((g) => g.lr));
  }
  return rows;
}
