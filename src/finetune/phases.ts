// Phases: a run is a list of phases, each with a length, a freeze spec and changes at its start
// (learning rates, scheduler, optimizer). The PhaseRunner applies them as the trainer calls
// onEpochStart / onStepEnd / onEpochEnd. Every parameter sits in an optimizer group from the
// start, so unfreezing never adds groups; schedulers reach the groups through a view that follows
// optimizer switches; groups frozen with via 'lr0' are pinned at 0: the runner hands schedulers
// their real lrs before every step and writes 0 back after, so no scheduler can move them.
import { ArgumentError } from '../errors.ts';
import type { Module, Parameter } from '../nn/index.ts';
import {
  type Optimizer,
  type OptimizerLike,
  type OptimizerSpec,
  optimizerDefaults,
  type ParamGroupLike,
} from '../optim/index.ts';
import {
  type AnyScheduler,
  createScheduler,
  OneCycleLR,
  ReduceLROnPlateau,
  type SchedulerStateDict,
} from '../schedule/index.ts';
import {
  checkLength,
  lrAfter,
  type PhaseSchedulerSpec,
  type PhaseSpec,
  phaseLength,
  type RampSpec,
  type RunnerNote,
  type RunnerOptions,
  type RunSpec,
  schedulerParts,
} from './_phase_parts.ts';
import { type FreezeInput, type Freezer, type FreezeState, freezerOf, resolveFreeze } from './freeze.ts';
import { groupIndices, groupInputs, type ParamGroups, paramGroups } from './groups.ts';
import { ParamIndex } from './select.ts';
import { type AnyOptimizer, buildOptimizer, DryOptimizer, switchOptimizer } from './switch.ts';

