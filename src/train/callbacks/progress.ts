// Progress: a bar redrawn in place on a terminal (phase, epoch, step, loss, img/s, ETA), plain
// lines when the output is a file or a pipe (CI logs), and one summary line per epoch.
import { fmtLr, formatLrs, shownGroups } from '../../report/index.ts';
import type { Callback } from '../events.ts';
import type { Trainer } from '../trainer.ts';
import { skippedCount } from './log.ts';

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** default process.stderr */
  stream?: ProgressStream;
  /** force the terminal bar on or off (default: stream.isTTY) */
  tty?: boolean;
  /** plain mode: a line every N batches (default 50) */
  every?: number;
  /** terminal mode: redraw at most every N ms (default 100) */
  intervalMs?: number;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

const fmt = (v: number | undefined, d = 4): string => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d));
const pct = (v: number | undefined): string =>
  v === undefined || !Number.isFinite(v) ? '-' : `${(v * 100).toFixed(1)}%`;

/** What the rate counts: a causal-LM batch's items are its predicted tokens. */
const unit = (t: Trainer): string => (t.task === 'causal-lm' ? 'tok/s' : 'img/s');

export class Progress implements Callback {
  readonly order = 10;
  readonly stream: ProgressStream;
  readonly tty: boolean;
  readonly every: number;
  readonly intervalMs: number;
  #t0 = 0;
  #items = 0;
  #batches = 0;
  #lossSum = 0;
  #lossItems = 0;
  #lastDraw = 0;
  /** the rates of the epoch's first and latest optimizer step (the epoch line shows them, not the next epoch's) */
  #firstLr: number[] | undefined;
  #lastLr: number[] | undefined;
  #skipBase: number | undefined;

  constructor(o: ProgressOptions = {}) {
    this.stream = o.stream ?? process.stderr;
    this.tty = o.tty ?? Boolean(this.stream.isTTY);
    this.every = o.every ?? 50;
    this.intervalMs = o.intervalMs ?? 100;
  }

