// The chainable scheduler base: torch.optim.lr_scheduler._LRScheduler (torch 1.13) in TypeScript.
// Subclasses compute LRs in PyTorch's operation order; the base only writes `group.lr`.

import { ArgumentError } from '../errors.ts';
import type { OptimizerLike, ParamGroupLike } from '../optim/types.ts';

/** A scheduler state dict: PyTorch's keys (`last_epoch`, `base_lrs`, `_step_count`, ...). */
export type SchedulerStateDict = Record<string, unknown>;

/** What every scheduler offers, ReduceLROnPlateau included. */
export interface Scheduler {
  readonly optimizer: OptimizerLike;
  getLastLr(): number[];
  stateDict(): SchedulerStateDict;
  loadStateDict(state: SchedulerStateDict): void;
}

/** A scheduler whose `step()` takes no metric: everything except ReduceLROnPlateau. */
export interface StepScheduler extends Scheduler {
  step(): void;
}

/** Options every LRScheduler takes, as PyTorch's keyword arguments. */
export interface BaseOptions {
  /** Index of the last epoch (or batch); -1 starts a new schedule. Default -1. */
  last_epoch?: number;
  /** Print each LR change like PyTorch does. Default false. */
  verbose?: boolean;
}

/** PyTorch's `{:.4e}`: 1.0000e-01 (two-digit exponent, unlike JS's 1.0000e-1). */
export function formatE4(x: number): string {
  const s = x.toExponential(4);
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

export abstract class LRScheduler implements StepScheduler {
  readonly optimizer: OptimizerLike;
  /** `base_lrs`: each group's `initial_lr` when the scheduler was created. */
  baseLrs: number[] = [];
  /** `last_epoch`: the epoch (or batch) index the current LRs belong to. */
  lastEpoch = -1;
  verbose = false;
  /** `_step_count`: step() calls, the constructor's initial step included. */
  stepCount = 0;
  protected getLrCalledWithinStep = false;
  protected lastLr: number[] = [];

  constructor(optimizer: OptimizerLike) {
    if (!optimizer || !Array.isArray(optimizer.paramGroups)) {
      throw new ArgumentError(`${new.target.name}: expected an optimizer with paramGroups, got ${typeof optimizer}`);
    }
    this.optimizer = optimizer;
  }

  /** _LRScheduler.__init__: called by each subclass once its own fields are set. */
  protected attach(options: BaseOptions): void {
    const lastEpoch = options.last_epoch ?? -1;
    checkInt(this.constructor.name, 'last_epoch', lastEpoch, -1);
    const groups = this.optimizer.paramGroups;
    if (lastEpoch === -1) {
      for (const group of groups) if (!('initial_lr' in group)) group.initial_lr = group.lr;
    } else {
      groups.forEach((group, i) => {
        if (!('initial_lr' in group)) {
          throw new ArgumentError(
            `param 'initial_lr' is not specified in param_groups[${i}] when resuming an optimizer`,
            'load the optimizer state dict (it carries initial_lr) before creating the scheduler, or pass last_epoch: -1 to start a new schedule',
          );
        }
      });
    }
    this.baseLrs = groups.map((g) => g.initial_lr as number);
    this.lastEpoch = lastEpoch;
    this.verbose = options.verbose ?? false;
    this.initialStep();
  }

  /** _initial_step: resets the step count and takes the first step (SequentialLR calls it too). */
  initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** The chainable (recursive) LRs for `lastEpoch`, in PyTorch's floating-point order. */
  protected abstract getLr(): number[];

  /** `_get_closed_form_lr`, used by `step(epoch)`; undefined where PyTorch has none. */
  protected closedFormLr(): number[] | undefined {
    return undefined;
  }

  /** Advance one epoch (or batch), or jump to `epoch` (PyTorch's deprecated closed-form path). */
  step(epoch?: number): void {
    this.stepCount += 1;
    this.getLrCalledWithinStep = true;
    let values: number[];
    try {
      if (epoch === undefined) {
        this.lastEpoch += 1;
        values = this.getLr();
      } else {
        this.lastEpoch = epoch;
        values = this.closedFormLr() ?? this.getLr();
      }
    } finally {
      this.getLrCalledWithinStep = false;
    }
    this.writeLrs(values, epoch);
  }

  protected writeLrs(values: number[], epoch?: number): void {
    const groups = this.optimizer.paramGroups;
    const n = Math.min(groups.length, values.length);
    for (let i = 0; i < n; i++) {
      groups[i]!.lr = values[i]!;
      if (this.verbose) printLr(i, values[i]!, epoch);
    }
    this.lastLr = groups.map((g) => g.lr);
  }

  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** Scheduler-specific attributes, in PyTorch's `__dict__` order (they come before the base keys). */
  protected extraState(): SchedulerStateDict {
    return {};
  }

  protected loadExtraState(_state: SchedulerStateDict): void {}

  stateDict(): SchedulerStateDict {
    return {
      ...this.extraState(),
      base_lrs: [...this.baseLrs],
      last_epoch: this.lastEpoch,
      verbose: this.verbose,
      _step_count: this.stepCount,
      _get_lr_called_within_step: this.getLrCalledWithinStep,
      _last_lr: [...this.lastLr],
    };
  }

  /** Like PyTorch's `__dict__.update(state)`: keys that are present replace the current values. */
  loadStateDict(state: SchedulerStateDict): void {
    const owner = this.constructor.name;
    checkState(owner, state);
    this.loadExtraState(state);
    if ('base_lrs' in state) this.baseLrs = readNumbers(owner, state, 'base_lrs');
    if ('last_epoch' in state) this.lastEpoch = readNumber(owner, state, 'last_epoch');
    if ('verbose' in state) this.verbose = Boolean(state.verbose);
    if ('_step_count' in state) this.stepCount = readNumber(owner, state, '_step_count');
    if ('_get_lr_called_within_step' in state) this.getLrCalledWithinStep = Boolean(state._get_lr_called_within_step);
    if ('_last_lr' in state) this.lastLr = readNumbers(owner, state, '_last_lr');
  }

  protected get groups(): ParamGroupLike[] {
    return this.optimizer.paramGroups;
  }
}

export function printLr(group: number, lr: number, epoch?: number): void {
  if (epoch === undefined) {
    console.log(`Adjusting learning rate of group ${group} to ${formatE4(lr)}.`);
  } else {
    const e = Number.isInteger(epoch) ? String(epoch).padStart(5, '0') : epoch.toFixed(2);
    console.log(`Epoch ${e}: adjusting learning rate of group ${group} to ${formatE4(lr)}.`);
  }
}

// ---- validation helpers (messages name the PyTorch option and the value) ----

export function checkNumber(owner: string, name: string, value: unknown, min?: number, max?: number): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new ArgumentError(`${owner}: ${name} must be a number, got ${describe(value)}`);
  }
  if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
    const range = max === undefined ? `>= ${min}` : min === undefined ? `<= ${max}` : `between ${min} and ${max}`;
    throw new ArgumentError(`${owner}: ${name} must be ${range}, got ${value}`);
  }
  return value;
}

