// Pure lr-at-step functions: PyTorch's closed forms (`_get_closed_form_lr`, the values that
// `scheduler.step(epoch)` produces), usable without an optimizer for plotting or planning a run.
// The chainable `step()` computes the same schedule recursively; PyTorch's recursive values can
// differ from these in the last bits, and the scheduler classes reproduce the recursive ones.

import { bisectRight, cos, floorDiv, logBase, mod, pow } from '../util/pymath.ts';

export interface StepLROptions {
  step_size: number;
  gamma?: number;
}

/** StepLR: `base_lr * gamma ** (epoch // step_size)`. */
export function stepLrAt(baseLr: number, epoch: number, o: StepLROptions): number {
  return baseLr * pow(o.gamma ?? 0.1, floorDiv(epoch, o.step_size));
}

export interface MultiStepLROptions {
  milestones: readonly number[];
  gamma?: number;
}

/** MultiStepLR: `base_lr * gamma ** bisect_right(sorted(milestones), epoch)`; repeats count twice. */
export function multiStepLrAt(baseLr: number, epoch: number, o: MultiStepLROptions): number {
  const sorted = [...o.milestones].sort((a, b) => a - b);
  return baseLr * pow(o.gamma ?? 0.1, bisectRight(sorted, epoch));
}

export interface ConstantLROptions {
  factor?: number;
  total_iters?: number;
}

/** ConstantLR: `base_lr * factor` before `total_iters`, `base_lr` from then on. */
export function constantLrAt(baseLr: number, epoch: number, o: ConstantLROptions = {}): number {
  const factor = o.factor ?? 1 / 3;
  const totalIters = o.total_iters ?? 5;
  return baseLr * (factor + Number(epoch >= totalIters) * (1 - factor));
}

export interface LinearLROptions {
  start_factor?: number;
  end_factor?: number;
  total_iters?: number;
}

/** LinearLR: the factor moves linearly from start_factor to end_factor over total_iters. */
export function linearLrAt(baseLr: number, epoch: number, o: LinearLROptions = {}): number {
  const sf = o.start_factor ?? 1 / 3;
  const ef = o.end_factor ?? 1;
  const ti = o.total_iters ?? 5;
  return baseLr * (sf + ((ef - sf) * Math.min(ti, epoch)) / ti);
}

export interface ExponentialLROptions {
  gamma: number;
}

/** ExponentialLR: `base_lr * gamma ** epoch`. */
export function exponentialLrAt(baseLr: number, epoch: number, o: ExponentialLROptions): number {
  return baseLr * pow(o.gamma, epoch);
}

export interface PolynomialLROptions {
  total_iters?: number;
  power?: number;
}

/** PolynomialLR: `base_lr * (1 - min(total_iters, epoch) / total_iters) ** power`. */
export function polynomialLrAt(baseLr: number, epoch: number, o: PolynomialLROptions = {}): number {
  const ti = o.total_iters ?? 5;
  return baseLr * pow(1.0 - Math.min(ti, epoch) / ti, o.power ?? 1.0);
}

export interface CosineAnnealingLROptions {
  T_max: number;
  eta_min?: number;
}

/** CosineAnnealingLR: `eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2`. */
export function cosineAnnealingLrAt(baseLr: number, epoch: number, o: CosineAnnealingLROptions): number {
  const etaMin = o.eta_min ?? 0;
  return etaMin + ((baseLr - etaMin) * (1 + cos((Math.PI * epoch) / o.T_max))) / 2;
}

export interface CosineAnnealingWarmRestartsOptions {
  T_0: number;
  T_mult?: number;
  eta_min?: number;
}

/** Where `epoch` (fractional allowed) falls in SGDR's cycles: CosineAnnealingWarmRestarts.step(epoch). */
export function warmRestartsPosition(epoch: number, T_0: number, T_mult = 1): { T_cur: number; T_i: number } {
  if (epoch < T_0) return { T_cur: epoch, T_i: T_0 };
  if (T_mult === 1) return { T_cur: mod(epoch, T_0), T_i: T_0 };
  const n = Math.trunc(logBase((epoch / T_0) * (T_mult - 1) + 1, T_mult));
  const tMultN = intPow(T_mult, n);
  return { T_cur: epoch - (T_0 * (tMultN - 1)) / (T_mult - 1), T_i: T_0 * tMultN };
}

