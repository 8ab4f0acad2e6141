// Hugging Face transformers' warm-up schedules as LambdaLR lambdas. The formulas follow
// transformers/src/transformers/optimization.py (_get_linear_schedule_with_warmup_lr_lambda,
// _get_cosine_schedule_with_warmup_lr_lambda, _get_cosine_with_hard_restarts_schedule_with_warmup_lr_lambda,
// _get_constant_schedule_with_warmup_lr_lambda, _get_polynomial_decay_schedule_with_warmup_lr_lambda),
// with the same operation order, so a LambdaLR built here gives the LRs transformers gives.

import { ArgumentError } from '../errors.ts';
import type { OptimizerLike } from '../optim/types.ts';
import { cos, mod, pow } from '../util/pymath.ts';
import { checkInt, checkNumber } from './_base.ts';
import { LambdaLR } from './lambda.ts';

export interface WarmupOptions {
  num_warmup_steps: number;
}

export interface WarmupDecayOptions extends WarmupOptions {
  num_training_steps: number;
}

export interface CosineWarmupOptions extends WarmupDecayOptions {
  /** Number of cosine waves: 0.5 (default) decays from the peak to 0 once. */
  num_cycles?: number;
}

export interface PolynomialWarmupOptions extends WarmupDecayOptions {
  lr_end?: number;
  power?: number;
  /** transformers uses optimizer.defaults['lr']. */
  lr_init: number;
}

/** Linear warm-up over num_warmup_steps, then 1. */
export function constantWithWarmupFactor(step: number, o: WarmupOptions): number {
  if (step < o.num_warmup_steps) return step / Math.max(1.0, o.num_warmup_steps);
  return 1.0;
}

/** Linear warm-up, then linear decay to 0 at num_training_steps. */
export function linearWithWarmupFactor(step: number, o: WarmupDecayOptions): number {
  const w = o.num_warmup_steps;
  if (step < w) return step / Math.max(1, w);
  return Math.max(0.0, (o.num_training_steps - step) / Math.max(1, o.num_training_steps - w));
}

/** Linear warm-up, then cosine decay (num_cycles 0.5: from the peak to 0). */
export function cosineWithWarmupFactor(step: number, o: CosineWarmupOptions): number {
  const w = o.num_warmup_steps;
  if (step < w) return step / Math.max(1, w);
  const progress = (step - w) / Math.max(1, o.num_training_steps - w);
  return Math.max(0.0, 0.5 * (1.0 + cos(Math.PI * (o.num_cycles ?? 0.5) * 2.0 * progress)));
}

/** Linear warm-up, then num_cycles cosine decays with hard restarts. */
export function cosineWithHardRestartsFactor(step: number, o: CosineWarmupOptions): number {
  const w = o.num_warmup_steps;
  if (step < w) return step / Math.max(1, w);
  const progress = (step - w) / Math.max(1, o.num_training_steps - w);
  if (progress >= 1.0) return 0.0;
  return Math.max(0.0, 0.5 * (1.0 + cos(Math.PI * mod((o.num_cycles ?? 1) * progress, 1.0))));
}

/** Linear warm-up, then polynomial decay from lr_init to lr_end (as a factor of lr_init). */
export function polynomialWithWarmupFactor(step: number, o: PolynomialWarmupOptions): number {
  const w = o.num_warmup_steps;
  const lrEnd = o.lr_end ?? 1e-7;
  if (step < w) return step / Math.max(1, w);
  if (step > o.num_training_steps) return lrEnd / o.lr_init;
  const lrRange = o.lr_init - lrEnd;
  const decaySteps = o.num_training_steps - w;
  const pctRemaining = 1 - (step - w) / decaySteps;
  const decay = lrRange * pow(pctRemaining, o.power ?? 1.0) + lrEnd;
  return decay / o.lr_init;
}

function checkWarmup(owner: string, o: Partial<WarmupDecayOptions> | undefined, needsTotal: boolean): void {
  checkInt(owner, 'num_warmup_steps', o?.num_warmup_steps, 0);
  if (needsTotal) checkInt(owner, 'num_training_steps', o?.num_training_steps, 0);
}

