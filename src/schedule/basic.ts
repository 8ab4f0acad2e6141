// StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR, PolynomialLR: torch 1.13's chainable
// get_lr (multiplying the group's current lr) plus the closed forms for step(epoch).

import { ArgumentError } from '../errors.ts';
import type { OptimizerLike } from '../optim/types.ts';
import { mod, pow } from '../util/pymath.ts';
import {
  type BaseOptions,
  checkInt,
  checkNumber,
  describe,
  LRScheduler,
  readNumber,
  type SchedulerStateDict,
} from './_base.ts';
import { constantLrAt, exponentialLrAt, linearLrAt, multiStepLrAt, polynomialLrAt, stepLrAt } from './functional.ts';

function currentLrs(s: { optimizer: OptimizerLike }): number[] {
  return s.optimizer.paramGroups.map((g) => g.lr);
}

export interface StepLRSchedulerOptions extends BaseOptions {
  step_size: number;
  gamma?: number;
}

/** Multiplies each group's lr by `gamma` every `step_size` epochs. */
export class StepLR extends LRScheduler {
  stepSize: number;
  gamma: number;

  constructor(optimizer: OptimizerLike, options: StepLRSchedulerOptions) {
    super(optimizer);
    this.stepSize = checkInt('StepLR', 'step_size', options?.step_size, 1);
    this.gamma = checkNumber('StepLR', 'gamma', options.gamma ?? 0.1);
    this.attach(options);
  }

  protected getLr(): number[] {
    if (this.lastEpoch === 0 || mod(this.lastEpoch, this.stepSize) !== 0) return currentLrs(this);
    return this.groups.map((g) => g.lr * this.gamma);
  }

  protected override closedFormLr(): number[] {
    const o = { step_size: this.stepSize, gamma: this.gamma };
    return this.baseLrs.map((b) => stepLrAt(b, this.lastEpoch, o));
  }

  protected override extraState(): SchedulerStateDict {
    return { step_size: this.stepSize, gamma: this.gamma };
  }

  protected override loadExtraState(s: SchedulerStateDict): void {
    if ('step_size' in s) this.stepSize = readNumber('StepLR', s, 'step_size');
    if ('gamma' in s) this.gamma = readNumber('StepLR', s, 'gamma');
  }
}

export interface MultiStepLRSchedulerOptions extends BaseOptions {
  milestones: readonly number[];
  gamma?: number;
}

/** A Python Counter of milestones, from a list, a Map, or a JSON-style object (`{"10": 1}`). */
export function toMilestoneCounter(owner: string, value: unknown): Map<number, number> {
  const counter = new Map<number, number>();
  const add = (k: number, n: number) => counter.set(k, (counter.get(k) ?? 0) + n);
  if (Array.isArray(value)) {
    value.forEach((m, i) => {
      add(checkInt(owner, `milestones[${i}]`, m), 1);
    });
  } else if (value instanceof Map) {
    for (const [k, n] of value)
      add(checkInt(owner, 'milestones key', Number(k)), checkInt(owner, `milestones[${k}]`, n));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, n] of Object.entries(value)) {
      add(checkInt(owner, 'milestones key', Number(k)), checkInt(owner, `milestones[${k}]`, n));
    }
  } else {
    throw new ArgumentError(`${owner}: milestones must be a list of epoch indices, got ${describe(value)}`);
  }
  return counter;
}

/** Multiplies each group's lr by `gamma` at each milestone; a milestone listed twice multiplies twice. */
export class MultiStepLR extends LRScheduler {
  /** PyTorch's `Counter(milestones)`: epoch -> how many times it was listed. */
  milestones: Map<number, number>;
  gamma: number;

  constructor(optimizer: OptimizerLike, options: MultiStepLRSchedulerOptions) {
    super(optimizer);
    this.milestones = toMilestoneCounter('MultiStepLR', options?.milestones);
    this.gamma = checkNumber('MultiStepLR', 'gamma', options.gamma ?? 0.1);
    this.attach(options);
  }

  protected getLr(): number[] {
    const count = this.milestones.get(this.lastEpoch);
    if (count === undefined) return currentLrs(this);
    return this.groups.map((g) => g.lr * pow(this.gamma, count));
  }

  protected override closedFormLr(): number[] {
    const elements: number[] = [];
    for (const [k, n] of this.milestones) for (let i = 0; i < n; i++) elements.push(k);
    return this.baseLrs.map((b) => multiStepLrAt(b, this.lastEpoch, { milestones: elements, gamma: this.gamma }));
  }

  /** `milestones` is a Map (Python's int-keyed Counter); loadStateDict also takes `{"10": 1}` or a list. */
  protected override extraState(): SchedulerStateDict {
    return { milestones: new Map(this.milestones), gamma: this.gamma };
  }

  protected override loadExtraState(s: SchedulerStateDict): void {
    if ('milestones' in s) this.milestones = toMilestoneCounter('MultiStepLR', s.milestones);
    if ('gamma' in s) this.gamma = readNumber('MultiStepLR', s, 'gamma');
  }
}

export interface ConstantLRSchedulerOptions extends BaseOptions {
  factor?: number;
  total_iters?: number;
}

/** Multiplies the lr by `factor` until `total_iters`, then restores it. */
export class ConstantLR extends LRScheduler {
  factor: number;
  totalIters: number;

  constructor(optimizer: OptimizerLike, options: ConstantLRSchedulerOptions = {}) {
    super(optimizer);
    this.factor = checkNumber('ConstantLR', 'factor', options.factor ?? 1 / 3, 0, 1);
    this.totalIters = checkInt('ConstantLR', 'total_iters', options.total_iters ?? 5, 0);
    this.attach(options);
  }

