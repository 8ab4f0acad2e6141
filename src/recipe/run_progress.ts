// Progress events of a recipe run for callers that draw their own (the CLI, the board): the
// trainer's notes, each optimizer step's loss and each epoch's metrics.
import type { Callback } from '../train/index.ts';

/** A moment of a run, for callers that draw their own progress. */
export interface RunProgress {
  kind: 'step' | 'epoch' | 'note';
  epoch: number;
  epochs: number;
  step: number;
  phase: string | undefined;
  /** step: this batch's loss */
  loss?: number;
  /** epoch: the epoch's metrics ('train.loss', 'eval.accuracy', ...) */
  metrics?: Record<string, number>;
  /** note: a phase start, an optimizer switch, ... */
  text?: string;
}

export function progressCallback(on: (p: RunProgress) => void): Callback {
  const at = (t: Parameters<NonNullable<Callback['afterBatch']>>[0]) => ({
    epoch: t.epoch,
    epochs: t.epochs,
    step: t.step,
    phase: t.phase,
  });
  // the trainer's notes: an epoch's (phase starts) before its first batch, then each batch's own
  const notes = (t: Parameters<NonNullable<Callback['afterBatch']>>[0]) => {
    for (const text of t.notes) on({ kind: 'note', ...at(t), text });
  };
  return {
    order: 20,
    beforeEpoch: notes,
    afterBatch(t) {
      notes(t);
      if (t.stepped) on({ kind: 'step', ...at(t), loss: t.lossValue });
    },
    afterEpoch(t) {
      on({ kind: 'epoch', ...at(t), metrics: { ...t.metrics } });
    },
  };
}
