// Switching optimizers mid-run (Adam first, SGD with momentum later) over the same
// param groups. state 'keep' carries what means the same thing in the new optimizer (SGD
// momentum buffers to SGD, Adam moments to AdamW and back, RMSprop to RMSprop); the rest is
// dropped and said so in the returned note. Schedulers see the new groups through the runner.
import { ArgumentError } from '../errors.ts';
import {
  createOptimizer,
  type Optimizer,
  type OptimizerSpec,
  optimizerDefaults,
  optimizerType,
  type ParamGroupInput,
  type ParamGroupLike,
  type ParamState,
} from '../optim/index.ts';

export type StateCarry = 'reset' | 'keep';

/** An optimizer spec of a phase: `{ type: 'SGD', lr, momentum: 0.9, state: 'keep' }`. */
export interface PhaseOptimizerSpec extends OptimizerSpec {
  /** 'reset' (default): fresh state, as a new torch optimizer; 'keep': carry what is meaningful */
  state?: StateCarry;
}

export interface SwitchNote {
  from: string;
  to: string;
  state: StateCarry;
  /** state keys carried over */
  kept: string[];
  /** state keys dropped */
  dropped: string[];
  /** group hyper-parameters the new type does not take */
  droppedHyper: string[];
  text: string;
}

/** Keys of param groups that schedulers own: they move with the groups to the new optimizer. */
export const SCHEDULER_GROUP_KEYS = ['initial_lr', 'max_lr', 'min_lr', 'max_momentum', 'base_momentum'] as const;

/** An optimizer without tensors, for plans: param groups with hyper-parameters only. */
export class DryOptimizer {
  readonly dry = true;
  readonly type: string;
  readonly defaults: Record<string, unknown>;
  paramGroups: ParamGroupLike[];
  constructor(spec: OptimizerSpec, inputs: ParamGroupInput[]) {
    const { type, ...opts } = spec;
    this.type = optimizerType(type);
    const defaults: Record<string, unknown> = optimizerDefaults(this.type);
    for (const [k, v] of Object.entries(opts)) if (v !== undefined && k !== 'state') defaults[k] = v;
    this.defaults = defaults;
    this.paramGroups = inputs.map((g) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(g)) if (k !== 'params') out[k] = Array.isArray(v) ? [...v] : v;
      for (const [k, v] of Object.entries(defaults)) if (out[k] === undefined && v !== undefined) out[k] = v;
      if (typeof out.lr !== 'number') throw new ArgumentError(`${this.type}: a param group has no lr`);
      return out as ParamGroupLike;
    });
  }
}

export type AnyOptimizer = Optimizer | DryOptimizer;

/** Builds an optimizer (or a dry one for plans) from a spec and group inputs. */
export function buildOptimizer(spec: OptimizerSpec, inputs: ParamGroupInput[], dry: boolean): AnyOptimizer {
  const { state: _state, ...rest } = spec as PhaseOptimizerSpec;
  return dry ? new DryOptimizer(rest, inputs) : createOptimizer(rest, inputs);
}

function carriedKeys(from: string, to: string, group: ParamGroupLike): Set<string> {
  const adam = (t: string) => t === 'Adam' || t === 'AdamW';
  if (adam(from) && adam(to))
    return new Set(['step', 'exp_avg', 'exp_avg_sq', ...(group.amsgrad ? ['max_exp_avg_sq'] : [])]);
  if (from === 'SGD' && to === 'SGD') return new Set((group.momentum ?? 0) > 0 ? ['momentum_buffer'] : []);
  if (from === 'RMSprop' && to === 'RMSprop')
    return new Set([
      'step',
      'square_avg',
      ...((group.momentum ?? 0) > 0 ? ['momentum_buffer'] : []),
      ...(group.centered ? ['grad_avg'] : []),
    ]);
  return new Set();
}

/**
 * Replaces `old` by an optimizer built from `spec` over `inputs` (the same groups, in order),
 * each group keeping its current lr and the scheduler-owned keys. The old optimizer's state
 * tensors that are not carried are freed.
 */
export function switchOptimizer(
  old: AnyOptimizer,
  spec: PhaseOptimizerSpec,
  inputs: ParamGroupInput[],
): { optimizer: AnyOptimizer; note: SwitchNote } {
  const carry = spec.state ?? 'reset';
  if (carry !== 'reset' && carry !== 'keep')
    throw new ArgumentError(`optimizer state must be 'reset' or 'keep', got '${String(carry)}'`);
  if (inputs.length !== old.paramGroups.length)
    throw new ArgumentError(
      `switchOptimizer: ${inputs.length} groups given, the optimizer has ${old.paramGroups.length}`,
    );
  const to = optimizerType(spec.type);
  const from = old.type;
  const known = new Set(Object.keys(optimizerDefaults(to)));
  const droppedHyper = new Set<string>();
  const withLr = inputs.map((g, i) => {
    const prev = old.paramGroups[i]!;
    const out: ParamGroupInput = { ...g, lr: prev.lr };
    for (const k of SCHEDULER_GROUP_KEYS) if (prev[k] !== undefined) out[k] = prev[k];
    // flags left at false / None (capturable, fused) are not worth a mention; params and name are
    // the group itself, not hyper-parameters
    for (const [k, v] of Object.entries(prev))
      if (
        !known.has(k) &&
        k !== 'name' &&
        k !== 'params' &&
        !(SCHEDULER_GROUP_KEYS as readonly string[]).includes(k) &&
        v !== false &&
        v != null
      )
        droppedHyper.add(k);
    return out;
  });
  const optimizer = buildOptimizer({ ...spec, type: to }, withLr, old instanceof DryOptimizer);
  const kept = new Set<string>();
  const dropped = new Set<string>();
  if (!(old instanceof DryOptimizer) && !(optimizer instanceof DryOptimizer)) {
    old.paramGroups.forEach((g, gi) => {
      const keys = carry === 'keep' ? carriedKeys(from, to, optimizer.paramGroups[gi]!) : new Set<string>();
      for (const p of g.params) {
        const st = old.state.get(p);
        if (!st) continue;
        const next: ParamState = {};
        for (const [k, v] of Object.entries(st)) {
          if (keys.has(k) && v !== null) {
            next[k] = v;
            kept.add(k);
            delete st[k];
          } else dropped.add(k);
        }
        if (Object.keys(next).length) optimizer.state.set(p, next);
      }
    });
    old.dispose();
  }
  const text =
    `optimizer ${from} -> ${to} (state ${carry})` +
    (kept.size ? `; kept ${[...kept].join(', ')}` : '') +
    (dropped.size ? `; dropped ${[...dropped].join(', ')}` : '') +
    (droppedHyper.size ? `; hyper-parameters ${to} does not take: ${[...droppedHyper].join(', ')}` : '');
  return {
    optimizer,
    note: { from, to, state: carry, kept: [...kept], dropped: [...dropped], droppedHyper: [...droppedHyper], text },
  };
}
