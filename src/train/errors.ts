// Training errors: a run that cannot go on names where it stopped and what is safe to resume from.
import { GraftError } from '../errors.ts';

export interface TrainErrorInfo {
  /** 0-based epoch the run stopped in */
  epoch?: number;
  /** optimizer steps taken before it stopped */
  step?: number;
  /** the newest checkpoint that was written before the failure, if any */
  lastCheckpoint?: string;
}

/** A training run stopped: non-finite loss, a bad resume, a callback that failed. */
export class TrainError extends GraftError {
  readonly epoch?: number;
  readonly step?: number;
  readonly lastCheckpoint?: string;
  constructor(code: string, message: string, info: TrainErrorInfo = {}, hint?: string) {
    super(code, message, hint);
    this.epoch = info.epoch;
    this.step = info.step;
    this.lastCheckpoint = info.lastCheckpoint;
  }
}