  #head(t: Trainer): string {
    return `${t.phase ? `[${t.phase}] ` : ''}epoch ${t.epoch + 1}/${t.epochs}`;
  }

  /** The status line: phase, epoch, batch/total, step, loss, img/s, ETA of the epoch. */
  line(t: Trainer, width = 100): string {
    const secs = (performance.now() - this.#t0) / 1000;
    const rate = secs > 0 ? this.#items / secs : 0;
    const total = t.batchesPerEpoch;
    const done = t.batchIndex + 1;
    const eta = total !== undefined && this.#batches > 0 ? ((total - done) * secs) / this.#batches : Number.NaN;
    const loss = this.#lossItems > 0 ? this.#lossSum / this.#lossItems : Number.NaN;
    const skipped = this.#skipped(t);
    const stats =
      `step ${t.step} loss ${fmt(loss)} ${rate.toFixed(1)} ${unit(t)} ETA ${formatDuration(eta)}` +
      (skipped ? ` skipped ${skipped}` : '');
    const count = total !== undefined ? `${done}/${total}` : `${done}`;
    if (!this.tty || total === undefined) return `${this.#head(t)} ${count} ${stats}`;
    const barWidth = Math.max(10, Math.min(30, width - 60 - this.#head(t).length));
    const fill = Math.round((barWidth * Math.min(done, total)) / Math.max(total, 1));
    return `${this.#head(t)} [${'#'.repeat(fill)}${'.'.repeat(barWidth - fill)}] ${count} ${stats}`;
  }

  /** bad samples the training source skipped this epoch (onBadSample: 'skip') */
  #skipped(t: Trainer): number {
    const n = skippedCount(t.trainSource);
    return n === undefined || this.#skipBase === undefined ? 0 : n - this.#skipBase;
  }

  /** The epoch's learning rates: one value per group, 'first→last' where a per-step schedule moved it. */
  #lrText(t: Trainer): string {
    const names = t.groupNames();
    const first = this.#firstLr ?? t.lrs();
    const last = this.#lastLr ?? first;
    if (first.length !== last.length) return formatLrs(names, last);
    const named = names.some((n) => n !== null);
    return shownGroups(names, last)
      .map(([i, label]) => {
        const v = first[i] === last[i] ? fmtLr(last[i]!) : `${fmtLr(first[i]!)}→${fmtLr(last[i]!)}`;
        return named ? `${label} ${v}` : v;
      })
      .join(', ');
  }

  #notes(t: Trainer): void {
    for (const n of t.notes) this.stream.write(`${this.tty ? '\r\x1b[K' : ''}${n}\n`);
  }

  beforeEpoch(t: Trainer): void {
    this.#notes(t);
    this.#t0 = performance.now();
    this.#items = 0;
    this.#batches = 0;
    this.#lossSum = 0;
    this.#lossItems = 0;
    this.#firstLr = undefined;
    this.#lastLr = undefined;
    this.#skipBase = skippedCount(t.trainSource);
  }

  beforeStep(t: Trainer): void {
    this.#lastLr = t.lrs();
    this.#firstLr ??= this.#lastLr;
  }

  afterBatch(t: Trainer): void {
    this.#notes(t);
    this.#items += t.items;
    this.#batches += 1;
    if (t.batchCounted) {
      this.#lossSum += t.lossValue * t.items;
      this.#lossItems += t.items;
    }
    if (this.tty) {
      const now = performance.now();
      const last = t.batchesPerEpoch !== undefined && t.batchIndex + 1 >= t.batchesPerEpoch;
      if (now - this.#lastDraw < this.intervalMs && !last) return;
      this.#lastDraw = now;
      const cols = this.stream.columns ?? 100;
      this.stream.write(`\r\x1b[K${this.line(t, cols).slice(0, cols - 1)}`);
    } else if ((t.batchIndex + 1) % this.every === 0) this.stream.write(`${this.line(t)}\n`);
  }

  beforeValidate(t: Trainer): void {
    if (this.tty) this.stream.write(`\r\x1b[K${this.#head(t)} validating...`);
  }

  afterEpoch(t: Trainer): void {
    const secs = (performance.now() - this.#t0) / 1000;
    const tr = t.trainMetrics;
    const ev = t.evalMetrics;
    let s = `${this.#head(t)} train loss ${fmt(tr?.loss)}`;
    if (tr?.accuracy !== undefined) s += ` acc ${pct(tr.accuracy)}`;
    if (tr?.perplexity !== undefined) s += ` ppl ${fmt(tr.perplexity, 2)}`;
    if (ev) {
      s += ` | eval loss ${fmt(ev.loss)}`;
      if (ev.perplexity !== undefined) s += ` ppl ${fmt(ev.perplexity, 2)}`;
      if (ev.accuracy !== undefined)
        s += ` acc ${pct(ev.accuracy)} top-5 ${pct(ev.top5)} macro-F1 ${fmt(ev.macroF1, 3)}`;
    }
    s += ` | lr ${this.#lrText(t)} | ${formatDuration(secs)} ${secs > 0 ? (this.#items / secs).toFixed(1) : '-'} ${unit(t)}`;
    const skipped = this.#skipped(t);
    if (skipped > 0) s += ` | skipped ${skipped} bad sample${skipped === 1 ? '' : 's'}`;
    if (t.isBestEpoch) s += ' *best';
    this.stream.write(`${this.tty ? '\r\x1b[K' : ''}${s}\n`);
  }

  afterFit(t: Trainer): void {
    const pre = this.tty ? '\r\x1b[K' : '';
    if (t.error) this.stream.write(`${pre}stopped with an error: ${(t.error as Error).message ?? t.error}\n`);
    else if (t.stopReason) this.stream.write(`${pre}stopped: ${t.stopReason}\n`);
  }
}
