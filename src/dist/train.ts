// The trainer under data parallelism: one callback that keeps the ranks in step (parameters
// broadcast at the start, gradient sync only when an accumulation window closes, a rebuild of the
// reduction when a phase freezes or unfreezes layers, one agreed stop, metrics summed over ranks)
// and a batch source that resumes an epoch at a sample offset, so a run stopped with N processes
// goes on with M.
import type { DataLoader, DistributedSampler } from '../data/index.ts';
import { batchIndices } from '../data/index.ts';
import type { Module } from '../nn/index.ts';
import { type BatchSource, type Callback, Trainer } from '../train/index.ts';
import { allreduceNumbers, type Collectives, reduceMeter } from './metrics.ts';

/** What the callback needs of a DataParallel wrapper. */
export interface DataParallelLike {
  sync(): Promise<void>;
  requireSync(on: boolean): void;
  rebuild(): void | Promise<void>;
  /** runs a forward (the trainer's, whatever it calls) as one DataParallel forward */
  run?<T>(fn: () => T): T;
  /** throws when a synced backward averaged nothing (a forward that bypassed DataParallel) */
  checkBackward?(): void;
  /** an error from a failed backward allreduce as the DistError it is, naming the lost rank */
  toDistError?(e: unknown): Promise<unknown>;
}

/** Where an epoch resumes: after `sample` samples of the world's order (any world size). */
export interface SamplePosition {
  epoch: number;
  /** the trainer's batch index at that point (its numbering goes on from there) */
  batch: number;
  sample: number;
}

// stop codes exchanged after every batch: the highest wins
const STOP_CODES = ['', 'other', 'SIGHUP', 'SIGTERM', 'SIGINT'] as const;

function stopCode(reason: string | undefined): number {
  if (!reason) return 0;
  const m = /^interrupted \((SIG[A-Z]+)\)/.exec(reason);
  const i = m ? STOP_CODES.indexOf(m[1] as (typeof STOP_CODES)[number]) : -1;
  return i > 0 ? i : 1;
}

const trainableKey = (m: Module): string =>
  [...m.namedParameters()].map(([n, p]) => (p.requiresGrad ? n : '')).join('|');

export interface DataParallelCallbackOptions {
  /** checkpoint.everySteps: the training meter is made whole on rank 0 before each such checkpoint */
  everySteps?: number;
  /** per-rank batch size of the training loader (for the sample position in checkpoints) */
  batchSize?: number;
}

/**
 * Keeps the ranks of a data-parallel run in step. Add it to the trainer's callbacks on every
 * rank (fitDistributed does).
 */
export class DataParallelCallback implements Callback {
  readonly name = 'dist';
  // before everything that reads the step's loss or the epoch's metrics (logs, early stopping)
  readonly order = -900;
  readonly pg: Collectives;
  readonly ddp: DataParallelLike;
  readonly everySteps: number | undefined;
  readonly batchSize: number | undefined;
  /** the position a checkpoint said (set by loadStateDict, read by the source) */
  resumeAt: SamplePosition | undefined;
  #trainer: Trainer | undefined;
  #trainable = '';
  #pendingStop: string | undefined;
  #applyStop: (reason: string) => void = () => {};
  /** the epoch being trained started at this sample and batch (a resumed epoch) */
  #epochStart = { epoch: -1, batch: 0, sample: 0 };

  constructor(pg: Collectives, ddp: DataParallelLike, o: DataParallelCallbackOptions = {}) {
    this.pg = pg;
    this.ddp = ddp;
    this.everySteps = o.everySteps;
    this.batchSize = o.batchSize;
  }

  /** Samples of the world's order used so far in the current epoch. */
  samplesDone(t: Trainer): number {
    const { epoch, batch } = t.position;
    const bs = this.batchSize ?? 0;
    const s = this.#epochStart.epoch === epoch ? this.#epochStart : { batch: 0, sample: 0 };
    return s.sample + (batch - s.batch) * bs * this.pg.worldSize;
  }

  stateDict(): Record<string, unknown> {
    const t = this.#trainer;
    return {
      world_size: this.pg.worldSize,
      batch_size: this.batchSize ?? null,
      epoch_samples: t ? this.samplesDone(t) : 0,
    };
  }

  loadStateDict(s: Record<string, unknown>): void {
    // called by the trainer's restore, before beforeFit: the position is read from the trainer there
    this.resumeAt = { epoch: -1, batch: -1, sample: Number(s.epoch_samples ?? 0) };
  }

  /** The source tells the callback where a (resumed) epoch starts. */
  epochStarts(epoch: number, batch: number, sample: number): void {
    this.#epochStart = { epoch, batch, sample };
  }

  /** the trainer it serves (from beforeFit) */
  get trainer(): Trainer | undefined {
    return this.#trainer;
  }

  /** the epoch being trained */
  get epoch(): number {
    return this.#trainer?.epoch ?? -1;
  }

