// The event sequence of scripts/fixtures/tensorboard_events.py's reference file, written with
// graft's TensorBoardLogger (same clock, steps and values), and the extra histogram of
// graft.tfevents (values.f32, recomputed with torch's make_histogram by that script).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TensorBoardLogger } from '../../src/track/index.ts';

export const T0 = 1700000000.5;
export const HPARAMS = { 'data.batchSize': 32, 'model.name': 'resnet18', 'optimizer.lr': 0.001, pretrained: true };
export const EXACT = [-2.0, -0.5, 0.0, 0.25, 0.25, 1.0, 3.0, 1000.0];

/** Writes the reference events into `dir` (a new folder); returns the event file's path. */
export function writeReference(dir: string, random?: Float32Array): string {
  let clock = T0;
  const log = new TensorBoardLogger({ dir, now: () => clock, flushSecs: 1e9, maxQueue: 1000 });
  log.logHparams(HPARAMS);
  clock = T0 + 1;
  log.logScalars(1, { 'train/loss_step': 0.75, 'lr/head': 0.1, 'momentum/head': 0.9 });
  clock = T0 + 2;
  log.logScalars(2, { 'eval/accuracy': 0.5, 'eval/loss': Number.NaN });
  clock = T0 + 3;
  log.logScalars(0, { zero: 0 });
  clock = T0 + 4;
  log.logHistogram(3, 'weights/fc.weight', Float32Array.from(EXACT));
  if (random) {
    clock = T0 + 4.5;
    log.logHistogram(4, 'grads/random', random);
  }
  clock = T0 + 5;
  log.close('success');
  const files = readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.'));
  if (files.length !== 1) throw new Error(`expected one event file in ${dir}, found ${files.length}`);
  return join(dir, files[0]!);
}
