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

/** An image with more pixels than the limit, refused from its header before decoding. */
export class ImageTooLargeError extends DataError {
  /** width * height (0 when the header could not be read) */
  readonly pixels: number;
  readonly limit: number;
  constructor(file: string, reason: string, pixels: number, limit: number, hint?: string) {
    super(file, reason, hint);
    this.pixels = pixels;
    this.limit = limit;
  }
}

/** One sample dropped under `onBadSample: 'skip'`. */
export interface BadSample {
  file: string;
  reason: string;
  /** the dataset index, when the sample was dropped while loading a batch */
  index?: number;
}

/** A skipped sample as DataLoader.skippedSamples lists it. */
export interface SkippedSample {
  /** the dataset index (absent for manifest rows dropped before the dataset was made) */
  index?: number;
  /** the file (or `manifest:line`) */
  path?: string;
  reason: string;
}

export type OnBadSample = 'error' | 'skip';

/** The way out that datasets have (predict does not): said after a more specific hint. */
export const SKIP_OPTION = "pass onBadSample: 'skip' to drop it and count it";
export const SKIP_HINT = `fix or remove the file, or ${SKIP_OPTION}`;
