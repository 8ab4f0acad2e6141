// An event file as TensorBoard's EventFileWriter writes one: named
// events.out.tfevents.<unix seconds, 10 digits>.<host>.<pid>.<n>, opened with a file_version record,
// then TFRecord-framed Events. Events queue in memory and reach the disk when `maxQueue` are
// waiting, when `flushSecs` have passed since the last flush (checked at each event), and on
// flush() / close(): TensorBoard's defaults (10 events, 120 s). Appends only; a failed write is a
// WriteError naming the file.
import { appendFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ArgumentError } from '../errors.ts';
import { WriteError } from '../util/write.ts';
import { type EventData, encodeEvent, FILE_VERSION, type SummaryValue } from './summary.ts';
import { frameRecord } from './tfrecord.ts';

/** Files made by this process so far: the name's last part, as TensorBoard's global uid. */
let made = 0;

export interface EventFileOptions {
  /** events waiting before they are written (default 10) */
  maxQueue?: number;
  /** seconds between writes at most, checked when an event is added (default 120) */
  flushSecs?: number;
  /** appended to the file name */
  suffix?: string;
  /** the clock, seconds since the Unix epoch (tests) */
  now?: () => number;
}

/** TensorBoard's event file name for a file started at `secs`. */
export function eventFileName(secs: number, suffix = '', n = made): string {
  return `events.out.tfevents.${String(Math.floor(secs)).padStart(10, '0')}.${hostname()}.${process.pid}.${n}${suffix}`;
}

export class EventFileWriter {
  readonly path: string;
  readonly maxQueue: number;
  readonly flushSecs: number;
  readonly now: () => number;
  #queue: Buffer[] = [];
  #lastFlush: number;
  #closed = false;

  /** Starts a new file in `dir` (which must exist) with its file_version record, written at once. */
  constructor(dir: string, o: EventFileOptions = {}) {
    this.maxQueue = o.maxQueue ?? 10;
    this.flushSecs = o.flushSecs ?? 120;
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 1)
      throw new ArgumentError(`maxQueue must be an integer >= 1, got ${o.maxQueue}`);
    if (!(this.flushSecs >= 0)) throw new ArgumentError(`flushSecs must be >= 0, got ${o.flushSecs}`);
    this.now = o.now ?? (() => Date.now() / 1000);
    const t = this.now();
    this.path = join(dir, eventFileName(t, o.suffix ?? '', made++));
    this.#lastFlush = t;
    this.add({ wallTime: t, fileVersion: FILE_VERSION });
    this.flush();
  }

  /** Queues one event (written by the flush policy). */
  add(e: EventData): void {
    if (this.#closed) throw new ArgumentError(`event file ${this.path} is closed`);
    this.#queue.push(frameRecord(encodeEvent(e)));
    if (this.#queue.length >= this.maxQueue || this.now() - this.#lastFlush >= this.flushSecs) this.flush();
  }

  /** Queues a Summary event of `values` at `step`. */
  addSummary(values: SummaryValue[], step: number, wallTime = this.now()): void {
    this.add({ wallTime, step, summary: values });
  }

  /** Writes the queued events. */
  flush(): void {
    this.#lastFlush = this.now();
    if (this.#queue.length === 0) return;
    const bytes = Buffer.concat(this.#queue);
    this.#queue = [];
    try {
      appendFileSync(this.path, bytes);
    } catch (e) {
      throw new WriteError(this.path, e, 'append to');
    }
  }

  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
  }
}
