// ReduceLROnPlateau (torch 1.13): not chainable; `step(metric)` after each validation.

import { ArgumentError } from '../errors.ts';
import type { OptimizerLike } from '../optim/types.ts';
import {
  checkInt,
  checkNumber,
  checkOneOf,
  checkState,
  formatE4,
  perGroup,
  readNumber,
  readNumbers,
  type Scheduler,
  type SchedulerStateDict,
} from './_base.ts';

export type PlateauMode = 'min' | 'max';
export type ThresholdMode = 'rel' | 'abs';

export interface ReduceLROnPlateauOptions {
  mode?: PlateauMode;
  factor?: number;
  patience?: number;
  threshold?: number;
  threshold_mode?: ThresholdMode;
  cooldown?: number;
  /** One floor for all groups or one per group. */
  min_lr?: number | readonly number[];
  eps?: number;
  verbose?: boolean;
}

/** A metric: a number, or anything with `item()` (a scalar tensor). */
export type Metric = number | { item(): number };

const OWNER = 'ReduceLROnPlateau';

export class ReduceLROnPlateau implements Scheduler {
  readonly optimizer: OptimizerLike;
  factor: number;
  minLrs: number[];
  patience: number;
  verbose: boolean;
  cooldown: number;
  cooldownCounter = 0;
  mode: PlateauMode = 'min';
  threshold = 1e-4;
  thresholdMode: ThresholdMode = 'rel';
  best = Number.POSITIVE_INFINITY;
  numBadEpochs = 0;
  modeWorse = Number.POSITIVE_INFINITY;
  eps: number;
  lastEpoch = 0;
  private lastLr: number[] | undefined;

  constructor(optimizer: OptimizerLike, options: ReduceLROnPlateauOptions = {}) {
    const factor = checkNumber(OWNER, 'factor', options.factor ?? 0.1);
    if (factor >= 1.0) throw new ArgumentError(`${OWNER}: factor should be < 1.0, got ${factor}`);
    this.factor = factor;
    if (!optimizer || !Array.isArray(optimizer.paramGroups)) {
      throw new ArgumentError(`${OWNER}: expected an optimizer with paramGroups, got ${typeof optimizer}`);
    }
    this.optimizer = optimizer;
    this.minLrs = perGroup(OWNER, 'min_lr', options.min_lr ?? 0, optimizer.paramGroups.length);
    this.patience = checkInt(OWNER, 'patience', options.patience ?? 10, 0);
    this.verbose = options.verbose ?? false;
    this.cooldown = checkInt(OWNER, 'cooldown', options.cooldown ?? 0, 0);
    this.eps = checkNumber(OWNER, 'eps', options.eps ?? 1e-8);
    this.initIsBetter(
      options.mode ?? 'min',
      checkNumber(OWNER, 'threshold', options.threshold ?? 1e-4),
      options.threshold_mode ?? 'rel',
    );
    this.reset();
  }

  private reset(): void {
    this.best = this.modeWorse;
    this.cooldownCounter = 0;
    this.numBadEpochs = 0;
  }

  /** Record one evaluation of the monitored metric; reduces the LRs after `patience` bad epochs. */
  step(metrics: Metric, epoch?: number): void {
    const current = typeof metrics === 'number' ? metrics : Number(metrics?.item?.());
    if (typeof metrics !== 'number' && Number.isNaN(current)) {
      throw new ArgumentError(`${OWNER}.step: metrics must be a number or a scalar tensor, got ${typeof metrics}`);
    }
    if (epoch === undefined) epoch = this.lastEpoch + 1;
    this.lastEpoch = epoch;
    if (this.isBetter(current, this.best)) {
      this.best = current;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.inCooldown) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0; // ignore any bad epochs in cooldown
    }
    if (this.numBadEpochs > this.patience) {
      this.reduceLr(epoch);
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  private reduceLr(epoch: number): void {
    this.optimizer.paramGroups.forEach((group, i) => {
      const oldLr = group.lr;
      const newLr = Math.max(oldLr * this.factor, this.minLrs[i]!);
      if (oldLr - newLr > this.eps) {
        group.lr = newLr;
        if (this.verbose) {
          const e = Number.isInteger(epoch) ? String(epoch).padStart(5, '0') : epoch.toFixed(2);
          console.log(`Epoch ${e}: reducing learning rate of group ${i} to ${formatE4(newLr)}.`);
        }
      }
    });
  }

  get inCooldown(): boolean {
    return this.cooldownCounter > 0;
  }

  isBetter(a: number, best: number): boolean {
    if (this.mode === 'min' && this.thresholdMode === 'rel') return a < best * (1 - this.threshold);
    if (this.mode === 'min' && this.thresholdMode === 'abs') return a < best - this.threshold;
    if (this.mode === 'max' && this.thresholdMode === 'rel') return a > best * (this.threshold + 1);
    return a > best + this.threshold;
  }

  private initIsBetter(mode: unknown, threshold: number, thresholdMode: unknown): void {
    this.mode = checkOneOf(OWNER, 'mode', mode, ['min', 'max']);
    this.thresholdMode = checkOneOf(OWNER, 'threshold_mode', thresholdMode, ['rel', 'abs']);
    this.modeWorse = this.mode === 'min' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
    this.threshold = threshold;
  }

  /** The LRs after the last step(); before the first one, the groups' current LRs. */
  getLastLr(): number[] {
    return this.lastLr ? [...this.lastLr] : this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** PyTorch's keys; `best` and `mode_worse` may be ±Infinity. `_last_lr` appears after the first step. */
  stateDict(): SchedulerStateDict {
    const s: SchedulerStateDict = {
      factor: this.factor,
      min_lrs: [...this.minLrs],
      patience: this.patience,
      verbose: this.verbose,
      cooldown: this.cooldown,
      cooldown_counter: this.cooldownCounter,
      mode: this.mode,
      threshold: this.threshold,
      threshold_mode: this.thresholdMode,
      best: this.best,
      num_bad_epochs: this.numBadEpochs,
      mode_worse: this.modeWorse,
      eps: this.eps,
      last_epoch: this.lastEpoch,
    };
    if (this.lastLr) s._last_lr = [...this.lastLr];
    return s;
  }

  loadStateDict(state: SchedulerStateDict): void {
    checkState(OWNER, state);
    const num = (k: string) => readNumber(OWNER, state, k);
    if ('factor' in state) this.factor = num('factor');
    if ('min_lrs' in state) this.minLrs = readNumbers(OWNER, state, 'min_lrs');
    if ('patience' in state) this.patience = num('patience');
    if ('verbose' in state) this.verbose = Boolean(state.verbose);
    if ('cooldown' in state) this.cooldown = num('cooldown');
    if ('cooldown_counter' in state) this.cooldownCounter = num('cooldown_counter');
    if ('best' in state) this.best = num('best');
    if ('num_bad_epochs' in state) this.numBadEpochs = num('num_bad_epochs');
    if ('eps' in state) this.eps = num('eps');
    if ('last_epoch' in state) this.lastEpoch = num('last_epoch');
    if ('_last_lr' in state) this.lastLr = readNumbers(OWNER, state, '_last_lr');
    // As in PyTorch, mode / threshold / threshold_mode go through _init_is_better (which resets mode_worse).
    const threshold = 'threshold' in state ? num('threshold') : this.threshold;
    this.initIsBetter(state.mode ?? this.mode, threshold, state.threshold_mode ?? this.thresholdMode);
  }
}
