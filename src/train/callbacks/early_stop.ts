// Early stopping: stop when the monitored metric has not improved by minDelta for `patience` epochs.
import { ArgumentError } from '../../errors.ts';
import type { Callback } from '../events.ts';
import { checkMetricName } from '../metrics.ts';
import type { Trainer } from '../trainer.ts';

export interface EarlyStoppingOptions {
  /** metric name ('eval.loss', 'eval.accuracy', ...); default 'eval.loss' */
  monitor?: string;
  /** epochs without improvement before stopping (default 3) */
  patience?: number;
  /** the smallest change that counts as an improvement (default 0) */
  minDelta?: number;
  /** default: 'min' for losses, 'max' otherwise */
  mode?: 'min' | 'max';
}

export class EarlyStopping implements Callback {
  readonly name = 'early_stopping';
  // before the checkpoint is written, so the saved state includes this epoch
  readonly order = -20;
  readonly monitor: string;
  readonly patience: number;
  readonly minDelta: number;
  readonly mode: 'min' | 'max';
  best: number | undefined;
  wait = 0;
  stoppedEpoch: number | undefined;

  constructor(o: EarlyStoppingOptions = {}) {
    this.monitor = o.monitor ?? 'eval.loss';
    this.patience = o.patience ?? 3;
    this.minDelta = Math.abs(o.minDelta ?? 0);
    this.mode = o.mode ?? (/loss$/i.test(this.monitor) ? 'min' : 'max');
    if (!Number.isInteger(this.patience) || this.patience < 0)
      throw new ArgumentError(`earlyStopping.patience must be an integer >= 0, got ${o.patience}`);
  }

  /** true when v is better than the best by more than minDelta */
  improved(v: number): boolean {
    if (this.best === undefined) return true;
    return this.mode === 'min' ? v < this.best - this.minDelta : v > this.best + this.minDelta;
  }

  /** An unknown metric name fails when fit() starts, before anything runs, with a did-you-mean. */
  check(t: Trainer): void {
    checkMetricName(this.monitor, { valid: t.validSource !== undefined, task: t.task }, 'earlyStopping.monitor');
  }

  afterEpoch(t: Trainer): void {
    const v = t.metrics[this.monitor];
    if (v === undefined)
      throw new ArgumentError(
        `early stopping watches '${this.monitor}', which epoch ${t.epoch + 1} did not produce`,
        `metrics: ${Object.keys(t.metrics).join(', ')}`,
      );
    if (!Number.isNaN(v) && this.improved(v)) {
      this.best = v;
      this.wait = 0;
      return;
    }
    this.wait += 1;
    if (this.wait >= this.patience) {
      this.stoppedEpoch = t.epoch;
      t.requestStop(
        `early stopping: ${this.monitor} did not improve on ${this.best} for ${this.wait} epochs (patience ${this.patience}, minDelta ${this.minDelta})`,
      );
    }
  }

  stateDict(): Record<string, unknown> {
    return { best: this.best ?? null, wait: this.wait };
  }

  loadStateDict(s: Record<string, unknown>): void {
    this.best = typeof s.best === 'number' ? s.best : undefined;
    this.wait = Number(s.wait ?? 0);
  }
}
