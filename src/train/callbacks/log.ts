// metrics.jsonl: a step record every `logEvery` optimizer steps, an epoch record after validation,
// run records at start / resume / end. On resume, records past the checkpoint are dropped first,
// so the file reads as if the run had never stopped.
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ArgumentError } from '../../errors.ts';
import {
  type EpochRecord,
  formatRecord,
  type MetricsRecord,
  parseMetrics,
  type RunInfo,
  type RunRecord,
  type StepRecord,
} from '../../report/index.ts';
import type { Callback } from '../events.ts';
import type { Trainer } from '../trainer.ts';

export interface MetricsLoggerOptions {
  path: string;
  /** optimizer steps per step record (default 10) */
  logEvery?: number;
  /** written into the run record (model name, classes, ...) */
  info?: RunInfo;
}

const now = () => Date.now() / 1000;

export class MetricsLogger implements Callback {
  readonly name = 'metrics_log';
  readonly order = 0;
  readonly path: string;
  readonly logEvery: number;
  readonly info: RunInfo;
  // the open interval: item-weighted loss since the last step record
  #lossSum = 0;
  #items = 0;
  #steps = 0;
  #t0 = 0;
  #epochT0 = 0;
  #epochItems = 0;
  #stepLr: number[] = [];
  #epochLr: number[] = [];

  constructor(o: MetricsLoggerOptions) {
    this.path = o.path;
    this.logEvery = o.logEvery ?? 10;
    this.info = o.info ?? {};
    if (!Number.isInteger(this.logEvery) || this.logEvery < 1)
      throw new ArgumentError(`logEvery must be an integer >= 1, got ${o.logEvery}`);
  }

  write(rec: MetricsRecord): void {
    appendFileSync(this.path, `${formatRecord(rec)}\n`);
  }

  /** The records written so far. */
  records(): MetricsRecord[] {
    return existsSync(this.path) ? parseMetrics(readFileSync(this.path, 'utf8'), this.path) : [];
  }

  beforeFit(t: Trainer): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const info: RunInfo = { ...this.info, epochs: t.epochs, seed: t.seed, device: t.device };
    if (t.amp) info.amp = t.amp.dtype;
    if (t.resumedFrom && existsSync(this.path)) {
      const { epoch, batch } = t.position;
      const keep = this.records().filter((r) => {
        if (r.type === 'step') return r.step <= t.step;
        if (r.type === 'epoch') return r.epoch < epoch;
        return true;
      });
      const tmp = `${this.path}.tmp-${process.pid}`;
      writeFileSync(tmp, keep.map((r) => `${formatRecord(r)}\n`).join(''));
      renameSync(tmp, this.path);
      this.write({
        type: 'run',
        time: now(),
        event: 'resume',
        epoch,
        step: t.step,
        message: `from ${t.resumedFrom} at batch ${batch}`,
        info,
      });
    } else {
      writeFileSync(this.path, '');
      this.write({ type: 'run', time: now(), event: 'start', epoch: 0, step: 0, info });
    }
    this.#t0 = performance.now();
  }

  #writeNotes(t: Trainer): void {
    for (const message of t.notes)
      this.write({ type: 'run', time: now(), event: 'note', epoch: t.epoch, step: t.step, message });
  }

  beforeEpoch(t: Trainer): void {
    this.#writeNotes(t);
    this.#epochLr = t.lrs();
    this.#epochT0 = performance.now();
    this.#epochItems = 0;
    if (t.position.batch === 0) this.#t0 = performance.now();
  }

  /** the LRs the step is taken with (a per-step scheduler changes them right after) */
  beforeStep(t: Trainer): void {
    this.#stepLr = t.lrs();
  }

  afterBatch(t: Trainer): void {
    this.#writeNotes(t);
    this.#lossSum += t.lossValue * t.items;
    this.#items += t.items;
    this.#epochItems += t.items;
    if (!t.stepped) return;
    this.#steps += 1;
    if (this.#steps < this.logEvery) return;
    const secs = (performance.now() - this.#t0) / 1000;
    const rec: StepRecord = {
      type: 'step',
      time: now(),
      epoch: t.epoch,
      step: t.step,
      loss: this.#lossSum / this.#items,
      lr: this.#stepLr,
      throughput: secs > 0 ? this.#items / secs : undefined,
    };
    if (t.phase !== undefined) rec.phase = t.phase;
    const names = t.groupNames();
    if (names.some((n) => n !== null)) rec.groups = names;
    if (t.gradNorm !== undefined) rec.gradNorm = t.gradNorm;
    if (t.scaler) rec.scale = t.scaler.getScale();
    this.write(rec);
    this.#lossSum = 0;
    this.#items = 0;
    this.#steps = 0;
    this.#t0 = performance.now();
  }

  afterEpoch(t: Trainer): void {
    const secs = (performance.now() - this.#epochT0) / 1000;
    const rec: EpochRecord = {
      type: 'epoch',
      time: now(),
      epoch: t.epoch,
      step: t.step,
      train: t.trainMetrics ?? { loss: Number.NaN },
      lr: this.#epochLr,
      seconds: secs,
      throughput: secs > 0 ? this.#epochItems / secs : undefined,
    };
    if (t.phase !== undefined) rec.phase = t.phase;
    if (t.evalMetrics) rec.eval = t.evalMetrics;
    const names = t.groupNames();
    if (names.some((n) => n !== null)) rec.groups = names;
    if (t.isBestEpoch) rec.best = true;
    this.write(rec);
  }

  afterFit(t: Trainer): void {
    const rec: RunRecord = { type: 'run', time: now(), event: 'end', epoch: t.epoch, step: t.step };
    if (t.error) {
      rec.event = 'error';
      rec.message = (t.error as Error).message ?? String(t.error);
    } else if (t.stopReason) {
      rec.event = 'stopped';
      rec.message = t.stopReason;
    }
    this.write(rec);
  }

  stateDict(): Record<string, unknown> {
    return { loss_sum: this.#lossSum, items: this.#items, steps: this.#steps };
  }

  loadStateDict(s: Record<string, unknown>): void {
    this.#lossSum = Number(s.loss_sum ?? 0);
    this.#items = Number(s.items ?? 0);
    this.#steps = Number(s.steps ?? 0);
  }
}
