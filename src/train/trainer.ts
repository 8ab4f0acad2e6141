// The training loop (after fastai's Learner): epochs of batches, each step inside tidy(), validation
// every epoch, events for everything else (events.ts: the order, and how callbacks skip a step or
// cancel a batch). Mixed precision, gradient accumulation and the NaN stop are callbacks the
// trainer adds from its options. Exact resume: the batch at (epoch, b) always sees the same data
// (the source's order is fixed by seed and epoch) and the same random numbers (libtorch's
// generator is reseeded from (seed, epoch, b) before every batch).
import { ArgumentError } from '../errors.ts';
import type { Module } from '../nn/index.ts';
import type { Optimizer } from '../optim/index.ts';
import type { SplitMetrics } from '../report/index.ts';
import type { Scheduler } from '../schedule/index.ts';
import { manualSeed, type Tensor, tidy } from '../tensor/index.ts';
import { Rng } from '../util/rng.ts';
import { GradientAccumulation } from './callbacks/accumulate.ts';
import { MixedPrecision } from './callbacks/amp.ts';
import { NanStop } from './callbacks/nan.ts';
import { evaluate, yieldToEventLoop } from './evaluate.ts';
import { type Callback, CancelBatchException, type EventName, emit, emitSync } from './events.ts';
import { withMemoryFormat } from './memory_format.ts';
import { Meter } from './meter.ts';
import { checkMetricName } from './metrics.ts';
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
import { type MetricMap, OptimizerRunner, type PhaseRunnerLike, phaseName, type RunnerNoteLike } from './runner.ts';
import type { GradScaler } from './scaler.ts';
import { type Batch, type BatchSource, batchItems, disposeBatch, toBatch, toSource } from './source.ts';

export class Trainer {
  readonly model: Module;
  readonly runner: PhaseRunnerLike;
  readonly callbacks: Callback[];
  readonly seed: number;
  readonly device: string;
  readonly accumulate: number;
  /** 'causal-lm' runs report perplexity and check metric names against it */
  readonly task: 'classification' | 'causal-lm';
  /** the mixed-precision callback's scaler (checkpointed with the run) */
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
  /** this batch's output and loss (valid in afterLoss .. afterStep) */
  output: unknown;
  loss: Tensor | undefined;
  lossValue = Number.NaN;
  /** what backward() is called on: the loss, weighted or scaled by beforeBackward callbacks */
  lossToBackward: Tensor | undefined;
  /** the batch just finished with an optimizer step; skippedStep: the step was skipped (t.skipStep) */
  stepped = false;
  skippedStep = false;
  skipReason: string | undefined;
  /** a callback cancelled the rest of this batch (CancelBatchException) */
  batchCancelled = false;
  /** this batch's loss went into the train meter (false when cancelled at afterLoss or before) */
  batchCounted = false;
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
  /** notes the runner made since the last event (phase starts, optimizer switches) */
  notes: string[] = [];
  #gradsPending = false;
  #skip: string | undefined;
  #wrappers: Callback[];

  constructor(o: TrainerOptions) {
    this.model = o.model;
    if (o.runner && o.optimizer) throw new ArgumentError('give either runner or optimizer, not both');
    if (!o.runner && !o.optimizer) throw new ArgumentError('the trainer needs an optimizer or a phase runner');
    this.runner = o.runner ?? new OptimizerRunner(o.optimizer!, o.scheduler, { interval: o.schedulerInterval });
    this.seed = o.seed ?? 0;
    this.device = o.device ?? 'cpu';
    this.accumulate = o.accumulate ?? 1;
    const builtIn: Callback[] = [new NanStop()];
    if (this.accumulate !== 1) builtIn.push(new GradientAccumulation(this.accumulate));
    const amp = MixedPrecision.from(o.amp, this.device);
    if (amp) builtIn.push(amp);
    this.amp = amp?.amp;
    this.scaler = amp?.scaler;
    this.callbacks = [...builtIn, ...(o.callbacks ?? [])].sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
    this.#wrappers = this.callbacks.filter((cb) => cb.aroundForward);
    this.lossFn = o.loss ?? defaultLoss;
    this.forwardFn = withMemoryFormat(o.model, o.forward ?? defaultForward, o.memoryFormat);
    this.trainSource = toSource(o.train);
    this.validSource = o.valid === undefined ? undefined : toSource(o.valid);
    this.task = o.task ?? 'classification';
    this.trainMeter = new Meter(undefined, o.topK);
    this.evalMeter = new Meter(undefined, o.topK);
    this.trainMeter.perplexity = this.evalMeter.perplexity = this.task === 'causal-lm';
    this.monitor = resolveMonitor(o.monitor, this.validSource !== undefined, this.task);
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
    return !this.#gradsPending;
  }
  /** the learning rate of every param group */
  lrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
  groupNames(): (string | null)[] {
    return this.optimizer.paramGroups.map((g) => (typeof g.name === 'string' ? g.name : null));
  }

