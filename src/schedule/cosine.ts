// CosineAnnealingLR (torch 1.13's recursive form) and CosineAnnealingWarmRestarts (SGDR).

import { ArgumentError } from '../errors.ts';
import type { OptimizerLike } from '../optim/types.ts';
import { cos, mod } from '../util/pymath.ts';
import { type BaseOptions, checkInt, checkNumber, LRScheduler, readNumber, type SchedulerStateDict } from './_base.ts';
import { cosineAnnealingLrAt, warmRestartsLr, warmRestartsPosition } from './functional.ts';

export interface CosineAnnealingLRSchedulerOptions extends BaseOptions {
  T_max: number;
  eta_min?: number;
}

/** Cosine annealing from each group's initial lr to eta_min over T_max epochs (and back up, past T_max). */
export class CosineAnnealingLR extends LRScheduler {
  tMax: number;
  etaMin: number;

  constructor(optimizer: OptimizerLike, options: CosineAnnealingLRSchedulerOptions) {
    super(optimizer);
    this.tMax = checkNumber('CosineAnnealingLR', 'T_max', options?.T_max);
    if (this.tMax <= 0) throw new ArgumentError(`CosineAnnealingLR: T_max must be > 0, got ${this.tMax}`);
    this.etaMin = checkNumber('CosineAnnealingLR', 'eta_min', options.eta_min ?? 0);
    this.attach(options);
  }

  protected getLr(): number[] {
    const e = this.lastEpoch;
    const tMax = this.tMax;
    const etaMin = this.etaMin;
    if (e === 0) return this.groups.map((g) => g.lr);
    if (this.stepCount === 1 && e > 0) {
      // Resuming with last_epoch > 0: the first step uses the closed form.
      return this.baseLrs.map((b) => etaMin + ((b - etaMin) * (1 + cos((e * Math.PI) / tMax))) / 2);
    }
    if (mod(e - 1 - tMax, 2 * tMax) === 0) {
      // The recursion's denominator is 0 at the bottom of the cosine: step up by the closed-form amount.
      return this.groups.map((g, i) => g.lr + ((this.baseLrs[i]! - etaMin) * (1 - cos(Math.PI / tMax))) / 2);
    }
    return this.groups.map(
      (g) => ((1 + cos((Math.PI * e) / tMax)) / (1 + cos((Math.PI * (e - 1)) / tMax))) * (g.lr - etaMin) + etaMin,
    );
  }

  protected override closedFormLr(): number[] {
    const o = { T_max: this.tMax, eta_min: this.etaMin };
    return this.baseLrs.map((b) => cosineAnnealingLrAt(b, this.lastEpoch, o));
  }

  protected override extraState(): SchedulerStateDict {
    return { T_max: this.tMax, eta_min: this.etaMin };
  }

  protected override loadExtraState(s: SchedulerStateDict): void {
    if ('T_max' in s) this.tMax = readNumber('CosineAnnealingLR', s, 'T_max');
    if ('eta_min' in s) this.etaMin = readNumber('CosineAnnealingLR', s, 'eta_min');
  }
}

export interface CosineAnnealingWarmRestartsSchedulerOptions extends BaseOptions {
  T_0: number;
  T_mult?: number;
  eta_min?: number;
}

/**
 * SGDR: cosine annealing restarted every T_i epochs, T_i growing by T_mult. `step(epoch)` accepts
 * fractional epochs (`step(epoch + i / itersPerEpoch)` per batch).
 */
export class CosineAnnealingWarmRestarts extends LRScheduler {
  t0: number;
  tI: number;
  tMult: number;
  etaMin: number;
  tCur: number;

  constructor(optimizer: OptimizerLike, options: CosineAnnealingWarmRestartsSchedulerOptions) {
    super(optimizer);
    this.t0 = checkInt('CosineAnnealingWarmRestarts', 'T_0', options?.T_0, 1);
    this.tI = this.t0;
    this.tMult = checkInt('CosineAnnealingWarmRestarts', 'T_mult', options.T_mult ?? 1, 1);
    this.etaMin = checkNumber('CosineAnnealingWarmRestarts', 'eta_min', options.eta_min ?? 0);
    this.tCur = options.last_epoch ?? -1;
    this.attach(options);
  }

  protected getLr(): number[] {
    return this.baseLrs.map((b) => warmRestartsLr(b, this.tCur, this.tI, this.etaMin));
  }

  /** Like PyTorch, this step leaves `_step_count` alone (it stays 0). */
  override step(epoch?: number): void {
    if (epoch === undefined && this.lastEpoch < 0) epoch = 0;
    if (epoch === undefined) {
      epoch = this.lastEpoch + 1;
      this.tCur = this.tCur + 1;
      if (this.tCur >= this.tI) {
        this.tCur = this.tCur - this.tI;
        this.tI = this.tI * this.tMult;
      }
    } else {
      if (!(epoch >= 0)) {
        throw new ArgumentError(`CosineAnnealingWarmRestarts: expected non-negative epoch, but got ${epoch}`);
      }
      if (epoch >= this.t0) {
        const pos = warmRestartsPosition(epoch, this.t0, this.tMult);
        this.tCur = pos.T_cur;
        if (this.tMult !== 1) this.tI = pos.T_i;
      } else {
        this.tI = this.t0;
        this.tCur = epoch;
      }
    }
    this.lastEpoch = Math.floor(epoch);
    this.getLrCalledWithinStep = true;
    let values: number[];
    try {
      values = this.getLr();
    } finally {
      this.getLrCalledWithinStep = false;
    }
    this.writeLrs(values, epoch);
  }

  protected override extraState(): SchedulerStateDict {
    return { T_0: this.t0, T_i: this.tI, T_mult: this.tMult, eta_min: this.etaMin, T_cur: this.tCur };
  }

  protected override loadExtraState(s: SchedulerStateDict): void {
    const o = 'CosineAnnealingWarmRestarts';
    if ('T_0' in s) this.t0 = readNumber(o, s, 'T_0');
    if ('T_i' in s) this.tI = readNumber(o, s, 'T_i');
    if ('T_mult' in s) this.tMult = readNumber(o, s, 'T_mult');
    if ('eta_min' in s) this.etaMin = readNumber(o, s, 'eta_min');
    if ('T_cur' in s) this.tCur = readNumber(o, s, 'T_cur');
  }
}
