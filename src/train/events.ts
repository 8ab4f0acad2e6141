// Events and callbacks (after fastai's Learner): the loop only emits events; mixed precision,
// accumulation, the NaN stop, checkpoints, logging, progress, early stopping and clipping are
// callbacks that read and steer the trainer.
//
// One training batch, in order (sync: inside the step's tidy() scope, tensors of the step alive):
//   beforeBatch -> forward + loss (inside every aroundForward) -> afterLoss (sync) -> the train
//   meter counts the batch -> beforeBackward (sync; t.lossToBackward may be replaced) -> backward
//   -> afterBackward (sync) -> beforeStep (sync) -> optimizer step -> afterStep (sync) -> afterBatch
//
// Step control:
// - `throw new CancelBatchException(reason)` from beforeBatch, afterLoss, beforeBackward or
//   afterBackward: nothing after that point happens for this batch (no meter update if thrown in
//   afterLoss or earlier, no backward, no optimizer step, gradients left as they are); afterBatch
//   still runs, with t.batchCancelled set. Gradient accumulation uses it to keep gradients until
//   its window is full. Not from beforeStep: gradients are unscaled and normalised by then, so
//   they could not accumulate further; skip the step instead.
// - `t.skipStep(reason)` before the step (any sync event): every beforeStep callback still runs,
//   then the optimizer step is not taken; gradients are zeroed and the step counts as taken
//   (schedulers step, afterStep runs with t.skippedStep = true), as torch's GradScaler skips a
//   step with inf/NaN gradients.
// - `t.requestStop(reason)`: the run ends after the current step (at an accumulation boundary).
import { ArgumentError } from '../errors.ts';
import type { Trainer } from './trainer.ts';

export const EVENTS = [
  'beforeFit',
  'beforeEpoch',
  'beforeBatch',
  'afterLoss',
  'beforeBackward',
  'afterBackward',
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
export const SYNC_EVENTS: ReadonlySet<EventName> = new Set([
  'afterLoss',
  'beforeBackward',
  'afterBackward',
  'beforeStep',
  'afterStep',
]);

/** Events from which a callback may throw CancelBatchException. */
export const CANCELLABLE_EVENTS: ReadonlySet<EventName> = new Set([
  'beforeBatch',
  'afterLoss',
  'beforeBackward',
  'afterBackward',
]);

/** Thrown by a callback to skip the rest of the current training batch (fastai's CancelBatchException). */
export class CancelBatchException extends Error {
  constructor(readonly reason = 'cancelled by a callback') {
    super(`batch cancelled: ${reason}`);
    this.name = 'CancelBatchException';
  }
}

type Async = (t: Trainer) => void | Promise<void>;
type Sync = (t: Trainer) => void;

export interface Callback {
  /** key of its state in checkpoints; callbacks with state need a unique name */
  readonly name?: string;
  /** lower runs first (default 0) */
  readonly order?: number;
  /**
   * When fit() starts, before beforeFit and before anything is computed or written: check the
   * callback's settings against the trainer (an unknown metric name, ...) and throw to refuse the run.
   */
  check?(t: Trainer): void;
  beforeFit?: Async;
  beforeEpoch?: Async;
  beforeBatch?: Async;
  /**
   * Wraps the forward pass and the loss, in training and validation (mixed precision's autocast).
   * Must call `run` exactly once and return its result; wrappers nest in callback order.
   */
  aroundForward?<T>(t: Trainer, run: () => T): T;
  /** t.loss / t.output hold this batch's tensors, t.lossValue its loss as a number */
  afterLoss?: Sync;
  /** t.lossToBackward is what backward() is called on: replace it to weight or scale the loss */
  beforeBackward?: Sync;
  /** this batch's gradients are added to the parameters' */
  afterBackward?: Sync;
  /** gradients are complete, unscaled and normalised over the accumulation window: clip here */
  beforeStep?: Sync;
  /** after the optimizer step (or the skipped step: t.skippedStep) and the runner's onStepEnd */
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

/** Calls `name` on every callback in order (awaiting each). */
export async function emit(callbacks: readonly Callback[], name: EventName, t: Trainer): Promise<void> {
  try {
    for (const cb of callbacks) await cb[name]?.(t);
  } catch (e) {
    throw misplacedCancel(e, name);
  }
}

/** Calls a step event on every callback: they run inside the step's tidy() scope and must be synchronous. */
export function emitSync(callbacks: readonly Callback[], name: EventName, t: Trainer): void {
  for (const cb of callbacks) {
    let r: unknown;
    try {
      r = cb[name]?.(t);
    } catch (e) {
      throw misplacedCancel(e, name);
    }
    if (r instanceof Promise)
      throw new ArgumentError(
        `callback ${cb.name ?? cb.constructor.name}.${name} must be synchronous (it runs inside the step)`,
      );
  }
}

/** A CancelBatchException outside the batch events it is meant for is a programming error. */
function misplacedCancel(e: unknown, event: EventName): unknown {
  if (!(e instanceof CancelBatchException) || CANCELLABLE_EVENTS.has(event)) return e;
  return new ArgumentError(
    `a callback threw CancelBatchException from ${event}${SYNC_EVENTS.has(event) ? ' (a step event)' : ''}`,
    `cancel a batch from ${[...CANCELLABLE_EVENTS].join(', ')}; call t.skipStep() to skip a step`,
  );
}
