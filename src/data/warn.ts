// Warnings of the data layer: what is suspicious but usable (a rare label that looks like a typo of
// another, a skipped file) is said in one line each on stderr, so a user sees it without the report.

/** Receives one warning line (no trailing newline). */
export type WarnFn = (message: string) => void;

/** stderr, one line each: it shows in a terminal and stays out of piped output. */
export const defaultWarn: WarnFn = (message) => console.error(`graft: warning: ${message}`);

/**
 * Names the first `first` events one line each, then says only how many there are, at 2x, 4x, 8x ...
 * `first` events: a million skipped files print ~20 lines, not a million.
 */
export class WarnLimiter {
  private count = 0;
  private next: number;
  constructor(
    private readonly warn: WarnFn,
    /** what is counted, plural: 'samples skipped' */
    private readonly what: string,
    private readonly first = 10,
  ) {
    this.next = 2 * first;
  }

  note(message: string): void {
    this.count++;
    if (this.count <= this.first) this.warn(message);
    else if (this.count === this.next) {
      this.next *= 2;
      this.warn(`${this.count} ${this.what} so far (the first ${this.first} are named above)`);
    }
  }
}
