// Phases: a run is a list of phases, each with a length, a freeze spec and changes at its start
// (learning rates, scheduler, optimizer). The PhaseRunner applies them as the trainer calls
// onEpochStart / onStepEnd / onEpochEnd. Every parameter sits in an optimizer group from the
// start, so unfreezing never adds groups; schedulers reach the groups through a view that follows
// optimizer switches; groups frozen with via 'lr0' are pinned at 0 (_phase_pins.ts).
import { ArgumentError } from '../errors.ts';
import type { Module, Parameter } from '../nn/index.ts';
import type { Optimizer, OptimizerLike, OptimizerSpec, ParamGroupLike } from '../optim/index.ts';
import {
  type AnyScheduler,
  createScheduler,
  OneCycleLR,
  ReduceLROnPlateau,
  type SchedulerStateDict,
} from '../schedule/index.ts';
import {
  checkLateStepsPerEpoch,
  checkRunSpec,
  lrAfter,
  maxWeightDecay,
  needsStepsPerEpoch,
  type PhaseSchedulerSpec,
  type PhaseSpec,
  phaseLength,
  plateauMonitors,
  plateauValue,
  type RampSpec,
  type RunnerNote,
  type RunnerOptions,
  type RunSpec,
  runEpochs,
  schedulerParts,
} from './_phase_parts.ts';
import { PinnedLrs } from './_phase_pins.ts';
import { pinnedGroups, rampedLrs, readClock } from './_phase_state.ts';
import { type FreezeInput, type Freezer, type FreezeState, freezerOf, resolveFreeze } from './freeze.ts';
import { groupInputs, type ParamGroups, paramGroups } from './groups.ts';
import { ParamIndex } from './select.ts';
import { type AnyOptimizer, buildOptimizer, DryOptimizer, switchOptimizer } from './switch.ts';
import { checkSomethingTrains } from './trains.ts';

export type { PhaseSpec, RunnerNote, RunnerOptions, RunSpec } from './_phase_parts.ts';

type PendingScheduler = { sched: PhaseSchedulerSpec; from: number; state?: SchedulerStateDict };
const isPlateau = (s: AnyScheduler | undefined): s is ReduceLROnPlateau => s instanceof ReduceLROnPlateau;

export class PhaseRunner {
  readonly model: Module;
  readonly spec: RunSpec;
  readonly groups: ParamGroups;
  readonly dry: boolean;
  readonly notes: RunnerNote[] = [];
  epoch = 0;
  /** optimizer steps done so far */
  step = 0;
  phaseIndex = 0;
  phaseStartEpoch = 0;
  phaseStartStep = 0;
  /** the last phase's length has run out (the runner keeps its settings) */
  finished = false;
  #params: Map<string, Parameter>;
  #index: ParamIndex;
  #freezer: Freezer | undefined;
  #freeze: FreezeState;
  #opt: AnyOptimizer;
  #optFrom = -1;
  #sched: AnyScheduler | undefined;
  #schedFrom: number | null = null;
  #interval: 'epoch' | 'step' = 'epoch';
  #schedType: string | undefined;
  #monitor: string | undefined;
  #pins: PinnedLrs;
  #rampPrev: number[] | undefined;
  /** optimizer steps per epoch: the spec's, or the trainer's from the data (setStepsPerEpoch) */
  #spe: number | undefined;
  #started = false;
  /** a per-step scheduler sized in epochs, waiting for stepsPerEpoch (built before the first epoch) */
  #pending: PendingScheduler | undefined;
  /** what schedulers hold: always the current optimizer's groups */
  readonly view: OptimizerLike & { defaults: Record<string, unknown> };