export function checkInt(owner: string, name: string, value: unknown, min?: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || (min !== undefined && value < min)) {
    const what = min === 1 ? 'a positive integer' : min === undefined ? 'an integer' : `an integer >= ${min}`;
    throw new ArgumentError(`${owner}: ${name} must be ${what}, got ${describe(value)}`);
  }
  return value;
}

export function checkOneOf<T extends string>(owner: string, name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ArgumentError(
      `${owner}: ${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}`,
    );
  }
  return value as T;
}

/** PyTorch's `_format_param`: a scalar for every group, or a list with one value per group. */
export function perGroup(owner: string, name: string, value: unknown, groupCount: number): number[] {
  if (Array.isArray(value)) {
    if (value.length !== groupCount) {
      throw new ArgumentError(
        `${owner}: expected ${groupCount} values for ${name}, got ${value.length}`,
        'give one value per param group, or a single number for all groups',
      );
    }
    return value.map((v, i) => checkNumber(owner, `${name}[${i}]`, v));
  }
  return new Array<number>(groupCount).fill(checkNumber(owner, name, value));
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return `[${value.map(describe).join(', ')}]`;
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

// ---- state dict readers ----

export function checkState(owner: string, state: unknown): asserts state is SchedulerStateDict {
  if (state === null || typeof state !== 'object' || Array.isArray(state)) {
    throw new ArgumentError(`${owner}.loadStateDict: expected a state dict object, got ${describe(state)}`);
  }
}

export function readNumber(owner: string, state: SchedulerStateDict, key: string): number {
  const v = state[key];
  if (typeof v !== 'number') {
    throw new ArgumentError(`${owner}.loadStateDict: ${key} must be a number, got ${describe(v)}`);
  }
  return v;
}

export function readNumbers(owner: string, state: SchedulerStateDict, key: string): number[] {
  const v = state[key];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) {
    throw new ArgumentError(`${owner}.loadStateDict: ${key} must be an array of numbers, got ${describe(v)}`);
  }
  return [...v];
}
