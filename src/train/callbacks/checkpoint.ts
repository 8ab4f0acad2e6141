// Checkpoints: last.pth after every epoch (and every N steps if asked), best.pth for the best epoch
// by the trainer's monitor, epoch-NNNN.pth for the last `keep` epochs. Every file is written to a
// temp name and renamed: the previous checkpoint stays whole until the new one is complete.
import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError } from '../../errors.ts';
import {
  type CheckpointWriter,
  checkpointName,
  copyCheckpoint,
  defaultWriter,
  removeStaleTemps,
  writeCheckpoint,
} from '../checkpoint.ts';
import type { Callback } from '../events.ts';
import type { Trainer } from '../trainer.ts';

export interface CheckpointOptions {
  /** folder for last.pth, best.pth, epoch-NNNN.pth */
  dir: string;
  /** also keep epoch-NNNN.pth for the last `keep` epochs (default 0) */
  keep?: number;
  /** write last.pth every N optimizer steps too (mid-epoch resume points) */
  everySteps?: number;
  /** copy the best epoch's checkpoint to best.pth (default true) */
  best?: boolean;
  /** how a checkpoint file is written (default: src/io's writePth) */
  writer?: CheckpointWriter;
}

export class CheckpointCallback implements Callback {
  readonly name = 'checkpoint';
  // last in every event: the other callbacks' state is up to date when it is saved
  readonly order = 100;
  readonly dir: string;
  readonly keep: number;
  readonly everySteps: number | undefined;
  readonly best: boolean;
  readonly writer: CheckpointWriter;

  constructor(o: CheckpointOptions) {
    this.dir = o.dir;
    this.keep = o.keep ?? 0;
    this.everySteps = o.everySteps;
    this.best = o.best ?? true;
    this.writer = o.writer ?? defaultWriter;
    if (this.everySteps !== undefined && (!Number.isInteger(this.everySteps) || this.everySteps < 1))
      throw new ArgumentError(`checkpoint.everySteps must be an integer >= 1, got ${this.everySteps}`);
  }

  get lastPath(): string {
    return join(this.dir, 'last.pth');
  }
  get bestPath(): string {
    return join(this.dir, 'best.pth');
  }

  beforeFit(): void {
    mkdirSync(this.dir, { recursive: true });
    removeStaleTemps(this.dir);
  }

  save(t: Trainer): string {
    writeCheckpoint(this.lastPath, t.checkpointState(), this.writer);
    t.lastCheckpoint = this.lastPath;
    return this.lastPath;
  }

  afterBatch(t: Trainer): void {
    if (this.everySteps && t.stepped && t.step % this.everySteps === 0) this.save(t);
  }

  afterEpoch(t: Trainer): void {
    this.save(t);
    if (this.best && t.isBestEpoch) copyCheckpoint(this.lastPath, this.bestPath);
    if (this.keep > 0) {
      copyCheckpoint(this.lastPath, checkpointName(this.dir, t.epoch + 1));
      const old = checkpointName(this.dir, t.epoch + 1 - this.keep);
      if (t.epoch + 1 - this.keep >= 1 && existsSync(old)) unlinkSync(old);
    }
  }

  /** A run stopped between epochs' ends (requestStop, SIGINT) is saved where it stopped. */
  afterFit(t: Trainer): void {
    if (!t.error && t.stopReason && t.position.batch !== 0 && t.atStepBoundary) this.save(t);
  }
}
