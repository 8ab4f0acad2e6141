// metrics.jsonl: a step record every `logEvery` optimizer steps, an epoch record after validation
// (with the learning rate of every optimizer step of the epoch, stored where it changes), run
// records at start / resume / end. On resume, records past the checkpoint are dropped first, so
// the file reads as if the run had never stopped. A failed write (a full disk) is a WriteError:
// the run stops like any other failure, the checkpoints already written stay as they are.
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ArgumentError } from '../../errors.ts';
import {
  appendText,
  confusionFields,
  type EpochRecord,
  ensureDir,
  formatRecord,
  type LrChange,
  type MetricsRecord,
  parseMetrics,
  type RunInfo,
  type RunRecord,
  recordLr,
  type SplitMetrics,
  type StepRecord,
  truncateFile,
  writeFileAtomic,
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

/** Samples a source has skipped (onBadSample: 'skip'), when it counts them. */
export function skippedCount(source: unknown): number | undefined {
  const v = (source as { skipped?: unknown } | undefined)?.skipped;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** A split's confusion counts from a meter's state (the meter keeps them; SplitMetrics does not). */
function confusionOf(meter: unknown): Pick<SplitMetrics, 'confusion' | 'confused'> {
  const s = (meter as { stateDict?: () => Record<string, unknown> } | undefined)?.stateDict?.();
  const c = s?.num_classes;
  if (typeof c !== 'number' || !Array.isArray(s?.confusion)) return {};
  return confusionFields(s.confusion as number[], c);
}

/** Counts skipped samples of one source over an epoch, across a mid-epoch resume (a new source counts from 0). */
class SkipCounter {
  #base: number | undefined;
  #carried = 0;
  start(source: unknown, carried = 0): void {
    this.#base = skippedCount(source);
    this.#carried = carried;
  }
  /** skipped since start() plus what a checkpoint carried over; undefined when the source does not count */
  value(source: unknown): number | undefined {
    const n = skippedCount(source);
    if (n === undefined || this.#base === undefined) return this.#carried || undefined;
    return this.#carried + Math.max(0, n - this.#base);
  }
}

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
  /** the rates of this epoch's optimizer steps where they change (kept in checkpoints) */
  #lrSteps: LrChange[] = [];
  /** the rates when the epoch began, for an epoch without optimizer steps */
  #epochStartLr: number[] = [];
  #trainSkips = new SkipCounter();
  #evalSkips = new SkipCounter();
  /** skipped training samples of the epoch carried over by a checkpoint */
  #restoredSkips = 0;
  #trainSource: unknown;

  constructor(o: MetricsLoggerOptions) {
    this.path = o.path;
    this.logEvery = o.logEvery ?? 10;
    this.info = o.info ?? {};
    if (!Number.isInteger(this.logEvery) || this.logEvery < 1)
      throw new ArgumentError(`logEvery must be an integer >= 1, got ${o.logEvery}`);
  }

  write(rec: MetricsRecord): void {
    appendText(this.path, `${formatRecord(rec)}\n`);
  }

  /** The records written so far. */
  records(): MetricsRecord[] {
    return existsSync(this.path) ? parseMetrics(readFileSync(this.path, 'utf8'), this.path) : [];
  }

  beforeFit(t: Trainer): void {
    ensureDir(dirname(this.path));
    const info: RunInfo = {
      ...this.info,
      epochs: t.epochs,
      seed: t.seed,
      device: t.device,
      monitor: `${t.monitor.metric} (${t.monitor.mode})`,
    };
    if (t.amp) info.amp = t.amp.dtype;
    if (t.resumedFrom && existsSync(this.path)) {
      const { epoch, batch } = t.position;
      const keep = this.records().filter((r) => {
        if (r.type === 'step') return r.step <= t.step;
        if (r.type === 'epoch') return r.epoch < epoch;
        return true;
      });
      writeFileAtomic(this.path, keep.map((r) => `${formatRecord(r)}\n`).join(''));
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
      truncateFile(this.path);
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
    this.#epochT0 = performance.now();
    this.#epochItems = 0;
    // a mid-epoch resume continues the epoch's rates and skip count from the checkpoint
    const fresh = t.position.batch === 0;
    if (fresh) {
      this.#lrSteps = [];
      this.#restoredSkips = 0;
      this.#t0 = performance.now();
    }
    this.#epochStartLr = t.lrs();
    this.#trainSource = t.trainSource;
    this.#trainSkips.start(t.trainSource, this.#restoredSkips);
  }

  /** the LRs the step is taken with (a per-step scheduler changes them right after) */
  beforeStep(t: Trainer): void {
    this.#stepLr = t.lrs();
    recordLr(this.#lrSteps, t.step, this.#stepLr);
  }

  afterBatch(t: Trainer): void {
    this.#writeNotes(t);
    // a batch cancelled before its loss has no loss of its own (lossValue is the previous batch's)
    if (t.batchCounted) {
      this.#lossSum += t.lossValue * t.items;
      this.#items += t.items;
    }
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

  beforeValidate(t: Trainer): void {
    this.#evalSkips.start(t.validSource);
  }

  afterEpoch(t: Trainer): void {
    const secs = (performance.now() - this.#epochT0) / 1000;
    const train: SplitMetrics = { ...(t.trainMetrics ?? { loss: Number.NaN }) };
    const rec: EpochRecord = {
      type: 'epoch',
      time: now(),
      epoch: t.epoch,
      step: t.step,
      train,
      lr: this.#lrSteps[0]?.lr ?? this.#epochStartLr,
      lrSteps: this.#lrSteps,
      seconds: secs,
      throughput: secs > 0 ? this.#epochItems / secs : undefined,
    };
    if (t.phase !== undefined) rec.phase = t.phase;
    if (t.evalMetrics) rec.eval = { ...t.evalMetrics, ...confusionOf(t.evalMeter) };
    // without a validation split the training confusion is the only one there is
    else Object.assign(train, confusionOf(t.trainMeter));
    const skipped = this.#trainSkips.value(t.trainSource);
    if (skipped !== undefined) rec.skipped = skipped;
    if (t.validSource) {
      const evalSkipped = this.#evalSkips.value(t.validSource);
      if (evalSkipped !== undefined) rec.evalSkipped = evalSkipped;
    }
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
    try {
      this.write(rec);
    } catch (e) {
      // the run already failed (maybe for this very reason: a full disk): that error is the one to report;
      // else this one is, and the callbacks after this one still see the run end (the trainer rethrows it)
      t.error ??= e;
    }
  }

  stateDict(): Record<string, unknown> {
    return {
      loss_sum: this.#lossSum,
      items: this.#items,
      steps: this.#steps,
      lr_steps: this.#lrSteps.map((c) => [c.step, ...c.lr]),
      skipped: this.#trainSkips.value(this.#trainSource) ?? 0,
    };
  }

  loadStateDict(s: Record<string, unknown>): void {
    this.#lossSum = Number(s.loss_sum ?? 0);
    this.#items = Number(s.items ?? 0);
    this.#steps = Number(s.steps ?? 0);
    this.#lrSteps = Array.isArray(s.lr_steps)
      ? (s.lr_steps as unknown[]).filter(Array.isArray).map((c) => {
          const [step, ...lr] = (c as unknown[]).map(Number);
          return { step: step!, lr };
        })
      : [];
    this.#restoredSkips = Number(s.skipped ?? 0);
  }
}