  protected getLr(): number[] {
    if (this.lastEpoch === 0) return this.groups.map((g) => g.lr * this.factor);
    if (this.lastEpoch > this.totalIters || this.lastEpoch !== this.totalIters) return currentLrs(this);
    return this.groups.map((g) => g.lr * (1.0 / this.factor));
  }

  protected override closedFormLr(): number[] {
    const o = { factor: this.factor, total_iters: this.totalIters };
    return this.baseLrs.map((b) => constantLrAt(b, this.lastEpoch, o));
  }

  protected override extraState(): SchedulerStateDict {
    return { factor: this.factor, total_iters: this.totalIters };
  }

  protected override loadExtraState(s: SchedulerStateDict): void {
    if ('factor' in s) this.factor = readNumber('ConstantLR', s, 'factor');
    if ('total_iters' in s) this.totalIters = readNumber('ConstantLR', s, 'total_iters');
  }
}

export interface LinearLRSchedulerOptions extends BaseOptions {
  start_factor?: number;
  end_factor?: number;
  total_iters?: number;
}

/** Moves the lr factor linearly from start_factor to end_factor over total_iters (a common warm-up). */
export class LinearLR extends LRScheduler {
  startFactor: number;
  endFactor: number;
  totalIters: number;

  constructor(optimizer: OptimizerLike, options: LinearLRSchedulerOptions = {}) {
    super(optimizer);
    const sf = checkNumber('LinearLR', 'start_factor', options.start_factor ?? 1 / 3, 0, 1);
    // torch 1.13 accepts 0 and then divides by zero on the second step; 2.x rejects it up front.
    if (sf === 0) throw new ArgumentError('LinearLR: start_factor must be > 0 and <= 1, got 0');
    this.startFactor = sf;
    this.endFactor = checkNumber('LinearLR', 'end_factor', options.end_factor ?? 1.0, 0, 1);
    this.totalIters = checkInt('LinearLR', 'total_iters', options.total_iters ?? 5, 1);
    this.attach(options);
  }

  protected getLr(): number[] {
    if (this.lastEpoch === 0) return this.groups.map((g) => g.lr * this.startFactor);
    if (this.lastEpoch > this.totalIters) return currentLrs(this);
    const sf = this.startFactor;
    const ef = this.endFactor;
    const k = 1 + (ef - sf) / (this.totalIters * sf + (this.lastEpoch - 1) * (ef - sf));
    return this.groups.map((g) => g.lr * k);
  }

  protected override closedFormLr(): number[] {
    const o = { start_factor: this.startFactor, end_factor: this.endFactor, total_iters: this.totalIters };
    return this.baseLrs.map((b) => linearLrAt(b, this.lastEpoch, o));
  }

  protected override extraState(): SchedulerStateDict {
    return { start_factor: this.startFactor, end_factor: this.endFactor, total_iters: this.totalIters };
  }

  protected override loadExtraState(s: SchedulerStateDict): void {
    if ('start_factor' in s) this.startFactor = readNumber('LinearLR', s, 'start_factor');
    if ('end_factor' in s) this.endFactor = readNumber('LinearLR', s, 'end_factor');
    if ('total_iters' in s) this.totalIters = readNumber('LinearLR', s, 'total_iters');
  }
}

export interface ExponentialLRSchedulerOptions extends BaseOptions {
  gamma: number;
}

/** Multiplies the lr by `gamma` every epoch. */
export class ExponentialLR extends LRScheduler {
  gamma: number;

  constructor(optimizer: OptimizerLike, options: ExponentialLRSchedulerOptions) {
    super(optimizer);
    this.gamma = checkNumber('ExponentialLR', 'gamma', options?.gamma);
    this.attach(options);
  }

  protected getLr(): number[] {
    if (this.lastEpoch === 0) return currentLrs(this);
    return this.groups.map((g) => g.lr * this.gamma);
  }

  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => exponentialLrAt(b, this.lastEpoch, { gamma: this.gamma }));
  }

  protected override extraState(): SchedulerStateDict {
    return { gamma: this.gamma };
  }

  protected override loadExtraState(s: SchedulerStateDict): void {
    if ('gamma' in s) this.gamma = readNumber('ExponentialLR', s, 'gamma');
  }
}

export interface PolynomialLRSchedulerOptions extends BaseOptions {
  total_iters?: number;
  power?: number;
}

/** Decays the lr to 0 over total_iters as `(1 - t/total_iters) ** power`. */
export class PolynomialLR extends LRScheduler {
  totalIters: number;
  power: number;

  constructor(optimizer: OptimizerLike, options: PolynomialLRSchedulerOptions = {}) {
    super(optimizer);
    this.totalIters = checkInt('PolynomialLR', 'total_iters', options.total_iters ?? 5, 1);
    this.power = checkNumber('PolynomialLR', 'power', options.power ?? 1.0);
    this.attach(options);
  }

  protected getLr(): number[] {
    if (this.lastEpoch === 0 || this.lastEpoch > this.totalIters) return currentLrs(this);
    const ti = this.totalIters;
    const decay = pow((1.0 - this.lastEpoch / ti) / (1.0 - (this.lastEpoch - 1) / ti), this.power);
    return this.groups.map((g) => g.lr * decay);
  }

  protected override closedFormLr(): number[] {
    const o = { total_iters: this.totalIters, power: this.power };
    return this.baseLrs.map((b) => polynomialLrAt(b, this.lastEpoch, o));
  }

  protected override extraState(): SchedulerStateDict {
    return { total_iters: this.totalIters, power: this.power };
  }

  protected override loadExtraState(s: SchedulerStateDict): void {
    if ('total_iters' in s) this.totalIters = readNumber('PolynomialLR', s, 'total_iters');
    if ('power' in s) this.power = readNumber('PolynomialLR', s, 'power');
  }
}
