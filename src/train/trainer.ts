// The training loop (after fastai's Learner): epochs of batches, each step inside tidy(), validation
// every epoch, events for everything else. Exact resume: the batch at (epoch, b) always sees the
// same data (the source's order is fixed by seed and epoch) and the same random numbers (libtorch's
// generator is reseeded from (seed, epoch, b) before every batch).
import { ArgumentError } from '../errors.ts';
import type { Module } from '../nn/index.ts';
import type { Optimizer } from '../optim/index.ts';
import type { SplitMetrics } from '../report/index.ts';
import type { Scheduler } from '../schedule/index.ts';
import { autocast, manualSeed, noGrad, type Tensor, tidy } from '../tensor/index.ts';
import { Rng } from '../util/rng.ts';
import { TrainError } from './errors.ts';
import type { Callback, EventName } from './events.ts';
import { Meter } from './meter.ts';
import {
  defaultForward,
  defaultLoss,
  type ForwardFn,
  flattenMetrics,
  type LossFn,
  logitsOf,
  type MonitorSpec,
  resolveMonitor,
  type TrainerOptions,
  toDevice,
} from './options.ts';
import { checkpointTree, restoreFrom } from './resume.ts';
import {
  type MetricMap,
  OptimizerRunner,
  type PhaseRunnerLike,
  phaseName,
  pickMetric,
  type RunnerNoteLike,
  withAliases,
} from './runner.ts';
import { GradScaler } from './scaler.ts';
import { type Batch, type BatchSource, batchItems, disposeBatch, toBatch, toSource } from './source.ts';

export class Trainer {
  readonly model: Module;
  readonly runner: PhaseRunnerLike;
  readonly callbacks: Callback[];
  readonly seed: number;
  readonly device: string;
  readonly accumulate: number;
  readonly scaler: GradScaler | undefined;
  readonly amp: { device: 'cpu' | 'cuda'; dtype: 'bfloat16' | 'float16' } | undefined;
  lossFn: LossFn;
  forwardFn: ForwardFn;
  readonly trainSource: BatchSource;
  readonly validSource: BatchSource | undefined;
  readonly trainMeter: Meter;
  readonly evalMeter: Meter;

  // ---- state callbacks read ----
  epochs = 0;
  /** current epoch, 0-based */
  epoch = 0;
  /** batch index within the epoch */
  batchIndex = 0;
  /** optimizer steps taken over the run */
  step = 0;
  /** the current batch and its item count (during a batch) */
  batch: Batch | undefined;
  items = 0;
  /** this batch's output and loss (valid in afterLoss / beforeStep / afterStep) */
  output: unknown;
  loss: Tensor | undefined;
  lossValue = Number.NaN;
  /** the batch just finished with an optimizer step; skippedStep: the scaler skipped it (inf/NaN grads) */
  stepped = false;
  skippedStep = false;
  trainMetrics: SplitMetrics | undefined;
  evalMetrics: SplitMetrics | undefined;
  /** the last finished epoch's metrics, flattened ('eval.accuracy', ...) */
  metrics: MetricMap = {};
  /** the monitored metric and the best epoch so far by it */
  readonly monitor: Required<MonitorSpec>;
  best: { epoch: number; value: number } | undefined;
  /** the epoch just finished is the best so far (during afterEpoch) */
  isBestEpoch = false;
  /** total gradient norm before clipping (set by the clip callback) */
  gradNorm: number | undefined;
  /** set by the checkpoint callback: the newest checkpoint fully written */
  lastCheckpoint: string | undefined;
  resumedFrom: string | undefined;
  error: unknown;
  stopReason: string | undefined;
  /** where training continues if a checkpoint is taken now */
  position = { epoch: 0, batch: 0 };
  #windowItems = 0;
  #windowBatches = 0;

  constructor(o: TrainerOptions) {
    this.model = o.model;
    if (o.runner && o.optimizer) throw new ArgumentError('give either runner or optimizer, not both');
    if (!o.runner && !o.optimizer) throw new ArgumentError('the trainer needs an optimizer or a phase runner');
    this.runner = o.runner ?? new OptimizerRunner(o.optimizer!, o.scheduler, { interval: o.schedulerInterval });
    this.callbacks = [...(o.callbacks ?? [])].sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
    this.seed = o.seed ?? 0;
    this.device = o.device ?? 'cpu';
    this.accumulate = o.accumulate ?? 1;
    if (!Number.isInteger(this.accumulate) || this.accumulate < 1)
      throw new ArgumentError(`accumulate must be an integer >= 1, got ${o.accumulate}`);
    this.lossFn = o.loss ?? defaultLoss;
    this.forwardFn = o.forward ?? defaultForward;
    this.trainSource = toSource(o.train);
    this.validSource = o.valid === undefined ? undefined : toSource(o.valid);
    this.trainMeter = new Meter(undefined, o.topK);
    this.evalMeter = new Meter(undefined, o.topK);
    this.monitor = resolveMonitor(o.monitor, this.validSource !== undefined);
    const devType = this.device.startsWith('cuda') ? 'cuda' : 'cpu';
    const amp = o.amp ?? false;
    if (amp !== false) {
      const dtype = amp === 'bf16' ? 'bfloat16' : amp === 'fp16' ? 'float16' : amp.dtype;
      if (dtype === 'float16' && devType === 'cpu')
        throw new ArgumentError('fp16 mixed precision needs CUDA', "use amp: 'bf16' on the CPU");
      this.amp = { device: devType, dtype };
      const sc = typeof amp === 'object' ? amp.scaler : undefined;
      // fp16 gets a scaler unless told not to; bf16 (float32's range) only when one is asked for
      if (sc !== false && (dtype === 'float16' || sc !== undefined)) this.scaler = new GradScaler(sc ?? {});
    }
    const names = new Set<string>();
    for (const cb of this.callbacks)
      if (cb.stateDict && cb.name) {
        if (names.has(cb.name)) throw new ArgumentError(`two callbacks with state are named '${cb.name}'`);
        names.add(cb.name);
      }
  }

