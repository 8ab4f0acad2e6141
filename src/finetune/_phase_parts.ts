// Pieces of a phase the runner applies: scheduler specs with a stepping interval (and lengths
// filled in from the phase), learning-rate changes by group name, and Lightning-style ramps.
import { ArgumentError } from '../errors.ts';
import type { OptimizerSpec } from '../optim/index.ts';
import { camelAlias, type SchedulerSpec } from '../schedule/index.ts';
import type { BnPolicy, FreezeInput } from './freeze.ts';
import { type GroupsConfig, groupIndices } from './groups.ts';
import type { SelectContext } from './select.ts';
import type { PhaseOptimizerSpec } from './switch.ts';

/** A scheduler of a phase: createScheduler's spec plus when to step it and on which metric. */
export interface PhaseSchedulerSpec extends SchedulerSpec {
  /** 'epoch' (default): stepped after each epoch (onEpochEnd); 'step': after each optimizer step */
  interval?: 'epoch' | 'step';
  /** ReduceLROnPlateau: the metric of onEpochEnd(epoch, metrics) it watches (default 'val_loss') */
  monitor?: string;
}

/** An lr: a number, or another group's current lr times a factor ({ of: 'head', times: 0.1 }). */
export type LrValue = number | { of: string; times?: number };

/** Learning-rate changes at the start of a phase; keys are group names (a logical name covers its .no_decay part). */
export interface LrChange {
  /** one value for every group, or values by group */
  set?: LrValue | Record<string, LrValue>;
  /** multiply current lrs: one factor or factors by group */
  scale?: number | Record<string, number>;
  /** every group to one value (seed 000: { equalise: lr * 0.1 }) */
  equalise?: LrValue;
}

/**
 * Lightning's BackboneFinetuning ramp: at each epoch after the phase's first, the groups' lr
 * becomes factor(epoch + 1) x its previous value (Lightning's lambda_func gets epoch + 1), never
 * above alignTo's lr (should_align).
 */
export interface RampSpec {
  groups: string | string[];
  factor: number | ((epoch: number) => number);
  alignTo?: string;
}

type Named = readonly { name: string; group: string }[];

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !('of' in (v as object));

/** Every group's lr after a change; `get(i)` reads group i's current lr (all reads happen before any write). */
export function lrAfter(ch: LrChange, groups: Named, get: (i: number) => number): number[] {
  if (ch === null || typeof ch !== 'object') throw new ArgumentError(`lr change must be an object, got ${String(ch)}`);
  for (const k of Object.keys(ch))
    if (!['set', 'scale', 'equalise'].includes(k))
      throw new ArgumentError(`lr change: unknown key '${k}'`, 'use set, scale or equalise');
  const value = (v: LrValue, where: string): number => {
    if (typeof v === 'number') {
      if (!Number.isFinite(v) || v < 0) throw new ArgumentError(`${where}: lr must be a number >= 0, got ${v}`);
      return v;
    }
    if (v && typeof v === 'object' && typeof v.of === 'string')
      return get(groupIndices(groups, v.of)[0]!) * (v.times ?? 1);
    throw new ArgumentError(`${where}: expected a number or { of: group, times }, got ${JSON.stringify(v)}`);
  };
  const current = groups.map((_, i) => get(i));
  const next = [...current];
  const all = groups.map((_, i) => i);
  if (ch.equalise !== undefined) {
    const v = value(ch.equalise, 'lr.equalise');
    for (const i of all) next[i] = v;
  }
  if (ch.set !== undefined) {
    if (isRecord(ch.set))
      for (const [k, v] of Object.entries(ch.set)) {
        const x = value(v as LrValue, `lr.set.${k}`);
        for (const i of groupIndices(groups, k)) next[i] = x;
      }
    else {
      const x = value(ch.set as LrValue, 'lr.set');
      for (const i of all) next[i] = x;
    }
  }
  if (ch.scale !== undefined) {
    const factor = (f: unknown, where: string): number => {
      if (typeof f !== 'number' || !Number.isFinite(f) || f < 0)
        throw new ArgumentError(`${where}: factor must be a number >= 0, got ${String(f)}`);
      return f;
    };
    if (typeof ch.scale === 'number') for (const i of all) next[i] = next[i]! * factor(ch.scale, 'lr.scale');
    else
      for (const [k, f] of Object.entries(ch.scale))
        for (const i of groupIndices(groups, k)) next[i] = next[i]! * factor(f, `lr.scale.${k}`);
  }
  return next;
}

const HF_DECAY = new Set([
  'linear_schedule_with_warmup',
  'cosine_schedule_with_warmup',
  'cosine_with_hard_restarts_schedule_with_warmup',
  'polynomial_decay_schedule_with_warmup',
  'linear',
  'cosine',
  'cosine_with_restarts',
  'polynomial',
]);

const has = (o: Record<string, unknown>, key: string): boolean =>
  o[key] !== undefined || o[camelAlias(key)] !== undefined;

