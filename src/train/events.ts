// Events and callbacks (after fastai's Learner): the loop only emits events; checkpoints, logging,
// progress, early stopping and clipping are callbacks that read and steer the trainer.
import type { Trainer } from './trainer.ts';

export const EVENTS = [
  'beforeFit',
  'beforeEpoch',
  'beforeBatch',
  'afterLoss',
  'beforeStep',
  'afterStep',
  'afterBatch',
  'beforeValidate',
  'afterValidate',
  'afterEpoch',
  'afterFit',
] as const;

export type EventName = (typeof EVENTS)[number];

/** Emitted inside the tidy() scope of a training step: synchronous, tensors of the step still alive. */
export const SYNC_EVENTS: ReadonlySet<EventName> = new Set(['afterLoss', 'beforeStep', 'afterStep']);

type Async = (t: Trainer) => void | Promise<void>;
type Sync = (t: Trainer) => void;

export interface Callback {
  /** key of its state in checkpoints; callbacks with state need a unique name */
  readonly name?: string;
  /** lower runs first (default 0) */
  readonly order?: number;
  beforeFit?: Async;
  beforeEpoch?: Async;
  beforeBatch?: Async;
  /** t.loss / t.output hold this batch's tensors */
  afterLoss?: Sync;
  /** gradients are complete, unscaled and normalised over the accumulation window: clip here */
  beforeStep?: Sync;
  afterStep?: Sync;
  afterBatch?: Async;
  beforeValidate?: Async;
  afterValidate?: Async;
  afterEpoch?: Async;
  /** always runs, also when the run failed (t.error) or was stopped (t.stopReason) */
  afterFit?: Async;
  stateDict?(): Record<string, unknown>;
  loadStateDict?(state: Record<string, unknown>): void;
}
