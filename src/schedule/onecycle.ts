// OneCycleLR (fastai's 1cycle; torch 1.13 semantics). Like PyTorch it keeps its per-group
// values in the param groups (initial_lr, max_lr, min_lr, max_momentum, base_momentum), so
// they travel with the optimizer state dict, and cycles `momentum` (SGD) or `betas[0]` (Adam).

import { ArgumentError } from '../errors.ts';
import type { OptimizerLike, ParamGroupLike } from '../optim/types.ts';
import {
  type BaseOptions,
  checkInt,
  checkNumber,
  checkOneOf,
  describe,
  LRScheduler,
  perGroup,
  readNumber,
  type SchedulerStateDict,
} from './_base.ts';
import { type AnnealStrategy, type OneCyclePhase, oneCyclePhases, oneCycleValue } from './functional.ts';

export interface OneCycleLRSchedulerOptions extends BaseOptions {
  /** Peak lr, one number for all groups or one per group. */
  max_lr: number | readonly number[];
  total_steps?: number;
  epochs?: number;
  steps_per_epoch?: number;
  pct_start?: number;
  anneal_strategy?: AnnealStrategy;
  cycle_momentum?: boolean;
  base_momentum?: number | readonly number[];
  max_momentum?: number | readonly number[];
  div_factor?: number;
  final_div_factor?: number;
  three_phase?: boolean;
}

const OWNER = 'OneCycleLR';

/** Does this optimizer cycle `betas[0]` (Adam-like) rather than `momentum` (SGD-like)? */
function momentumKey(optimizer: OptimizerLike): 'betas' | 'momentum' | undefined {
  // torch checks optimizer.defaults; graft's OptimizerLike may carry them, else the groups tell.
  const defaults = (optimizer as { defaults?: Record<string, unknown> }).defaults;
  const probe = defaults ?? optimizer.paramGroups[0] ?? {};
  if ('betas' in probe) return 'betas';
  if ('momentum' in probe) return 'momentum';
  return undefined;
}

export class OneCycleLR extends LRScheduler {
  totalSteps: number;
  schedulePhases: OneCyclePhase[];
  annealStrategy: AnnealStrategy;
  cycleMomentum: boolean;
  useBeta1 = false;

  constructor(optimizer: OptimizerLike, options: OneCycleLRSchedulerOptions) {
    super(optimizer);
    const o = options ?? ({} as OneCycleLRSchedulerOptions);
    if (o.total_steps === undefined && o.epochs === undefined && o.steps_per_epoch === undefined) {
      throw new ArgumentError(
        'OneCycleLR: you must define either total_steps OR (epochs AND steps_per_epoch)',
        'e.g. total_steps: epochs * batchesPerEpoch',
      );
    } else if (o.total_steps !== undefined) {
      this.totalSteps = checkInt(OWNER, 'total_steps', o.total_steps, 1);
    } else {
      const epochs = checkInt(OWNER, 'epochs', o.epochs, 1);
      this.totalSteps = epochs * checkInt(OWNER, 'steps_per_epoch', o.steps_per_epoch, 1);
    }
    const pctStart = checkNumber(OWNER, 'pct_start', o.pct_start ?? 0.3, 0, 1);
    this.schedulePhases = oneCyclePhases(this.totalSteps, pctStart, o.three_phase ?? false);
    this.annealStrategy = checkOneOf(OWNER, 'anneal_strategy', o.anneal_strategy ?? 'cos', ['cos', 'linear']);

    const groups = this.groups;
    const lastEpoch = o.last_epoch ?? -1;
    const maxLrs = perGroup(OWNER, 'max_lr', o.max_lr, groups.length);
    const divFactor = checkNumber(OWNER, 'div_factor', o.div_factor ?? 25);
    const finalDivFactor = checkNumber(OWNER, 'final_div_factor', o.final_div_factor ?? 1e4);
    if (lastEpoch === -1) {
      groups.forEach((group, idx) => {
        group.initial_lr = maxLrs[idx]! / divFactor;
        group.max_lr = maxLrs[idx]!;
        group.min_lr = group.initial_lr / finalDivFactor;
      });
    }

    this.cycleMomentum = o.cycle_momentum ?? true;
    if (this.cycleMomentum) {
      const key = momentumKey(optimizer);
      if (key === undefined) {
        throw new ArgumentError(
          'OneCycleLR: optimizer must support momentum with `cycle_momentum` option enabled',
          'use an optimizer with momentum or betas, or pass cycle_momentum: false',
        );
      }
      this.useBeta1 = key === 'betas';
      const maxMomentums = perGroup(OWNER, 'max_momentum', o.max_momentum ?? 0.95, groups.length);
      const baseMomentums = perGroup(OWNER, 'base_momentum', o.base_momentum ?? 0.85, groups.length);
      if (lastEpoch === -1) {
        groups.forEach((group, i) => {
          this.setMomentum(group, maxMomentums[i]!);
          group.max_momentum = maxMomentums[i]!;
          group.base_momentum = baseMomentums[i]!;
        });
      }
    }
    this.attach(o);
  }