  /** Ends the run after the current step (at an accumulation boundary) and calls afterFit. */
  requestStop(reason: string): void {
    this.stopReason ??= reason;
  }

  /** The coming optimizer step is not taken (gradients are zeroed, the step still counts); see events.ts. */
  skipStep(reason: string): void {
    this.#skip ??= reason;
  }

  /** Forward and loss of one batch with the current weights, inside every callback's aroundForward. */
  forwardBatch(batch: Batch): { output: unknown; loss: Tensor; target: Tensor | undefined } {
    const { input, target } = toDevice(batch, this.device);
    return this.#wrap(() => {
      const output = this.forwardFn(this.model, input, batch);
      return { output, loss: this.lossFn(output, target, batch), target };
    });
  }

  #wrap<T>(run: () => T): T {
    return this.#wrappers.reduceRight<() => T>((inner, cb) => () => cb.aroundForward!(this, inner), run)();
  }

  #notes(r: unknown): void {
    if (Array.isArray(r)) for (const n of r as RunnerNoteLike[]) this.notes.push(n.text);
  }

  #emit(name: EventName): Promise<void> {
    return emit(this.callbacks, name, this);
  }

  #emitSync(name: EventName): void {
    emitSync(this.callbacks, name, this);
  }

  /** the last phase reached its step count during an epoch: the run ends with that epoch */
  #finishedMidEpoch = false;

  /** Trains for `epochs` epochs (default: the runner's), from a checkpoint when `resume` is given. */
  async fit(epochs?: number, o: { resume?: string } = {}): Promise<void> {
    this.#prepare();
    const total = epochs ?? this.runner.epochs ?? this.runner.totalEpochs;
    if (total === undefined || !Number.isInteger(total) || total < 0)
      throw new ArgumentError(`fit: epochs must be an integer >= 0, got ${total}`);
    this.epochs = total;
    this.error = undefined;
    this.stopReason = undefined;
    this.#finishedMidEpoch = false;
    this.model.train();
    this.model.zeroGrad();
    this.#gradsPending = false;
    this.#skip = undefined;
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
        this.runner.onEpochEnd(this.epoch, this.metrics);
        this.#trackBest();
        this.position = { epoch: this.epoch + 1, batch: 0 };
        await this.#emit('afterEpoch');
        if (this.#finishedMidEpoch) {
          this.epoch++;
          break;
        }
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

  /** Before any event: the runner learns the epoch's length; metric names and callbacks' settings are checked. */
  #prepare(): void {
    const len = this.trainSource.length;
    if (len !== undefined && len > 0) this.runner.setStepsPerEpoch?.(Math.ceil(len / this.accumulate));
    const valid = this.validSource !== undefined;
    for (const m of this.runner.monitors?.() ?? [])
      checkMetricName(m, { valid, task: this.task }, 'ReduceLROnPlateau monitor');
    for (const cb of this.callbacks) cb.check?.(this);
    // a phase runner checks its phases when built; a plain optimizer over frozen parameters would
    // reach libtorch's raw "element 0 of tensors does not require grad" at the first backward
    if (this.runner instanceof OptimizerRunner) {
      const params = this.optimizer.paramGroups.flatMap((g) => g.params);
      if (!params.some((p) => p.requiresGrad))
        throw new ArgumentError(
          `nothing trains: every one of the ${params.length} parameters the optimizer holds is frozen`,
          'unfreeze some (p.requiresGrad = true, finetune.unfreeze) or give the optimizer the parameters that train',
        );
    }
  }

  async #trainEpoch(first: number): Promise<void> {
    let b = first;
    // only a run that finishes during this epoch ends early (one already finished keeps its old course)
    const endsHere = !this.runner.finished;
    for await (const raw of this.trainSource.batches(this.epoch, first)) {
      this.notes = [];
      this.batchCancelled = false;
      this.batchCounted = false;
      this.stepped = false;
      try {
        this.batch = toBatch(raw);
        this.batchIndex = b;
        this.items = batchItems(this.batch);
        await this.#emit('beforeBatch');
        manualSeed(new Rng(this.seed, 'batch', this.epoch, b).nextU32());
        const batch = this.batch;
        tidy(() => this.#trainBatch(batch));
      } catch (e) {
        if (!(e instanceof CancelBatchException)) throw e;
        this.batchCancelled = true;
      } finally {
        disposeBatch(raw);
        this.batch = undefined;
        this.output = undefined;
        this.loss = undefined;
        this.lossToBackward = undefined;
      }
      this.position = { epoch: this.epoch, batch: b + 1 };
      await this.#emit('afterBatch');
      b++;
      // lets signal handlers run between batches, also when the data never waits on I/O
      await yieldToEventLoop();
      if (this.stopReason && this.atStepBoundary) return;
      // the last phase's step count is reached mid-epoch: the run ends here (as max_steps does in
      // Hugging Face's Trainer), validated and checkpointed as an epoch end, not stepped past its
      // schedule to the end of the data
      if (endsHere && this.runner.finished && this.stepped && this.atStepBoundary) {
        this.#finishedMidEpoch = true;
        return;
      }
    }
    // a source of unknown length: the last partial window steps here
    if (this.#gradsPending) tidy(() => this.#optimizerStep());
  }

  #trainBatch(batch: Batch): void {
    const { output, loss, target } = this.forwardBatch(batch);
    this.output = output;
    this.loss = loss;
    this.lossValue = loss.item();
    this.#emitSync('afterLoss');
    this.trainMeter.update(this.lossValue, this.items, logitsOf(output), target);
    this.batchCounted = true;
    this.lossToBackward = loss;
    this.#emitSync('beforeBackward');
    this.lossToBackward.backward();
    this.#gradsPending = true;
    this.#emitSync('afterBackward');
    this.#optimizerStep();
  }

  #optimizerStep(): void {
    const opt = this.optimizer;
    this.#emitSync('beforeStep');
    this.skipReason = this.#skip;
    this.skippedStep = this.#skip !== undefined;
    this.#skip = undefined;
    if (!this.skippedStep) opt.step();
    this.model.zeroGrad();
    opt.zeroGrad();
    this.#gradsPending = false;
    this.step += 1;
    this.stepped = true;
    this.#notes(this.runner.onStepEnd(this.step - 1));
    this.#emitSync('afterStep');
  }

  #trackBest(): void {
    const v = this.metrics[this.monitor.metric];
    this.isBestEpoch = false;
    if (v === undefined || Number.isNaN(v)) return;
    const better = !this.best || (this.monitor.mode === 'min' ? v < this.best.value : v > this.best.value);
    if (better) {
      this.best = { epoch: this.epoch, value: v };
      this.isBestEpoch = true;
    }
  }

  /** Runs the validation source through the shared evaluation loop (train/evaluate.ts). */
  async #validate(): Promise<void> {
    if (!this.validSource) {
      this.evalMetrics = undefined;
      return;
    }
    await this.#emit('beforeValidate');
    this.evalMetrics = await evaluate(this.model, this.validSource, {
      device: this.device,
      forward: this.forwardFn,
      loss: this.lossFn,
      wrap: (run) => this.#wrap(run),
      epoch: this.epoch,
      meter: this.evalMeter,
    });
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