/** CosineAnnealingWarmRestarts at `epoch`: `eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2`. */
export function cosineWarmRestartsLrAt(baseLr: number, epoch: number, o: CosineAnnealingWarmRestartsOptions): number {
  const { T_cur, T_i } = warmRestartsPosition(epoch, o.T_0, o.T_mult ?? 1);
  return warmRestartsLr(baseLr, T_cur, T_i, o.eta_min ?? 0);
}

export function warmRestartsLr(baseLr: number, tCur: number, tI: number, etaMin: number): number {
  return etaMin + ((baseLr - etaMin) * (1 + cos((Math.PI * tCur) / tI))) / 2;
}

/** Python's int ** int: exact for the small integers schedules use. */
export function intPow(base: number, n: number): number {
  let r = 1;
  for (let i = 0; i < n; i++) r *= base;
  return r;
}

// ---- OneCycleLR ----

/** OneCycleLR's `_anneal_func`s. */
export function annealCos(start: number, end: number, pct: number): number {
  const cosOut = cos(Math.PI * pct) + 1;
  return end + ((start - end) / 2.0) * cosOut;
}

export function annealLinear(start: number, end: number, pct: number): number {
  return (end - start) * pct + start;
}

export type AnnealStrategy = 'cos' | 'linear';

/** One entry of OneCycleLR's `_schedule_phases` (PyTorch's keys; the values name group keys). */
export interface OneCyclePhase {
  end_step: number;
  start_lr: string;
  end_lr: string;
  start_momentum: string;
  end_momentum: string;
}

export function oneCyclePhases(totalSteps: number, pctStart: number, threePhase: boolean): OneCyclePhase[] {
  if (threePhase) {
    return [
      phase(pctStart * totalSteps - 1, 'initial_lr', 'max_lr', 'max_momentum', 'base_momentum'),
      phase(2 * pctStart * totalSteps - 2, 'max_lr', 'initial_lr', 'base_momentum', 'max_momentum'),
      phase(totalSteps - 1, 'initial_lr', 'min_lr', 'max_momentum', 'max_momentum'),
    ];
  }
  return [
    phase(pctStart * totalSteps - 1, 'initial_lr', 'max_lr', 'max_momentum', 'base_momentum'),
    phase(totalSteps - 1, 'max_lr', 'min_lr', 'base_momentum', 'max_momentum'),
  ];
}

function phase(endStep: number, sl: string, el: string, sm: string, em: string): OneCyclePhase {
  return { end_step: endStep, start_lr: sl, end_lr: el, start_momentum: sm, end_momentum: em };
}

/** OneCycleLR.get_lr for one group: `values` holds the group's initial_lr, max_lr, min_lr, momenta. */
export function oneCycleValue(
  stepNum: number,
  phases: readonly OneCyclePhase[],
  values: Readonly<Record<string, number>>,
  anneal: AnnealStrategy,
  cycleMomentum: boolean,
): { lr: number; momentum?: number } {
  const fn = anneal === 'cos' ? annealCos : annealLinear;
  let startStep = 0;
  for (let i = 0; i < phases.length; i++) {
    const p = phases[i]!;
    const endStep = p.end_step;
    if (stepNum <= endStep || i === phases.length - 1) {
      const pct = (stepNum - startStep) / (endStep - startStep);
      const lr = fn(values[p.start_lr]!, values[p.end_lr]!, pct);
      if (!cycleMomentum) return { lr };
      return { lr, momentum: fn(values[p.start_momentum]!, values[p.end_momentum]!, pct) };
    }
    startStep = p.end_step;
  }
  throw new Error('unreachable: OneCycleLR has at least one phase');
}

export interface OneCycleOptions {
  max_lr: number;
  total_steps: number;
  pct_start?: number;
  anneal_strategy?: AnnealStrategy;
  div_factor?: number;
  final_div_factor?: number;
  three_phase?: boolean;
  base_momentum?: number;
  max_momentum?: number;
}

/** OneCycleLR's LR and momentum at batch `step` (0 = the value set by the constructor). */
export function oneCycleAt(step: number, o: OneCycleOptions): { lr: number; momentum: number } {
  const initialLr = o.max_lr / (o.div_factor ?? 25);
  const values = {
    initial_lr: initialLr,
    max_lr: o.max_lr,
    min_lr: initialLr / (o.final_div_factor ?? 1e4),
    max_momentum: o.max_momentum ?? 0.95,
    base_momentum: o.base_momentum ?? 0.85,
  };
  const phases = oneCyclePhases(o.total_steps, o.pct_start ?? 0.3, o.three_phase ?? false);
  const r = oneCycleValue(step, phases, values, o.anneal_strategy ?? 'cos', true);
  return { lr: r.lr, momentum: r.momentum! };
}