/** transformers.get_constant_schedule_with_warmup. */
export function getConstantScheduleWithWarmup(
  optimizer: OptimizerLike,
  o: WarmupOptions & { last_epoch?: number },
): LambdaLR {
  checkWarmup('get_constant_schedule_with_warmup', o, false);
  const opts = { num_warmup_steps: o.num_warmup_steps };
  return new LambdaLR(optimizer, { lr_lambda: (s) => constantWithWarmupFactor(s, opts), last_epoch: o.last_epoch });
}

/** transformers.get_linear_schedule_with_warmup. */
export function getLinearScheduleWithWarmup(
  optimizer: OptimizerLike,
  o: WarmupDecayOptions & { last_epoch?: number },
): LambdaLR {
  checkWarmup('get_linear_schedule_with_warmup', o, true);
  const opts = { num_warmup_steps: o.num_warmup_steps, num_training_steps: o.num_training_steps };
  return new LambdaLR(optimizer, { lr_lambda: (s) => linearWithWarmupFactor(s, opts), last_epoch: o.last_epoch });
}

/** transformers.get_cosine_schedule_with_warmup (num_cycles defaults to 0.5). */
export function getCosineScheduleWithWarmup(
  optimizer: OptimizerLike,
  o: CosineWarmupOptions & { last_epoch?: number },
): LambdaLR {
  const owner = 'get_cosine_schedule_with_warmup';
  checkWarmup(owner, o, true);
  const opts = {
    num_warmup_steps: o.num_warmup_steps,
    num_training_steps: o.num_training_steps,
    num_cycles: checkNumber(owner, 'num_cycles', o.num_cycles ?? 0.5),
  };
  return new LambdaLR(optimizer, { lr_lambda: (s) => cosineWithWarmupFactor(s, opts), last_epoch: o.last_epoch });
}

/** transformers.get_cosine_with_hard_restarts_schedule_with_warmup (num_cycles defaults to 1). */
export function getCosineWithHardRestartsScheduleWithWarmup(
  optimizer: OptimizerLike,
  o: CosineWarmupOptions & { last_epoch?: number },
): LambdaLR {
  const owner = 'get_cosine_with_hard_restarts_schedule_with_warmup';
  checkWarmup(owner, o, true);
  const opts = {
    num_warmup_steps: o.num_warmup_steps,
    num_training_steps: o.num_training_steps,
    num_cycles: checkNumber(owner, 'num_cycles', o.num_cycles ?? 1),
  };
  return new LambdaLR(optimizer, {
    lr_lambda: (s) => cosineWithHardRestartsFactor(s, opts),
    last_epoch: o.last_epoch,
  });
}

/**
 * transformers.get_polynomial_decay_schedule_with_warmup. `lr_init` defaults to the optimizer's
 * `defaults.lr` when it has one, else the first group's initial lr.
 */
export function getPolynomialDecayScheduleWithWarmup(
  optimizer: OptimizerLike,
  o: Omit<PolynomialWarmupOptions, 'lr_init'> & { lr_init?: number; last_epoch?: number },
): LambdaLR {
  const owner = 'get_polynomial_decay_schedule_with_warmup';
  checkWarmup(owner, o, true);
  const defaults = (optimizer as { defaults?: { lr?: unknown } }).defaults;
  const g0 = optimizer.paramGroups[0];
  const lrInit = checkNumber(owner, 'lr_init', o.lr_init ?? defaults?.lr ?? g0?.initial_lr ?? g0?.lr);
  const lrEnd = checkNumber(owner, 'lr_end', o.lr_end ?? 1e-7);
  if (!(lrInit > lrEnd)) {
    throw new ArgumentError(`${owner}: lr_end (${lrEnd}) must be smaller than initial lr (${lrInit})`);
  }
  const opts = {
    num_warmup_steps: o.num_warmup_steps,
    num_training_steps: o.num_training_steps,
    lr_end: lrEnd,
    power: checkNumber(owner, 'power', o.power ?? 1.0),
    lr_init: lrInit,
  };
  return new LambdaLR(optimizer, { lr_lambda: (s) => polynomialWithWarmupFactor(s, opts), last_epoch: o.last_epoch });
}