  async beforeFit(t: Trainer): Promise<void> {
    this.#trainer = t;
    const { epoch, batch } = t.position;
    if (t.resumedFrom && batch > 0) {
      // a checkpoint from one process has no sample position: its batches were the same size
      const sample = this.resumeAt?.sample ?? batch * (this.batchSize ?? 0);
      this.resumeAt = { epoch, batch, sample };
      // rank 0's checkpoint holds the whole world's training totals so far; the others add from zero
      if (this.pg.rank !== 0) t.trainMeter.reset();
    } else this.resumeAt = undefined;
    // a stop signal lands between batches on each rank at its own time: it is held here and
    // applied after the next batch, when every rank has heard of it
    // the class's own method: a trainer fitted again is not wrapped twice
    const own = Trainer.prototype.requestStop.bind(t);
    this.#applyStop = own;
    t.requestStop = (reason: string) => {
      if (/^interrupted \(/.test(reason)) this.#pendingStop ??= reason;
      else own(reason);
    };
    await this.ddp.sync();
    this.#trainable = trainableKey(t.model);
  }

  /** A phase that froze or unfroze layers changes what is reduced: the reduction is rebuilt. */
  async #followTrainable(t: Trainer): Promise<void> {
    const key = trainableKey(t.model);
    if (key === this.#trainable) return;
    this.#trainable = key;
    await this.ddp.rebuild();
  }

  async beforeEpoch(t: Trainer): Promise<void> {
    await this.#followTrainable(t);
  }

  /** Gradients are reduced only on the batch that closes an accumulation window (torch's no_sync). */
  beforeBatch(t: Trainer): void {
    const len = t.batchesPerEpoch;
    const closes = (t.batchIndex + 1) % t.accumulate === 0 || (len !== undefined && t.batchIndex + 1 >= len);
    this.ddp.requireSync(closes);
  }

  /** The stop every rank agrees on after an exchange: the highest kind any rank asked for. */
  #agree(t: Trainer, sums: number[]): void {
    let code = 0;
    for (let c = 1; c < STOP_CODES.length; c++) if (sums[c]! > 0) code = c;
    if (code === 0 || t.stopReason) return;
    const sig = STOP_CODES[code];
    this.#applyStop(code > 1 && sig ? `interrupted (${sig})` : (this.#pendingStop ?? 'stopped on another rank'));
    this.#pendingStop = undefined;
  }

  #asked(t: Trainer): number[] {
    const asked = new Array<number>(STOP_CODES.length).fill(0);
    asked[stopCode(this.#pendingStop ?? t.stopReason)] = 1;
    return asked;
  }

  /** The trainer's forward and loss as one DataParallel forward (custom forwards included). */
  aroundForward<T>(_t: Trainer, run: () => T): T {
    return this.ddp.run ? this.ddp.run(run) : run();
  }

  afterBackward(): void {
    this.ddp.checkBackward?.();
  }

  async afterBatch(t: Trainer): Promise<void> {
    const counted = t.batchCounted;
    // one small all-reduce per batch: which stops were asked for (a count per kind), the loss sum, items
    const k = STOP_CODES.length;
    const sums = await allreduceNumbers(this.pg, [
      ...this.#asked(t),
      counted ? t.lossValue * t.items : 0,
      counted ? t.items : 0,
      t.items,
    ]);
    const [lossSum, items, all] = [sums[k]!, sums[k + 1]!, sums[k + 2]!];
    // the step's loss and items as the whole world saw them (logs, progress, throughput)
    if (items > 0) t.lossValue = lossSum / items;
    t.items = all;
    this.#agree(t, sums);
    const stopping = t.stopReason !== undefined && t.atStepBoundary;
    if (stopping || (this.everySteps && t.stepped && t.step % this.everySteps === 0))
      await reduceMeter(t.trainMeter, this.pg, 'root');
    // a phase may also change at a step (step-based phases)
    if (t.stepped) await this.#followTrainable(t);
  }

  /** A stop asked for during validation ends the run here on every rank, as in one process. */
  async afterEpoch(t: Trainer): Promise<void> {
    this.#agree(t, await allreduceNumbers(this.pg, this.#asked(t)));
  }

  /** The epoch's training totals over all ranks, before the trainer reads them. */
  async epochEnd(t: Trainer): Promise<void> {
    await reduceMeter(t.trainMeter, this.pg, 'all');
  }

  async afterValidate(t: Trainer): Promise<void> {
    await reduceMeter(t.evalMeter, this.pg, 'all');
    t.evalMetrics = t.evalMeter.result();
  }
}

/**
 * The training batches of a DataLoader over a DistributedSampler, for the trainer: a resumed epoch
 * starts at the checkpoint's sample position (the samples not yet seen, spread over this world's
 * ranks), and the world's training totals are summed when an epoch ends.
 */
export function distributedSource(
  loader: DataLoader,
  sampler: DistributedSampler,
  cb: DataParallelCallback,
): BatchSource {
  return {
    get length() {
      const at = sampler.startAt;
      if (!at || at.epoch !== cb.epoch) return loader.length;
      const rest = batchIndices(sampler.order(at.epoch), loader.batchSize, loader.dropLast).length;
      return (cb.resumeAt?.batch ?? 0) + rest;
    },
    get skipped() {
      return loader.skipped;
    },
    async *batches(epoch: number, start: number) {
      const at = cb.resumeAt;
      sampler.startAt = undefined;
      let first = start;
      if (at && at.epoch === epoch && at.batch === start && start > 0) {
        // the rest of the epoch from the sample position, batch numbers going on from `start`
        sampler.startAt = { epoch, sample: at.sample };
        cb.epochStarts(epoch, start, at.sample);
        first = 0;
      } else cb.epochStarts(epoch, start, start * loader.batchSize * sampler.worldSize);
      try {
        yield* loader.iterate({ epoch, startBatch: first });
      } finally {
        sampler.startAt = undefined;
      }
      const t = cb.trainer;
      if (t) await cb.epochEnd(t);
    },
  };
}
