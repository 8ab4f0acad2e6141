// Data errors name the file (and the line or sample where known); skipped samples are recorded, not lost.
import { GraftError } from '../errors.ts';

/** An unreadable file, image or row: names the file. */
export class DataError extends GraftError {
  readonly file: string;
  readonly reason: string;
  constructor(file: string, reason: string, hint?: string) {
    super('GRAFT_DATA', `${file}: ${reason}`, hint);
    this.file = file;
    this.reason = reason;
  }
}

/** One sample dropped under `onBadSample: 'skip'`. */
export interface BadSample {
  file: string;
  reason: string;
  /** the dataset index, when the sample was dropped while loading a batch */
  index?: number;
}

export type OnBadSample = 'error' | 'skip';

export const SKIP_HINT = "fix or remove the file, or pass onBadSample: 'skip' to drop it and count it";