  constructor(model: Module, spec: RunSpec, o: RunnerOptions = {}) {
    checkRunSpec(spec);
    this.model = model;
    this.spec = spec;
    this.#spe = spec.stepsPerEpoch;
    this.dry = o.dry ?? false;
    const ctx = { model, meta: o.meta, loadReport: o.loadReport };
    this.#index = new ParamIndex(ctx);
    this.#params = this.#index.params;
    this.groups = paramGroups(model, spec.groups ?? {}, {
      ...ctx,
      defaults: { lr: spec.optimizer.lr, weight_decay: maxWeightDecay(spec) },
    });
    checkSomethingTrains(this.#index, spec, this.groups);
    this.#pins = new PinnedLrs(this.groups.groups.map((g) => g.lr));
    this.#opt = buildOptimizer(spec.optimizer, this.#inputs(spec.optimizer), this.dry);
    const self = this;
    this.view = {
      get paramGroups() {
        return self.#opt.paramGroups as ParamGroupLike[];
      },
      get defaults() {
        return self.#opt.defaults;
      },
    };
    this.#freezer = this.dry ? undefined : freezerOf(model, { meta: o.meta, loadReport: o.loadReport });
    this.#freeze = resolveFreeze(this.#index, 'none');
    this.#enter(0);
  }

  /** The optimizer the trainer steps (replaced by optimizer switches: read it every step). */
  get optimizer(): Optimizer {
    if (this.#opt instanceof DryOptimizer) throw new ArgumentError('a dry (plan) runner has no real optimizer');
    return this.#opt;
  }
  /** The optimizer or, in plan mode, its tensor-free stand-in. */
  get optimizerLike(): AnyOptimizer {
    return this.#opt;
  }
  get scheduler(): AnyScheduler | undefined {
    return this.#sched;
  }
  get schedulerInterval(): 'epoch' | 'step' {
    return this.#interval;
  }
  /** The current scheduler's spec type ('MultiStepLR', 'linear', ...). */
  get schedulerType(): string | undefined {
    return this.#sched ? this.#schedType : undefined;
  }
  get phase(): PhaseSpec {
    return this.spec.phases[this.phaseIndex]!;
  }
  get freezeState(): FreezeState {
    return this.#freeze;
  }
  /** Groups pinned at lr 0 (freeze via 'lr0'). */
  get pinned(): number[] {
    return this.#pins.indices;
  }

  /** Hands the BatchNorm layers back to model.train() / eval() (removes the eval-mode hooks). */
  release(): void {
    this.#freezer?.release();
  }

  /** Each group's lr as the schedule has it (pinned groups: the lr they return to when unpinned). */
  lrs(): number[] {
    return this.#pins.lrs(this.#opt.paramGroups);
  }

  /** Epochs of the whole run, when every phase's length is known in epochs. */
  get totalEpochs(): number | undefined {
    return runEpochs(this.spec.phases, this.#spe);
  }

  /** Optimizer steps per epoch (the spec's, else the trainer's from the data's length), once known. */
  get stepsPerEpoch(): number | undefined {
    return this.#spe;
  }

  /**
   * The trainer gives the data's optimizer steps per epoch when fitting starts; a per-step
   * scheduler sized by phases in epochs (OneCycleLR, warm-up) is built then, before the first epoch.
   */
  setStepsPerEpoch(steps: number): void {
    if (!checkLateStepsPerEpoch(this.#spe, steps, this.#started)) return;
    this.#spe = steps;
    this.#startPending();
  }

  /** ReduceLROnPlateau monitors of the run (the trainer checks the names when fitting starts). */
  monitors(): string[] {
    return plateauMonitors(this.spec);
  }

  /** Call before each epoch: enters the phase the epoch belongs to, applies ramps. Returns the notes it made. */
  onEpochStart(epoch: number): RunnerNote[] {
    const before = this.notes.length;
    this.#started = true;
    this.#startPending();
    this.epoch = epoch;
    while (!this.finished) {
      const p = this.phase;
      if (p.epochs === undefined || epoch < this.phaseStartEpoch + p.epochs) break;
      this.#advance();
    }
    const ramp = this.phase.ramp;
    if (ramp && epoch > this.phaseStartEpoch && !this.finished) this.#applyRamp(ramp, epoch);
    this.#freezer?.reapply();
    return this.notes.slice(before);
  }

  /** Call after each optimizer step (`step`: its 0-based index in the run; default: the next). */
  onStepEnd(step?: number): RunnerNote[] {
    const before = this.notes.length;
    this.step = step === undefined ? this.step + 1 : step + 1;
    if (this.#sched && this.#interval === 'step') {
      const s = this.#sched;
      this.#withReal(() => (s as { step(): void }).step());
    }
    const p = this.phase;
    if (!this.finished && p.steps !== undefined && this.step - this.phaseStartStep >= p.steps) this.#advance();
    return this.notes.slice(before);
  }

  /** Call after each epoch (after validation): steps per-epoch schedulers; ReduceLROnPlateau reads metrics[monitor]. */
  onEpochEnd(epoch: number, metrics: Record<string, number> = {}): void {
    this.epoch = epoch;
    const s = this.#sched;
    if (!s || this.#interval !== 'epoch') return;
    if (isPlateau(s)) {
      const v = plateauValue(this.#monitor, metrics, this.dry);
      if (v !== undefined) this.#withReal(() => s.step(v, undefined));
    } else this.#withReal(() => s.step());
  }

  #note(text: string): void {
    this.notes.push({ epoch: this.epoch, step: this.step, text });
  }

  #advance(): void {
    if (this.phaseIndex + 1 >= this.spec.phases.length) {
      this.finished = true;
      return;
    }
    this.#enter(this.phaseIndex + 1);
  }

  #inputs(spec: OptimizerSpec, lrs?: number[]) {
    return groupInputs(this.#params, this.groups.groups, { type: spec.type, lrs });
  }

  #enter(i: number): void {
    const p = this.spec.phases[i]!;
    this.phaseIndex = i;
    this.phaseStartEpoch = this.epoch;
    this.phaseStartStep = this.step;
    this.#note(`phase ${i}${p.name ? ` '${p.name}'` : ''} starts`);
    if (p.optimizer) {
      const { optimizer, note } = switchOptimizer(this.#opt, p.optimizer, this.#inputs(p.optimizer));
      this.#opt = optimizer;
      this.#optFrom = i;
      if (this.#sched instanceof OneCycleLR && this.#sched.cycleMomentum)
        this.#sched.useBeta1 = 'betas' in (this.#opt.defaults as object);
      this.#note(note.text);
    }
    if (p.freeze !== undefined || i === 0) this.#applyFreeze(p.freeze ?? 'none');
    if (p.lr) {
      const next = lrAfter(p.lr, this.groups.groups, (g) => this.lrs()[g]!);
      next.forEach((v, g) => {
        this.#setReal(g, v);
      });
    }
    const sched = p.scheduler !== undefined ? p.scheduler : i === 0 ? this.spec.scheduler : undefined;
    if (sched === null) {
      this.#sched = undefined;
      this.#schedFrom = null;
    } else if (sched) this.#startScheduler(sched, i === 0 && p.scheduler === undefined ? -1 : i);
    this.#rampPrev = p.ramp ? this.lrs() : undefined;
  }

  #freezeSpecAt(i: number): FreezeInput {
    for (let j = i; j >= 0; j--) {
      const f = this.spec.phases[j]!.freeze;
      if (f !== undefined) return f;
    }
    return 'none';
  }

  #applyFreeze(f: FreezeInput): void {
    const spec = f === 'none' ? f : { ...f, bn: f.bn ?? this.spec.bn };
    const st = resolveFreeze(this.#index, spec);
    this.#freezer?.apply(st);
    this.#freeze = st;
    this.#pins.pin(this.#opt.paramGroups, pinnedGroups(this.groups.groups, st));
    const nf = st.frozen.length;
    this.#note(
      nf === 0
        ? 'all parameters trainable'
        : `${nf} of ${this.#index.names.length} parameters frozen (via ${st.via}, bn ${st.bn})`,
    );
  }

  #setReal(gi: number, v: number): void {
    this.#pins.set(this.#opt.paramGroups, gi, v);
  }

  // schedulers read and write group.lr: they see the real lrs, pinned groups go back to 0 after
  #withReal(fn: () => void): void {
    this.#pins.withReal(this.#opt.paramGroups, fn);
  }

  #startScheduler(sched: PhaseSchedulerSpec, from: number): void {
    const interval = sched.interval ?? 'epoch';
    let wait = false;
    const parts = schedulerParts(
      sched,
      () => {
        // before the first epoch, the trainer may still give the length: build the scheduler then
        wait = this.#spe === undefined && !this.#started && !this.dry && needsStepsPerEpoch(this.spec, from, interval);
        return wait ? 1 : phaseLength({ ...this.spec, stepsPerEpoch: this.#spe }, from, interval);
      },
      () => this.lrs(),
    );
    this.#pending = wait ? { sched, from } : undefined;
    if (wait) {
      this.#sched = undefined;
      this.#schedFrom = from;
      return;
    }
    this.#withReal(() => {
      // a scheduler started now takes today's lrs as its base (seed 000), not an earlier initial_lr
      for (const g of this.#opt.paramGroups) g.initial_lr = g.lr;
      this.#sched = createScheduler(parts.spec, this.view);
    });
    this.#schedFrom = from;
    this.#interval = parts.interval;
    this.#monitor = parts.monitor;
    this.#schedType = sched.type;
    this.#note(`scheduler ${sched.type} (per ${parts.interval})`);
  }

  /** Builds a scheduler that waited for stepsPerEpoch (throws when it is still unknown). */
  #startPending(): void {
    const p = this.#pending;
    if (!p) return;
    if (this.#spe === undefined) {
      this.#pending = undefined;
      phaseLength(this.spec, p.from, p.sched.interval ?? 'epoch'); // throws: says what is missing
    }
    this.#startScheduler(p.sched, p.from);
    const sched = this.#sched as AnyScheduler | undefined;
    if (sched && p.state) sched.loadStateDict(p.state);
    const phase = Math.max(0, p.from);
    if (phase === this.phaseIndex && this.spec.phases[phase]!.ramp) this.#rampPrev = this.lrs();
  }

  #applyRamp(r: RampSpec, epoch: number): void {
    const prev = this.#rampPrev ?? this.lrs();
    for (const [gi, lr] of rampedLrs(r, epoch, this.groups.groups, this.lrs(), prev)) this.#setReal(gi, lr);
    this.#rampPrev = prev;
  }

