// LambdaLR and MultiplicativeLR: user functions of the epoch. Their state dicts hold
// `lr_lambdas: [null, ...]` like PyTorch's do for plain functions; a function that carries
// its own enumerable properties (PyTorch's callable objects) saves and restores those.

import { ArgumentError } from '../errors.ts';
import type { OptimizerLike } from '../optim/types.ts';
import { type BaseOptions, checkState, describe, LRScheduler, type SchedulerStateDict } from './_base.ts';

/** A multiplicative factor as a function of the epoch (or step) index. */
export type LrLambda = (epoch: number) => number;

export interface LambdaLRSchedulerOptions extends BaseOptions {
  /** One function for every group, or one per group. */
  lr_lambda: LrLambda | readonly LrLambda[];
}

function toLambdas(owner: string, value: unknown, groupCount: number): LrLambda[] {
  if (typeof value === 'function') return new Array<LrLambda>(groupCount).fill(value as LrLambda);
  if (Array.isArray(value)) {
    if (value.length !== groupCount) {
      throw new ArgumentError(`${owner}: expected ${groupCount} lr_lambdas, but got ${value.length}`);
    }
    value.forEach((f, i) => {
      if (typeof f !== 'function') {
        throw new ArgumentError(`${owner}: lr_lambda[${i}] must be a function, got ${describe(f)}`);
      }
    });
    return [...value];
  }
  throw new ArgumentError(`${owner}: lr_lambda must be a function or a list of functions, got ${describe(value)}`);
}

function lambdaStates(lambdas: readonly LrLambda[]): (Record<string, unknown> | null)[] {
  return lambdas.map((fn) => (Object.keys(fn).length > 0 ? { ...(fn as unknown as Record<string, unknown>) } : null));
}

function loadLambdaStates(owner: string, lambdas: readonly LrLambda[], states: unknown): void {
  if (states === undefined) return;
  if (!Array.isArray(states)) {
    throw new ArgumentError(`${owner}.loadStateDict: lr_lambdas must be a list, got ${describe(states)}`);
  }
  states.forEach((s, i) => {
    if (s !== null && typeof s === 'object' && lambdas[i]) Object.assign(lambdas[i], s);
  });
}

/** lr = base_lr * lr_lambda(epoch). */
export class LambdaLR extends LRScheduler {
  lrLambdas: LrLambda[];

  constructor(optimizer: OptimizerLike, options: LambdaLRSchedulerOptions) {
    super(optimizer);
    this.lrLambdas = toLambdas('LambdaLR', options?.lr_lambda, optimizer.paramGroups.length);
    this.attach(options);
  }

  protected getLr(): number[] {
    return this.baseLrs.map((b, i) => b * this.lrLambdas[i]!(this.lastEpoch));
  }

  override stateDict(): SchedulerStateDict {
    return { ...super.stateDict(), lr_lambdas: lambdaStates(this.lrLambdas) };
  }

  override loadStateDict(state: SchedulerStateDict): void {
    checkState('LambdaLR', state);
    const { lr_lambdas, ...rest } = state;
    super.loadStateDict(rest);
    loadLambdaStates('LambdaLR', this.lrLambdas, lr_lambdas);
  }
}

/** lr = previous lr * lr_lambda(epoch), from epoch 1 on. */
export class MultiplicativeLR extends LRScheduler {
  lrLambdas: LrLambda[];

  constructor(optimizer: OptimizerLike, options: LambdaLRSchedulerOptions) {
    super(optimizer);
    this.lrLambdas = toLambdas('MultiplicativeLR', options?.lr_lambda, optimizer.paramGroups.length);
    this.attach(options);
  }

  protected getLr(): number[] {
    if (this.lastEpoch > 0) return this.groups.map((g, i) => g.lr * this.lrLambdas[i]!(this.lastEpoch));
    return this.groups.map((g) => g.lr);
  }

  override stateDict(): SchedulerStateDict {
    return { ...super.stateDict(), lr_lambdas: lambdaStates(this.lrLambdas) };
  }

  override loadStateDict(state: SchedulerStateDict): void {
    checkState('MultiplicativeLR', state);
    const { lr_lambdas, ...rest } = state;
    super.loadStateDict(rest);
    loadLambdaStates('MultiplicativeLR', this.lrLambdas, lr_lambdas);
  }
}
