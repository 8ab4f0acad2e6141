// The NaN stop: a non-finite loss ends the run with a TrainError that says where it happened and
// names the last good checkpoint. "Good" is checked, not assumed: the checkpoint's weights are
// loaded and the failing batch is forwarded again under noGrad (same random numbers); a checkpoint
// whose loss is not finite either (weights already NaN when it was written) is not named. last.pth
// is tried first, then best.pth; the model's own state is put back afterwards.
import { existsSync } from 'node:fs';
import { manualSeed, noGrad, type Tensor, tidy } from '../../tensor/index.ts';
import { Rng } from '../../util/rng.ts';
import { readCheckpoint, stateDictTensors } from '../checkpoint.ts';
import { TrainError } from '../errors.ts';
import type { Callback } from '../events.ts';
import type { Batch } from '../source.ts';
import type { Trainer } from '../trainer.ts';

/** The loss the checkpoint's weights give on `batch` (NaN when they cannot be loaded). */
export function checkpointLoss(t: Trainer, file: string, batch: Batch): number {
  const saved = new Map<string, Tensor>();
  for (const [k, v] of t.model.stateDict()) saved.set(k, v.clone());
  const modes = [...t.model.modules()].map((m) => [m, m.training] as const);
  try {
    const weights = stateDictTensors(readCheckpoint(file).raw.get('model'), file);
    try {
      t.model.loadStateDict(weights);
    } finally {
      for (const w of weights.values()) w.dispose();
    }
    manualSeed(new Rng(t.seed, 'batch', t.epoch, t.batchIndex).nextU32());
    return tidy(() => noGrad(() => t.forwardBatch(batch).loss.item()));
  } catch {
    return Number.NaN;
  } finally {
    t.model.loadStateDict(saved);
    for (const v of saved.values()) v.dispose();
    for (const [m, training] of modes) m.training = training;
  }
}

/** Checkpoints a stopped run could continue from: the newest, then the best (when a callback keeps one). */
function candidates(t: Trainer): string[] {
  const out: string[] = [];
  const add = (p: unknown) => {
    if (typeof p === 'string' && !out.includes(p) && existsSync(p)) out.push(p);
  };
  add(t.lastCheckpoint);
  for (const cb of t.callbacks) add((cb as { bestPath?: unknown }).bestPath);
  return out;
}

export class NanStop implements Callback {
  readonly name = 'nan_stop';
  // first at afterLoss: no other callback sees the bad loss
  readonly order = -100;

  afterLoss(t: Trainer): void {
    if (Number.isFinite(t.lossValue)) return;
    const batch = t.batch!;
    const tried = candidates(t);
    const good = tried.find((f) => Number.isFinite(checkpointLoss(t, f, batch)));
    const where = `epoch ${t.epoch + 1}/${t.epochs}, step ${t.step + 1} (batch ${t.batchIndex + 1} of the epoch)`;
    const which = good
      ? `The last good checkpoint is ${good}${good !== tried[0] ? ` (${tried[0]} gives a non-finite loss on this batch too)` : ''}`
      : tried.length
        ? `No checkpoint is good: ${tried.join(' and ')} ${tried.length > 1 ? 'give' : 'gives'} a non-finite loss on this batch too`
        : 'No checkpoint was written before it';
    throw new TrainError(
      'GRAFT_TRAIN_NONFINITE',
      `loss is ${t.lossValue} at ${where}${t.phase ? `, phase '${t.phase}'` : ''}: the run stopped. ${which}`,
      { epoch: t.epoch, step: t.step, lastCheckpoint: good },
      good
        ? 'lower the learning rate, clip gradients (clip.norm), check the inputs for NaN, or resume from the checkpoint with changes'
        : 'check this batch for NaN or infinite inputs and labels, lower the learning rate, clip gradients (clip.norm)',
    );
  }
}
