// What the trainer drives: the optimizer (and scheduler) of the current phase, with hooks at epoch
// start, after each optimizer step and at epoch end. src/finetune's phase runner fits this shape;
// OptimizerRunner gives a plain optimizer + optional scheduler the same shape.
import { ArgumentError } from '../errors.ts';
import type { Optimizer } from '../optim/index.ts';
import { type AnyScheduler, ReduceLROnPlateau, type Scheduler } from '../schedule/index.ts';

/** Epoch metrics by dotted name: 'train.loss', 'eval.loss', 'eval.accuracy', 'eval.macroF1', ... */
export type MetricMap = Record<string, number>;

/** A note a runner returns from its hooks ('phase 1 'all' starts', 'optimizer Adam -> SGD'). */
export interface RunnerNoteLike {
  text: string;
}

/** What the trainer drives; src/finetune's PhaseRunner has this shape as it is. */
export interface PhaseRunnerLike {
  /** the optimizer now in use (a phase may switch it: read it every step) */
  readonly optimizer: Optimizer;
  /** the scheduler now in use, if any */
  readonly scheduler?: Scheduler | undefined;
  /** the current phase: its name, or its spec ({ name }) */
  readonly phase?: string | { name?: string } | undefined;
  readonly phaseIndex?: number;
  /** total epochs, when the phases define them */
  readonly epochs?: number | undefined;
  readonly totalEpochs?: number | undefined;
  /** the last phase has run all its steps (a phase sized in steps may end mid-epoch) */
  readonly finished?: boolean;
  /** before the first batch of `epoch` (0-based): freezing, groups, LR changes of a new phase; may return notes ({ text }[]) */
  onEpochStart(epoch: number): unknown;
  /** after every optimizer step (`stepIndex`: the 0-based index of the step just taken) */
  onStepEnd(stepIndex: number): unknown;
  /** after validation: per-epoch schedulers (ReduceLROnPlateau reads its metric here) */
  onEpochEnd(epoch: number, metrics: MetricMap): void;
  /**
   * Optimizer steps per epoch, from the training data's length (batches / accumulate), given by the
   * trainer when fitting starts (before the first onEpochStart): step-based schedulers sized by
   * phases in epochs (OneCycleLR, warm-up) are built with it.
   */
  setStepsPerEpoch?(steps: number): void;
  /** the metric names the runner reads in onEpochEnd (ReduceLROnPlateau monitors): checked at fit start */
  monitors?(): string[];
  /** what a resume needs beyond the optimizer's and scheduler's own state dicts (phase index, ...) */
  stateDict(): Record<string, unknown>;
  /** restores stateDict(); may rebuild the phase's optimizer and scheduler before they are loaded */
  loadStateDict(state: Record<string, unknown>): void;
}

export interface OptimizerRunnerOptions {
  /** when the scheduler steps: after every epoch (default) or after every optimizer step */
  interval?: 'epoch' | 'step';
  /** the metric ReduceLROnPlateau watches (default 'eval.loss', else 'train.loss') */
  monitor?: string;
  /** a name shown as the phase */
  phase?: string;
  epochs?: number;
}

/** The phase's display name: its name, else 'phase N', else undefined (no phases). */
export function phaseName(r: PhaseRunnerLike): string | undefined {
  const p = r.phase;
  if (p === undefined || typeof p === 'string') return p;
  return p.name ?? (r.phaseIndex !== undefined ? `phase ${r.phaseIndex}` : undefined);
}

/** One optimizer and an optional scheduler, no phases. */
export class OptimizerRunner implements PhaseRunnerLike {
  readonly optimizer: Optimizer;
  readonly scheduler: AnyScheduler | undefined;
  readonly phase: string | undefined;
  readonly epochs: number | undefined;
  readonly interval: 'epoch' | 'step';
  readonly monitor: string | undefined;

  constructor(optimizer: Optimizer, scheduler?: AnyScheduler, o: OptimizerRunnerOptions = {}) {
    this.optimizer = optimizer;
    this.scheduler = scheduler;
    this.phase = o.phase;
    this.epochs = o.epochs;
    this.interval = o.interval ?? 'epoch';
    this.monitor = o.monitor;
    if (scheduler instanceof ReduceLROnPlateau && this.interval === 'step')
      throw new ArgumentError('ReduceLROnPlateau steps after validation: use interval "epoch"');
  }

  onEpochStart(_epoch: number): void {}

  monitors(): string[] {
    return this.monitor !== undefined && this.scheduler instanceof ReduceLROnPlateau ? [this.monitor] : [];
  }

  onStepEnd(_stepIndex: number): void {
    if (this.interval === 'step' && this.scheduler && !(this.scheduler instanceof ReduceLROnPlateau))
      this.scheduler.step();
  }

  onEpochEnd(epoch: number, metrics: MetricMap): void {
    const s = this.scheduler;
    if (!s || this.interval !== 'epoch') return;
    if (s instanceof ReduceLROnPlateau) {
      const name = this.monitor ?? ('eval.loss' in metrics ? 'eval.loss' : 'train.loss');
      const v = metrics[name];
      if (v === undefined)
        throw new ArgumentError(
          `ReduceLROnPlateau watches '${name}', which epoch ${epoch + 1} did not produce`,
          `metrics: ${Object.keys(metrics).join(', ')}`,
        );
      s.step(v);
    } else s.step();
  }

  stateDict(): Record<string, unknown> {
    return {};
  }

  loadStateDict(_state: Record<string, unknown>): void {}
}
