// Reading metrics.jsonl while a run appends to it: from a byte offset to the last complete line.
// A partial last line (the trainer is mid-append) stays unread until its newline arrives; a bad
// line becomes a warning naming its line number, never an error, so one corrupt line does not
// hide the rest of the run. A file that shrank or was replaced (a resume rewrites it atomically)
// is read again from the start, and the reader says so (`reset`).
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { type MetricsRecord, parseMetrics } from '../report/index.ts';

/** A line of metrics.jsonl that is not a metrics record. */
export interface LineWarning {
  /** 1-based line number in the file */
  line: number;
  message: string;
}

/** What one read added. */
export interface TailChunk {
  records: MetricsRecord[];
  warnings: LineWarning[];
  /** the file was read again from its start: drop what earlier chunks gave */
  reset: boolean;
}

/** Parses whole lines (no trailing partial line); `firstLine` is the 1-based number of the first. */
export function parseLines(text: string, firstLine = 1): { records: MetricsRecord[]; warnings: LineWarning[] } {
  const records: MetricsRecord[] = [];
  const warnings: LineWarning[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      // parseMetrics checks the shape (an object with a 'type'); given one line and a newline, a
      // line that is not JSON is an error rather than a torn last line
      records.push(...parseMetrics(`${line}\n`));
    } catch (e) {
      const why = (e as Error).message.replace(/^metrics\.jsonl:\d+: /, '');
      warnings.push({ line: firstLine + i, message: why });
    }
  });
  return { records, warnings };
}

// at most this much is read per call: a huge file arrives in several chunks, not one giant string
const MAX_READ = 8 * 1024 * 1024;

/** Follows one metrics.jsonl by byte offset. */
export class MetricsTail {
  readonly path: string;
  /** bytes consumed: everything before it was whole lines */
  offset = 0;
  /** lines consumed (the next line's number is line + 1) */
  line = 0;
  #ino: number | undefined;

  constructor(path: string) {
    this.path = path;
  }

  /** The complete lines appended since the last read (none when the file is missing). */
  read(): TailChunk {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      // not written yet, or removed: a later file starts from scratch
      const reset = this.offset > 0;
      this.#restart(undefined);
      return { records: [], warnings: [], reset };
    }
    try {
      return this.#readFrom(fd);
    } catch {
      // not a readable file (a folder by that name, an I/O error): nothing to read this time
      return { records: [], warnings: [], reset: false };
    } finally {
      closeSync(fd);
    }
  }

  #readFrom(fd: number): TailChunk {
    const st = fstatSync(fd);
    let reset = false;
    if ((this.#ino !== undefined && st.ino !== this.#ino) || st.size < this.offset) {
      this.#restart(st.ino);
      reset = true;
    }
    this.#ino = st.ino;
    const want = Math.min(st.size - this.offset, MAX_READ);
    if (want <= 0) return { records: [], warnings: [], reset };
    const buf = Buffer.alloc(want);
    const got = readSync(fd, buf, 0, want, this.offset);
    const end = buf.lastIndexOf(10, got - 1); // the last newline: what follows is a partial line
    if (end < 0) return { records: [], warnings: [], reset };
    const text = buf.toString('utf8', 0, end);
    const parsed = parseLines(text, this.line + 1);
    this.offset += end + 1;
    this.line += text.split('\n').length;
    return { ...parsed, reset };
  }

  /** Everything complete up to the end of the file (several reads for a large file). */
  readAll(): TailChunk {
    const out: TailChunk = { records: [], warnings: [], reset: false };
    for (;;) {
      const before = this.offset;
      const c = this.read();
      if (c.reset) Object.assign(out, { records: [], warnings: [], reset: true });
      out.records.push(...c.records);
      out.warnings.push(...c.warnings);
      if (this.offset === before) return out;
    }
  }

  /** Whether the file changed since the last read (size or identity): a cheap check for polling. */
  changed(): boolean {
    const st = statSync(this.path, { throwIfNoEntry: false });
    if (!st) return this.offset > 0;
    return st.ino !== this.#ino || st.size !== this.offset;
  }

  #restart(ino: number | undefined): void {
    this.offset = 0;
    this.line = 0;
    this.#ino = ino;
  }
}
