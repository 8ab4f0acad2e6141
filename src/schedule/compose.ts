// SequentialLR and ChainedScheduler (torch 1.13), including SequentialLR's quirks: it resets
// the LRs to initial_lr, rewinds every child's last_epoch by one, and at a milestone calls
// `step(0)` on the next scheduler (its closed form where it has one).

import { ArgumentError } from '../errors.ts';
import type { OptimizerLike } from '../optim/types.ts';
import { bisectRight } from '../util/pymath.ts';
import {
  checkInt,
  checkState,
  describe,
  type LRScheduler,
  readNumber,
  readNumbers,
  type SchedulerStateDict,
  type StepScheduler,
} from './_base.ts';

function readChildStates(owner: string, state: SchedulerStateDict, count: number): SchedulerStateDict[] {
  const v = state._schedulers;
  if (!Array.isArray(v) || v.length !== count) {
    throw new ArgumentError(
      `${owner}.loadStateDict: _schedulers must be a list of ${count} state dicts, got ${describe(v)}`,
      'build the same schedulers, in the same order, as the checkpoint had',
    );
  }
  return v as SchedulerStateDict[];
}

export interface SequentialLROptions {
  schedulers: readonly LRScheduler[];
  /** Epochs at which the next scheduler takes over: one fewer than schedulers. */
  milestones: readonly number[];
  last_epoch?: number;
  /** Does nothing, as in PyTorch. */
  verbose?: boolean;
}

/** Runs schedulers one after another, switching at the milestones. */
export class SequentialLR implements StepScheduler {
  readonly optimizer: OptimizerLike;
  readonly schedulers: LRScheduler[];
  milestones: number[];
  lastEpoch: number;
  private lastLr: number[];

  constructor(optimizer: OptimizerLike, options: SequentialLROptions) {
    const schedulers = options?.schedulers;
    if (!Array.isArray(schedulers) || schedulers.length === 0) {
      throw new ArgumentError(`SequentialLR: schedulers must be a non-empty list, got ${describe(schedulers)}`);
    }
    schedulers.forEach((s, i) => {
      if (s.optimizer !== optimizer) {
        throw new ArgumentError(
          `SequentialLR: expects all schedulers to belong to the same optimizer, but got schedulers at index ${i} to be different than the optimizer passed in`,
        );
      }
    });
    const milestones = options.milestones;
    if (!Array.isArray(milestones) || milestones.length !== schedulers.length - 1) {
      throw new ArgumentError(
        `SequentialLR: expects number of schedulers provided to be one more than the number of milestone points, but got number of schedulers ${schedulers.length} and the number of milestones ${describe(milestones)}`,
      );
    }
    milestones.forEach((m, i) => {
      checkInt('SequentialLR', `milestones[${i}]`, m);
    });
    this.optimizer = optimizer;
    this.schedulers = [...schedulers];
    this.milestones = [...milestones];
    this.lastEpoch = checkInt('SequentialLR', 'last_epoch', options.last_epoch ?? -1, -1) + 1;

    optimizer.paramGroups.forEach((group, i) => {
      if (typeof group.initial_lr !== 'number') {
        throw new ArgumentError(`SequentialLR: param_groups[${i}] has no initial_lr to reset to`);
      }
      group.lr = group.initial_lr;
    });
    // "Undo" the step each child took in its constructor, then start the first one again.
    for (const s of this.schedulers) s.lastEpoch -= 1;
    this.schedulers[0]!.initialStep();
    this.lastLr = this.schedulers[0]!.getLastLr();
  }

  step(): void {
    this.lastEpoch += 1;
    const idx = bisectRight(this.milestones, this.lastEpoch);
    const scheduler = this.schedulers[idx]!;
    if (idx > 0 && this.milestones[idx - 1] === this.lastEpoch) scheduler.step(0);
    else scheduler.step();
    this.lastLr = scheduler.getLastLr();
  }

  getLastLr(): number[] {
    return [...this.lastLr];
  }

  stateDict(): SchedulerStateDict {
    return {
      _milestones: [...this.milestones],
      last_epoch: this.lastEpoch,
      _last_lr: [...this.lastLr],
      _schedulers: this.schedulers.map((s) => s.stateDict()),
    };
  }

  loadStateDict(state: SchedulerStateDict): void {
    checkState('SequentialLR', state);
    const children = readChildStates('SequentialLR', state, this.schedulers.length);
    if ('_milestones' in state) this.milestones = readNumbers('SequentialLR', state, '_milestones');
    if ('last_epoch' in state) this.lastEpoch = readNumber('SequentialLR', state, 'last_epoch');
    if ('_last_lr' in state) this.lastLr = readNumbers('SequentialLR', state, '_last_lr');
    for (const [i, s] of children.entries()) this.schedulers[i]!.loadStateDict(s);
  }
}

/** Steps several chainable schedulers together; their effects multiply. */
export class ChainedScheduler implements StepScheduler {
  readonly optimizer: OptimizerLike;
  readonly schedulers: StepScheduler[];
  private lastLr: number[];

  constructor(schedulers: readonly StepScheduler[]) {
    if (!Array.isArray(schedulers) || schedulers.length === 0) {
      throw new ArgumentError(`ChainedScheduler: schedulers must be a non-empty list, got ${describe(schedulers)}`);
    }
    for (let i = 1; i < schedulers.length; i++) {
      if (schedulers[i]!.optimizer !== schedulers[0]!.optimizer) {
        throw new ArgumentError(
          `ChainedScheduler: expects all schedulers to belong to the same optimizer, but got schedulers at index 0 and ${i} to be different`,
        );
      }
    }
    this.schedulers = [...schedulers];
    this.optimizer = schedulers[0]!.optimizer;
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  step(): void {
    for (const s of this.schedulers) s.step();
    this.lastLr = this.schedulers[this.schedulers.length - 1]!.optimizer.paramGroups.map((g) => g.lr);
  }

  getLastLr(): number[] {
    return [...this.lastLr];
  }

  stateDict(): SchedulerStateDict {
    return { _last_lr: [...this.lastLr], _schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  loadStateDict(state: SchedulerStateDict): void {
    checkState('ChainedScheduler', state);
    const children = readChildStates('ChainedScheduler', state, this.schedulers.length);
    if ('_last_lr' in state) this.lastLr = readNumbers('ChainedScheduler', state, '_last_lr');
    for (const [i, s] of children.entries()) this.schedulers[i]!.loadStateDict(s);
  }
}
