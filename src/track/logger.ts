// The logger interface the training callback (callback.ts) feeds, and the TensorBoard logger.
// Implement Logger to send a run's scalars, histograms and hyper-parameters elsewhere (a tracking
// server, a database): pass it to TrackingCallback's `loggers`.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir } from '../report/index.ts';
import { EVENT_FILE_PREFIX } from '../train/index.ts';
import { WriteError } from '../util/write.ts';
import { type EventFileOptions, EventFileWriter } from './event_file.ts';
import { histogramOf } from './histogram.ts';
import {
  type HparamValue,
  histogramValue,
  type SessionStatus,
  type SummaryValue,
  scalarValue,
  sessionEndValue,
  sessionStartValue,
} from './summary.ts';

export interface Logger {
  /** Scalars by tag ('train/loss', 'lr/head', ...) at a global step (optimizer steps taken). */
  logScalars(step: number, scalars: Record<string, number>, wallTime?: number): void;
  /** The distribution of `values` (a parameter's weights or gradients) at a step. */
  logHistogram(step: number, tag: string, values: ArrayLike<number>, wallTime?: number): void;
  /** The run's hyper-parameters, once at its start. */
  logHparams(hparams: Record<string, HparamValue>): void;
  /** A resumed run continues after `step`: drop what was logged past it (where the logger can). */
  rewind?(step: number): void;
  flush(): void;
  /** Ends the log; `status` says how the run ended (default 'success'). */
  close(status?: SessionStatus): void;
}

export interface TensorBoardLoggerOptions extends EventFileOptions {
  /** the folder the event file goes in (made if missing); `tensorboard --logdir` shows it as a run */
  dir: string;
  /** remove the event files already in `dir` when the file is started (a run started afresh) */
  clean?: boolean;
}

/** Writes TensorBoard event files: one per logger, started at its first record. */
export class TensorBoardLogger implements Logger {
  readonly dir: string;
  #o: TensorBoardLoggerOptions;
  #file: EventFileWriter | undefined;
  #sessionStarted = false;
  #closed = false;

  constructor(o: TensorBoardLoggerOptions) {
    this.#o = o;
    this.dir = o.dir;
  }

  /** The event file's path (undefined until something was logged). */
  get path(): string | undefined {
    return this.#file?.path;
  }

  #writer(): EventFileWriter {
    if (this.#file) return this.#file;
    ensureDir(this.dir);
    if (this.#o.clean) removeEventFiles(this.dir);
    this.#file = new EventFileWriter(this.dir, this.#o);
    return this.#file;
  }

  #add(step: number, values: SummaryValue[], wallTime?: number): void {
    if (this.#closed || values.length === 0) return;
    this.#writer().addSummary(values, step, wallTime);
  }

  logScalars(step: number, scalars: Record<string, number>, wallTime?: number): void {
    this.#add(
      step,
      Object.entries(scalars).map(([tag, v]) => scalarValue(tag, v)),
      wallTime,
    );
  }

  logHistogram(step: number, tag: string, values: ArrayLike<number>, wallTime?: number): void {
    const h = histogramOf(values);
    if (h) this.#add(step, [histogramValue(tag, h)], wallTime);
  }

  logHparams(hparams: Record<string, HparamValue>): void {
    const w = this.#writer();
    this.#add(0, [sessionStartValue(hparams, { startTimeSecs: w.now() })]);
    this.#sessionStarted = true;
  }

  /**
   * A resumed run continues after `step`: a SessionLog START event at step + 1, from which
   * TensorBoard drops what earlier files of the run logged at that step or later.
   */
  rewind(step: number): void {
    if (this.#closed) return;
    const w = this.#writer();
    w.add({ wallTime: w.now(), step: step + 1, sessionStart: true });
  }

  flush(): void {
    this.#file?.flush();
  }

  close(status: SessionStatus = 'success'): void {
    if (this.#closed) return;
    if (this.#sessionStarted && this.#file) this.#add(0, [sessionEndValue(status, { endTimeSecs: this.#file.now() })]);
    this.#closed = true;
    this.#file?.close();
  }
}

/** Removes the TensorBoard event files directly in `dir`. */
export function removeEventFiles(dir: string): void {
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(EVENT_FILE_PREFIX)) continue;
    try {
      rmSync(join(dir, name), { force: true });
    } catch (e) {
      throw new WriteError(join(dir, name), e, 'remove');
    }
  }
}