  /** Everything needed to resume exactly: clock, phase, optimizer and scheduler state (tensors are the optimizer's own). */
  stateDict(): Record<string, unknown> {
    const opt = this.#opt;
    return {
      phase: this.phaseIndex,
      epoch: this.epoch,
      step: this.step,
      phase_start_epoch: this.phaseStartEpoch,
      phase_start_step: this.phaseStartStep,
      finished: this.finished,
      optimizer_from: this.#optFrom,
      optimizer_type: opt.type,
      optimizer:
        opt instanceof DryOptimizer ? { param_groups: opt.paramGroups.map((g) => ({ ...g })) } : opt.stateDict(),
      scheduler_from: this.#schedFrom,
      scheduler: this.#sched ? this.#sched.stateDict() : null,
      pinned: this.#pins.indices,
      shadow_lrs: this.#pins.shadow,
      ramp_prev: this.#rampPrev ? [...this.#rampPrev] : null,
    };
  }

  /** Restores a stateDict() into a runner built with the same model and spec. */
  loadStateDict(sd: Record<string, unknown>): void {
    const { optimizerFrom: optFrom, ...clock } = readClock(sd, this.spec.phases.length);
    Object.assign(this, clock);
    const phase = clock.phaseIndex;
    this.#pins.clear();
    this.#applyFreeze(this.#freezeSpecAt(phase));
    this.#pins.restore(sd.shadow_lrs as number[], sd.pinned as number[]);
    const ospec = optFrom < 0 ? this.spec.optimizer : this.spec.phases[optFrom]!.optimizer!;
    const old = this.#opt;
    this.#opt = buildOptimizer(ospec, this.#inputs(ospec), this.dry);
    this.#optFrom = optFrom;
    if (!(old instanceof DryOptimizer)) old.dispose();
    const from = sd.scheduler_from as number | null;
    this.#sched = undefined;
    this.#schedFrom = null;
    if (from !== null) {
      const s = from < 0 ? this.spec.scheduler : this.spec.phases[from]!.scheduler;
      if (!s) throw new ArgumentError(`PhaseRunner.loadStateDict: the run spec has no scheduler at phase ${from}`);
      this.#startScheduler(s, from);
    }
    const o = this.#opt;
    if (o instanceof DryOptimizer) o.paramGroups = (sd.optimizer as { param_groups: ParamGroupLike[] }).param_groups;
    else o.loadStateDict(sd.optimizer as Parameters<Optimizer['loadStateDict']>[0]);
    const sched = this.#sched as AnyScheduler | undefined; // set by #startScheduler
    if (sched && sd.scheduler) sched.loadStateDict(sd.scheduler as SchedulerStateDict);
    const pending = this.#pending as PendingScheduler | undefined; // set by #startScheduler
    if (pending && sd.scheduler) pending.state = sd.scheduler as SchedulerStateDict;
    this.#rampPrev = sd.ramp_prev ? [...(sd.ramp_prev as number[])] : undefined;
    this.notes.length = 0;
    this.#note(`resumed in phase ${phase} at epoch ${this.epoch}, step ${this.step}`);
  }
}