export type { PhaseSpec, RunnerNote, RunnerOptions, RunSpec } from './_phase_parts.ts';

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
  #pinned = new Set<number>();
  #shadow: number[];
  #rampPrev: number[] | undefined;
  /** what schedulers hold: always the current optimizer's groups */
  readonly view: OptimizerLike & { defaults: Record<string, unknown> };

  constructor(model: Module, spec: RunSpec, o: RunnerOptions = {}) {
    if (!spec || !Array.isArray(spec.phases) || spec.phases.length === 0)
      throw new ArgumentError(
        'a run needs at least one phase',
        "e.g. phases: [{ epochs: 1, freeze: { freeze: '!fc' } }]",
      );
    spec.phases.forEach((p, i) => {
      checkLength(p, i);
    });
    if (spec.stepsPerEpoch !== undefined && !(Number.isInteger(spec.stepsPerEpoch) && spec.stepsPerEpoch > 0))
      throw new ArgumentError(`stepsPerEpoch must be a positive integer, got ${spec.stepsPerEpoch}`);
    this.model = model;
    this.spec = spec;
    this.dry = o.dry ?? false;
    const ctx = { model, meta: o.meta, loadReport: o.loadReport };
    this.#index = new ParamIndex(ctx);
    this.#params = this.#index.params;
    const specs = [spec.optimizer, ...spec.phases.flatMap((p) => (p.optimizer ? [p.optimizer] : []))];
    const maxWd = Math.max(...specs.map((s) => Number(s.weight_decay ?? optimizerDefaults(s.type).weight_decay ?? 0)));
    this.groups = paramGroups(model, spec.groups ?? {}, {
      ...ctx,
      defaults: { lr: spec.optimizer.lr, weight_decay: maxWd },
    });
    this.#shadow = this.groups.groups.map((g) => g.lr);
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
    return [...this.#pinned];
  }

  /** Hands the BatchNorm layers back to model.train() / eval() (removes the eval-mode hooks). */
  release(): void {
    this.#freezer?.release();
  }

  /** Each group's lr as the schedule has it (pinned groups: the lr they return to when unpinned). */
  lrs(): number[] {
    return this.#opt.paramGroups.map((g, i) => (this.#pinned.has(i) ? this.#shadow[i]! : g.lr));
  }

  /** Epochs of the whole run, when every phase's length is known in epochs. */
  get totalEpochs(): number | undefined {
    let n = 0;
    for (const p of this.spec.phases) {
      if (p.epochs !== undefined) n += p.epochs;
      else if (this.spec.stepsPerEpoch) n += p.steps! / this.spec.stepsPerEpoch;
      else return undefined;
    }
    return Math.ceil(n);
  }

  /** Call before each epoch: enters the phase the epoch belongs to, applies ramps. Returns the notes it made. */
  onEpochStart(epoch: number): RunnerNote[] {
    const before = this.notes.length;
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
      const key = this.#monitor ?? 'val_loss';
      const v = metrics[key];
      if (typeof v !== 'number') {
        if (this.dry) return; // plans show plateau schedules without reductions
        throw new ArgumentError(
          `ReduceLROnPlateau watches '${key}', but onEpochEnd got ${Object.keys(metrics).join(', ') || 'no metrics'}`,
          "pass it in metrics, or set the scheduler's monitor",
        );
      }
      this.#withReal(() => s.step(v, undefined));
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
    const pinned = new Set<number>();
    if (st.via === 'lr0') {
      const frozen = new Set(st.frozen);
      this.groups.groups.forEach((g, gi) => {
        const n = g.params.filter((x) => frozen.has(x)).length;
        if (n === g.params.length) pinned.add(gi);
        else if (n > 0)
          throw new ArgumentError(
            `freeze via 'lr0' pins whole param groups, but group '${g.name}' has ${n} of ${g.params.length} parameters frozen`,
            "make the freeze selector follow the groups, or use via 'requires-grad'",
          );
      });
    }
    const groups = this.#opt.paramGroups;
    for (const gi of this.#pinned) if (!pinned.has(gi)) groups[gi]!.lr = this.#shadow[gi]!;
    for (const gi of pinned)
      if (!this.#pinned.has(gi)) {
        this.#shadow[gi] = groups[gi]!.lr;
        groups[gi]!.lr = 0;
      }
    this.#pinned = pinned;
    const nf = st.frozen.length;
    this.#note(
      nf === 0
        ? 'all parameters trainable'
        : `${nf} of ${this.#index.names.length} parameters frozen (via ${st.via}, bn ${st.bn})`,
    );
  }

  #setReal(gi: number, v: number): void {
    if (this.#pinned.has(gi)) this.#shadow[gi] = v;
    else this.#opt.paramGroups[gi]!.lr = v;
  }

  // schedulers read and write group.lr: they see the real lrs, pinned groups go back to 0 after
  #withReal(fn: () => void): void {
    const groups = this.#opt.paramGroups;
    for (const gi of this.#pinned) groups[gi]!.lr = this.#shadow[gi]!;
    try {
      fn();
    } finally {
      for (const gi of this.#pinned) {
        this.#shadow[gi] = groups[gi]!.lr;
        groups[gi]!.lr = 0;
      }
    }
  }

  #startScheduler(sched: PhaseSchedulerSpec, from: number): void {
    const parts = schedulerParts(
      sched,
      () => phaseLength(this.spec, from, sched.interval ?? 'epoch'),
      () => this.lrs(),
    );
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

  #applyRamp(r: RampSpec, epoch: number): void {
    const idx = (Array.isArray(r.groups) ? r.groups : [r.groups]).flatMap((k) => groupIndices(this.groups.groups, k));
    const f = typeof r.factor === 'function' ? r.factor(epoch + 1) : r.factor;
    const cap = r.alignTo === undefined ? undefined : this.lrs()[groupIndices(this.groups.groups, r.alignTo)[0]!]!;
    const prev = this.#rampPrev ?? this.lrs();
    for (const gi of idx) {
      let next = f * prev[gi]!;
      if (cap !== undefined && next > cap) next = cap;
      this.#setReal(gi, next);
      prev[gi] = next;
    }
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
      pinned: [...this.#pinned],
      shadow_lrs: [...this.#shadow],
      ramp_prev: this.#rampPrev ? [...this.#rampPrev] : null,
    };
  }

  /** Restores a stateDict() into a runner built with the same model and spec. */
  loadStateDict(sd: Record<string, unknown>): void {
    const num = (k: string): number => {
      const v = sd[k];
      if (typeof v !== 'number') throw new ArgumentError(`PhaseRunner.loadStateDict: '${k}' must be a number`);
      return v;
    };
    const phase = num('phase');
    if (!Number.isInteger(phase) || phase < 0 || phase >= this.spec.phases.length)
      throw new ArgumentError(
        `PhaseRunner.loadStateDict: phase ${phase} is not in this run's ${this.spec.phases.length}`,
      );
    Object.assign(this, {
      phaseIndex: phase,
      epoch: num('epoch'),
      step: num('step'),
      phaseStartEpoch: num('phase_start_epoch'),
      phaseStartStep: num('phase_start_step'),
      finished: Boolean(sd.finished),
    });
    this.#pinned = new Set();
    this.#applyFreeze(this.#freezeSpecAt(phase));
    this.#shadow = [...(sd.shadow_lrs as number[])];
    this.#pinned = new Set(sd.pinned as number[]);
    const optFrom = num('optimizer_from');
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
    this.#rampPrev = sd.ramp_prev ? [...(sd.ramp_prev as number[])] : undefined;
    this.notes.length = 0;
    this.#note(`resumed in phase ${phase} at epoch ${this.epoch}, step ${this.step}`);
  }
}