  private setMomentum(group: ParamGroupLike, m: number): void {
    if (this.useBeta1) {
      const betas = group.betas;
      if (!Array.isArray(betas)) {
        throw new ArgumentError(`OneCycleLR: param group has no betas to cycle, got ${describe(betas)}`);
      }
      group.betas = [m, betas[1]];
    } else {
      group.momentum = m;
    }
  }

  protected getLr(): number[] {
    const stepNum = this.lastEpoch;
    if (stepNum > this.totalSteps) {
      throw new ArgumentError(
        `OneCycleLR: tried to step ${stepNum + 1} times. The specified number of total steps is ${this.totalSteps}`,
        'total_steps must cover every scheduler.step() call (epochs * steps_per_epoch)',
      );
    }
    return this.groups.map((group, gi) => {
      const values: Record<string, number> = {};
      for (const p of this.schedulePhases) {
        const keys = this.cycleMomentum
          ? [p.start_lr, p.end_lr, p.start_momentum, p.end_momentum]
          : [p.start_lr, p.end_lr];
        for (const k of keys) values[k] = groupNumber(group, gi, k);
      }
      const r = oneCycleValue(stepNum, this.schedulePhases, values, this.annealStrategy, this.cycleMomentum);
      if (r.momentum !== undefined) this.setMomentum(group, r.momentum);
      return r.lr;
    });
  }

  /** `_anneal_func_type` is torch 2.x's key; 1.13 pickled a bound method (`anneal_func`) instead. */
  protected override extraState(): SchedulerStateDict {
    const s: SchedulerStateDict = {
      total_steps: this.totalSteps,
      _schedule_phases: this.schedulePhases.map((p) => ({ ...p })),
      _anneal_func_type: this.annealStrategy,
      cycle_momentum: this.cycleMomentum,
    };
    if (this.cycleMomentum) s.use_beta1 = this.useBeta1;
    return s;
  }

  protected override loadExtraState(s: SchedulerStateDict): void {
    if ('total_steps' in s) this.totalSteps = readNumber(OWNER, s, 'total_steps');
    if ('_schedule_phases' in s) this.schedulePhases = readPhases(s._schedule_phases);
    const anneal = s._anneal_func_type ?? s.anneal_func;
    if (typeof anneal === 'string') {
      // Accept 'cos' / 'linear' and 1.13's method names (_annealing_cos / _annealing_linear).
      if (anneal.includes('linear')) this.annealStrategy = 'linear';
      else if (anneal.includes('cos')) this.annealStrategy = 'cos';
    }
    if ('cycle_momentum' in s) this.cycleMomentum = Boolean(s.cycle_momentum);
    if ('use_beta1' in s) this.useBeta1 = Boolean(s.use_beta1);
  }
}

function groupNumber(group: ParamGroupLike, index: number, key: string): number {
  const v = group[key];
  if (typeof v !== 'number') {
    throw new ArgumentError(
      `OneCycleLR: param_groups[${index}] has no number '${key}' (got ${describe(v)})`,
      'when resuming (last_epoch != -1) load the optimizer state dict first: OneCycleLR keeps its values in the param groups',
    );
  }
  return v;
}

function readPhases(value: unknown): OneCyclePhase[] {
  const keys = ['end_step', 'start_lr', 'end_lr', 'start_momentum', 'end_momentum'] as const;
  if (!Array.isArray(value)) {
    throw new ArgumentError(`OneCycleLR.loadStateDict: _schedule_phases must be a list, got ${describe(value)}`);
  }
  return value.map((p, i) => {
    const ok =
      p !== null &&
      typeof p === 'object' &&
      typeof p.end_step === 'number' &&
      keys.slice(1).every((k) => typeof p[k] === 'string');
    if (!ok) {
      throw new ArgumentError(
        `OneCycleLR.loadStateDict: _schedule_phases[${i}] must have ${keys.join(', ')}, got ${describe(p)}`,
      );
    }
    return {
      end_step: p.end_step,
      start_lr: p.start_lr,
      end_lr: p.end_lr,
      start_momentum: p.start_momentum,
      end_momentum: p.end_momentum,
    };
  });
}