  get optimizer(): Optimizer {
    return this.runner.optimizer;
  }
  get scheduler(): Scheduler | undefined {
    return this.runner.scheduler;
  }
  /** the current phase's name (undefined without phases) */
  get phase(): string | undefined {
    return phaseName(this.runner);
  }
  /** batches per training epoch, when the source knows */
  get batchesPerEpoch(): number | undefined {
    return this.trainSource.length;
  }
  /** true between optimizer steps: no gradient is waiting in an accumulation window */
  get atStepBoundary(): boolean {
    return this.#windowBatches === 0;
  }
  /** the learning rate of every param group */
  lrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
  groupNames(): (string | null)[] {
    return this.optimizer.paramGroups.map((g) => (typeof g.name === 'string' ? g.name : null));
  }
  /** notes the runner made since the last event (phase starts, optimizer switches) */
  notes: string[] = [];

  #notes(r: unknown): void {
    if (Array.isArray(r)) for (const n of r as RunnerNoteLike[]) this.notes.push(n.text);
  }

  /** Ends the run after the current step (at an accumulation boundary) and calls afterFit. */
  requestStop(reason: string): void {
    this.stopReason ??= reason;
  }

  async #emit(name: EventName): Promise<void> {
    for (const cb of this.callbacks) await cb[name]?.(this);
  }

  #emitSync(name: EventName): void {
    for (const cb of this.callbacks) {
      const r = cb[name]?.(this) as unknown;
      if (r instanceof Promise)
        throw new ArgumentError(
          `callback ${cb.name ?? cb.constructor.name}.${name} must be synchronous (it runs inside the step)`,
        );
    }
  }

  #autocast<T>(fn: () => T): T {
    return this.amp ? autocast(fn, { device: this.amp.device, dtype: this.amp.dtype }) : fn();
  }

  /** Trains for `epochs` epochs (default: the runner's), from a checkpoint when `resume` is given. */
  async fit(epochs?: number, o: { resume?: string } = {}): Promise<void> {
    const total = epochs ?? this.runner.epochs ?? this.runner.totalEpochs;
    if (total === undefined || !Number.isInteger(total) || total < 0)
      throw new ArgumentError(`fit: epochs must be an integer >= 0, got ${total}`);
    this.epochs = total;
    this.error = undefined;
    this.stopReason = undefined;
    this.model.train();
    this.model.zeroGrad();
    if (o.resume) this.restore(o.resume);
    try {
      await this.#emit('beforeFit');
      const start = this.position;
      for (this.epoch = start.epoch; this.epoch < total && !this.stopReason; this.epoch++) {
        const first = this.epoch === start.epoch ? start.batch : 0;
        this.notes = [];
        if (first === 0) {
          this.trainMeter.reset();
          this.#notes(this.runner.onEpochStart(this.epoch));
        }
        await this.#emit('beforeEpoch');
        await this.#trainEpoch(first);
        if (this.stopReason && this.position.batch !== 0) break;
        this.trainMetrics = this.trainMeter.result();
        await this.#validate();
        this.metrics = flattenMetrics(this.trainMetrics, this.evalMetrics);
        this.runner.onEpochEnd(this.epoch, withAliases(this.metrics));
        this.#trackBest();
        this.position = { epoch: this.epoch + 1, batch: 0 };
        await this.#emit('afterEpoch');
      }
      if (this.epoch > total) this.epoch = total;
    } catch (e) {
      this.error = e;
    }
    try {
      await this.#emit('afterFit');
    } catch (e) {
      this.error ??= e;
    }
    if (this.error) throw this.error;
  }

  async #trainEpoch(first: number): Promise<void> {
    const len = this.trainSource.length;
    let b = first;
    for await (const raw of this.trainSource.batches(this.epoch, first)) {
      try {
        this.notes = [];
        this.batch = toBatch(raw);
        this.batchIndex = b;
        this.items = batchItems(this.batch);
        await this.#emit('beforeBatch');
        manualSeed(new Rng(this.seed, 'batch', this.epoch, b).nextU32());
        const closes = (b + 1) % this.accumulate === 0 || (len !== undefined && b + 1 >= len);
        const batch = this.batch;
        tidy(() => this.#trainBatch(batch, closes));
      } finally {
        disposeBatch(raw);
        this.batch = undefined;
        this.output = undefined;
        this.loss = undefined;
      }
      this.position = { epoch: this.epoch, batch: b + 1 };
      await this.#emit('afterBatch');
      b++;
      if (this.stopReason && this.atStepBoundary) return;
    }
    // a source of unknown length: the last partial window steps here
    if (this.#windowBatches > 0) tidy(() => this.#optimizerStep());
  }

  #trackBest(): void {
    const v = pickMetric(this.metrics, this.monitor.metric);
    this.isBestEpoch = false;
    if (v === undefined || Number.isNaN(v)) return;
    const better = !this.best || (this.monitor.mode === 'min' ? v < this.best.value : v > this.best.value);
    if (better) {
      this.best = { epoch: this.epoch, value: v };
      this.isBestEpoch = true;
    }
  }

  #trainBatch(batch: Batch, closes: boolean): void {
    const { input, target } = toDevice(batch, this.device);
    const output = this.#autocast(() => this.forwardFn(this.model, input, batch));
    const loss = this.#autocast(() => this.lossFn(output, target, batch));
    this.output = output;
    this.loss = loss;
    this.lossValue = loss.item();
    if (!Number.isFinite(this.lossValue)) throw this.#nonFinite();
    const n = this.items;
    this.trainMeter.update(this.lossValue, n, logitsOf(output), target);
    this.#emitSync('afterLoss');
    let l = this.accumulate > 1 ? loss.mul(n) : loss;
    if (this.scaler) l = this.scaler.scale(l);
    l.backward();
    this.#windowItems += n;
    this.#windowBatches += 1;
    this.stepped = false;
    if (closes) this.#optimizerStep();
  }

  #optimizerStep(): void {
    const opt = this.optimizer;
    this.scaler?.unscale_(opt);
    // backward saw sum-of-batch-means x items: divide by the items the window actually had
    if (this.accumulate > 1)
      noGrad(() => {
        const inv = 1 / this.#windowItems;
        for (const g of opt.paramGroups) for (const p of g.params) p.grad?.mul_(inv);
      });
    this.#emitSync('beforeStep');
    if (this.scaler) {
      this.skippedStep = !this.scaler.step(opt);
      this.scaler.update();
    } else {
      opt.step();
      this.skippedStep = false;
    }
    this.model.zeroGrad();
    opt.zeroGrad();
    this.step += 1;
    this.#windowItems = 0;
    this.#windowBatches = 0;
    this.stepped = true;
    this.#notes(this.runner.onStepEnd(this.step - 1));
    this.#emitSync('afterStep');
  }

  #nonFinite(): TrainError {
    const last = this.lastCheckpoint;
    const where = `epoch ${this.epoch + 1}/${this.epochs}, step ${this.step + 1} (batch ${this.batchIndex + 1} of the epoch)`;
    return new TrainError(
      'GRAFT_TRAIN_NONFINITE',
      `loss is ${this.lossValue} at ${where}${this.phase ? `, phase '${this.phase}'` : ''}: the run stopped. ` +
        (last ? `The last good checkpoint is ${last}` : 'No checkpoint was written before it'),
      { epoch: this.epoch, step: this.step, lastCheckpoint: last },
      'lower the learning rate, clip gradients (clip.norm), check the inputs for NaN, or resume from the checkpoint with changes',
    );
  }

  /** Runs the validation source; the model's per-module train/eval modes are restored afterwards. */
  async #validate(): Promise<void> {
    if (!this.validSource) {
      this.evalMetrics = undefined;
      return;
    }
    await this.#emit('beforeValidate');
    const modes = [...this.model.modules()].map((m) => [m, m.training] as const);
    this.model.eval();
    this.evalMeter.reset();
    try {
      for await (const raw of this.validSource.batches(this.epoch, 0)) {
        try {
          const batch = toBatch(raw);
          tidy(() =>
            noGrad(() => {
              const { input, target } = toDevice(batch, this.device);
              const output = this.#autocast(() => this.forwardFn(this.model, input, batch));
              const loss = this.#autocast(() => this.lossFn(output, target, batch));
              this.evalMeter.update(loss.item(), batchItems(batch), logitsOf(output), target);
            }),
          );
        } finally {
          disposeBatch(raw);
        }
      }
    } finally {
      for (const [m, t] of modes) m.training = t;
    }
    this.evalMetrics = this.evalMeter.result();
    await this.#emit('afterValidate');
  }

  /** Everything a resume needs, as a tree for writeCheckpoint (taken at a step boundary). */
  checkpointState(): Record<string, unknown> {
    if (!this.atStepBoundary)
      throw new ArgumentError('a checkpoint needs a step boundary (gradients are accumulating)');
    return checkpointTree(this);
  }

  /** Loads a checkpoint: model, phase, optimizer, scheduler, scaler, position, meters, callbacks. */
  restore(path: string): void {
    restoreFrom(this, path);
  }
}