/**
 * Splits a phase scheduler spec into createScheduler's spec, interval and monitor, filling in
 * lengths from the phase where the spec leaves them out: OneCycleLR total_steps (and max_lr: the
 * groups' current lrs), CosineAnnealingLR T_max, Hugging Face num_training_steps.
 */
export function schedulerParts(
  spec: PhaseSchedulerSpec,
  length: () => number,
  lrs: () => number[],
): { spec: SchedulerSpec; interval: 'epoch' | 'step'; monitor: string | undefined } {
  if (spec === null || typeof spec !== 'object' || typeof spec.type !== 'string')
    throw new ArgumentError(`phase scheduler must be { type, ... }, got ${JSON.stringify(spec)}`);
  const { interval = 'epoch', monitor, ...rest } = spec;
  if (interval !== 'epoch' && interval !== 'step')
    throw new ArgumentError(`scheduler interval must be 'epoch' or 'step', got '${String(interval)}'`);
  if (rest.type === 'ReduceLROnPlateau' && interval !== 'epoch')
    throw new ArgumentError("ReduceLROnPlateau steps on a metric after each epoch: use interval 'epoch'");
  if (monitor !== undefined && rest.type !== 'ReduceLROnPlateau')
    throw new ArgumentError(`monitor is for ReduceLROnPlateau, not ${rest.type}`);
  const out: SchedulerSpec = { ...rest };
  if (rest.type === 'OneCycleLR') {
    if (!has(out, 'total_steps') && !has(out, 'epochs') && !has(out, 'steps_per_epoch')) out.total_steps = length();
    if (!has(out, 'max_lr')) out.max_lr = lrs();
  }
  if (rest.type === 'CosineAnnealingLR' && !has(out, 'T_max')) out.T_max = length();
  if (HF_DECAY.has(rest.type) && !has(out, 'num_training_steps')) out.num_training_steps = length();
  return { spec: out, interval, monitor };
}

export interface PhaseSpec {
  name?: string;
  /** length in epochs (or steps; exactly one) */
  epochs?: number;
  steps?: number;
  /** what is frozen from this phase on; undefined keeps the previous phase's ('none' at the start) */
  freeze?: FreezeInput;
  /** lr changes at the phase start (before a new scheduler takes its base lrs from them) */
  lr?: LrChange;
  /** a new scheduler from this phase on; null stops the current one; undefined keeps it */
  scheduler?: PhaseSchedulerSpec | null;
  /** switch the optimizer at the phase start (same groups, current lrs) */
  optimizer?: PhaseOptimizerSpec;
  /** Lightning BackboneFinetuning's per-epoch lr ramp */
  ramp?: RampSpec;
}

export interface RunSpec {
  optimizer: OptimizerSpec;
  groups?: GroupsConfig;
  /** started with phase 0 unless phase 0 gives a scheduler of its own */
  scheduler?: PhaseSchedulerSpec;
  phases: PhaseSpec[];
  /** optimizer steps per epoch: needed for per-step schedulers sized by a phase in epochs, and plans */
  stepsPerEpoch?: number;
  /** BatchNorm policy for freeze specs that name none (default 'freeze-all') */
  bn?: BnPolicy;
}

export interface RunnerOptions extends Omit<SelectContext, 'model'> {
  /** plan mode: no tensors, the model is never touched */
  dry?: boolean;
}

export interface RunnerNote {
  epoch: number;
  step: number;
  text: string;
}

/** Each phase has exactly one positive integer length. */
export function checkLength(p: PhaseSpec, i: number): void {
  if (!p || typeof p !== 'object') throw new ArgumentError(`phase ${i} must be an object`);
  const e = p.epochs;
  const s = p.steps;
  if ((e === undefined) === (s === undefined))
    throw new ArgumentError(`phase ${i}${p.name ? ` '${p.name}'` : ''} needs exactly one of epochs / steps`);
  const n = (e ?? s)!;
  if (!Number.isInteger(n) || n < 1)
    throw new ArgumentError(`phase ${i}: ${e !== undefined ? 'epochs' : 'steps'} must be a positive integer, got ${n}`);
}

/** A phase's length in scheduler steps; i = -1: the whole run (for a run-level scheduler). */
export function phaseLength(spec: RunSpec, i: number, interval: 'epoch' | 'step'): number {
  if (i < 0) {
    let n = 0;
    for (let j = 0; j < spec.phases.length; j++) n += phaseLength(spec, j, interval);
    return n;
  }
  const p = spec.phases[i]!;
  const spe = spec.stepsPerEpoch;
  if (interval === 'epoch') {
    if (p.epochs !== undefined) return p.epochs;
    if (spe) return Math.ceil(p.steps! / spe);
  } else {
    if (p.steps !== undefined) return p.steps;
    if (spe) return p.epochs! * spe;
  }
  throw new ArgumentError(
    `phase ${i}: a per-${interval} scheduler sized by a phase in ${p.epochs !== undefined ? 'epochs' : 'steps'} needs stepsPerEpoch`,
    'give stepsPerEpoch in the run spec, or the length in the scheduler spec',
  );
}
