// Pieces of a phase the runner applies: scheduler specs with a stepping interval (and lengths
// filled in from the phase), learning-rate changes by group name, and Lightning-style ramps.
import { ArgumentError } from '../errors.ts';
import { type OptimizerSpec, optimizerDefaults } from '../optim/index.ts';
import { camelAlias, type SchedulerSpec } from '../schedule/index.ts';
import type { BnPolicy, FreezeInput } from './freeze.ts';
import { type GroupsConfig, groupIndices } from './groups.ts';
import type { SelectContext } from './select.ts';
import type { PhaseOptimizerSpec } from './switch.ts';

/** A scheduler of a phase: createScheduler's spec plus when to step it and on which metric. */
export interface PhaseSchedulerSpec extends SchedulerSpec {
  /** 'epoch' (default): stepped after each epoch (onEpochEnd); 'step': after each optimizer step */
  interval?: 'epoch' | 'step';
  /** ReduceLROnPlateau: the metric of onEpochEnd(epoch, metrics) it watches ('eval.accuracy'; default 'eval.loss') */
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
  if (monitor !== undefined) checkMonitorForm(monitor);
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
    'fit() gives it from the training data; data of unknown length needs stepsPerEpoch in the run spec, or the length in the scheduler spec',
  );
}

/** Whether a scheduler started at phase i (-1: the whole run) needs stepsPerEpoch for its length. */
export function needsStepsPerEpoch(spec: RunSpec, i: number, interval: 'epoch' | 'step'): boolean {
  const phases = i < 0 ? spec.phases : [spec.phases[i]!];
  return phases.some((p) => (interval === 'step' ? p.epochs !== undefined : p.steps !== undefined));
}

/** Epochs of the whole run, when every phase's length is known in epochs (or steps and stepsPerEpoch). */
export function runEpochs(phases: readonly PhaseSpec[], stepsPerEpoch: number | undefined): number | undefined {
  let n = 0;
  for (const p of phases) {
    if (p.epochs !== undefined) n += p.epochs;
    else if (stepsPerEpoch) n += p.steps! / stepsPerEpoch;
    else return undefined;
  }
  return Math.ceil(n);
}

/** The metric names the run's ReduceLROnPlateau schedulers watch. */
export function plateauMonitors(spec: RunSpec): string[] {
  const scheds = [spec.scheduler, ...spec.phases.map((p) => p.scheduler)];
  return scheds.flatMap((s) =>
    s && s.type === 'ReduceLROnPlateau' && typeof s.monitor === 'string' ? [s.monitor] : [],
  );
}

/**
 * The value ReduceLROnPlateau steps on: metrics[monitor], by default eval.loss (train.loss without
 * validation). Plans (dry) have no metrics: undefined, no reduction shown.
 */
export function plateauValue(
  monitor: string | undefined,
  metrics: Record<string, number>,
  dry: boolean,
): number | undefined {
  const key = monitor ?? ('eval.loss' in metrics || dry ? 'eval.loss' : 'train.loss');
  const v = metrics[key];
  if (typeof v === 'number' || dry) return v;
  throw new ArgumentError(
    `ReduceLROnPlateau watches '${key}', but onEpochEnd got ${Object.keys(metrics).join(', ') || 'no metrics'}`,
    "pass it in metrics, or set the scheduler's monitor",
  );
}

/**
 * A monitor is `<split>.<metric>` (src/train's metric names: eval.loss, eval.accuracy, ...); the
 * trainer checks the full name when fitting starts, this rejects Keras-style names at once.
 */
function checkMonitorForm(m: string): void {
  if (typeof m === 'string' && /^(train|eval)\.[A-Za-z0-9]+$/.test(m)) return;
  const keras = /^(val|train)_(.+)$/.exec(String(m));
  const metric = keras ? (keras[2] === 'acc' ? 'accuracy' : keras[2]) : undefined;
  throw new ArgumentError(
    `ReduceLROnPlateau monitor '${String(m)}' is not a metric name (train.loss, eval.loss, eval.accuracy, eval.top5, eval.macroF1, ...)`,
    keras
      ? `did you mean '${keras[1] === 'val' ? 'eval' : 'train'}.${metric}'?`
      : 'metric names are <split>.<metric>, split train or eval',
  );
}

/** A run needs phases, each of one positive length; stepsPerEpoch, when given, is a positive integer. */
export function checkRunSpec(spec: RunSpec): void {
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
}

/** Whether stepsPerEpoch given by the trainer changes anything; throws when it contradicts the spec's or comes late. */
export function checkLateStepsPerEpoch(current: number | undefined, steps: number, started: boolean): boolean {
  if (!(Number.isInteger(steps) && steps > 0))
    throw new ArgumentError(`stepsPerEpoch must be a positive integer, got ${steps}`);
  if (current === steps) return false;
  if (current !== undefined)
    throw new ArgumentError(
      `the run spec says ${current} steps per epoch, but the training data gives ${steps} (batches / accumulate)`,
      'leave stepsPerEpoch out of the run spec: fit() gives it from the data',
    );
  if (started) throw new ArgumentError('stepsPerEpoch must be given before the first epoch starts');
  return true;
}

/** The largest weight decay any of the run's optimizers uses: the groups' default. */
export function maxWeightDecay(spec: RunSpec): number {
  const specs = [spec.optimizer, ...spec.phases.flatMap((p) => (p.optimizer ? [p.optimizer] : []))];
  return Math.max(...specs.map((s) => Number(s.weight_decay ?? optimizerDefaults(s.type).weight_decay ?? 0)));
}
