// Optimizer base after torch/optim/optimizer.py (1.13): param_groups with hyper-parameters
// under torch.optim's names, per-parameter state, and state dicts in torch.optim's layout
// (state keyed by the parameter's index in group order), so optimizer state moves between
// graft and PyTorch checkpoints.
import { ArgumentError } from '../errors.ts';
import { aten, enableGrad, noGrad, Tensor, tidy } from '../tensor/index.ts';
import { checkValues, type HSpecs, REQUIRED, resolveDefaults } from './_hparams.ts';
import { cacheChunks, listOps } from './_ops.ts';
import { castState, normalizeStateDict } from './_statedict.ts';
import type { OptimizerLike, ParamGroupLike } from './types.ts';

export type StateValue = Tensor | number | boolean | string | null | StateValue[] | { [key: string]: StateValue };
/** One parameter's state: momentum_buffer, step, exp_avg, exp_avg_sq, square_avg, ... */
export type ParamState = Record<string, StateValue>;

export interface ParamGroup extends ParamGroupLike {
  params: Tensor[];
}

/** A parameter group as given: its tensors and any hyper-parameters that override the defaults. */
export interface ParamGroupInput {
  params: Tensor | Iterable<Tensor>;
  [key: string]: unknown;
}

export type ParamsInput = Iterable<Tensor> | Iterable<ParamGroupInput>;

/** A param group in a state dict: hyper-parameters plus the indices of its parameters. */
export interface PackedParamGroup {
  params: number[];
  [key: string]: unknown;
}

export interface OptimizerStateDict {
  state: Map<number, ParamState>;
  param_groups: PackedParamGroup[];
}

/**
 * What loadStateDict takes: a state dict from stateDict(), the same with string keys (JSON), or
 * torch.load's tree from src/io's readPth (dicts as Maps, tensors as RawTensor records).
 */
export type OptimizerStateDictInput =
  | {
      state: Map<number | string, unknown> | Record<string, unknown>;
      param_groups: (PackedParamGroup | Map<string, unknown>)[];
    }
  | Map<string, unknown>;

const groupName = (g: Record<string, unknown>, i: number): string =>
  typeof g.name === 'string' ? `group ${i} ('${g.name}')` : `group ${i}`;

function copyValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copyValue);
  if (v !== null && typeof v === 'object' && !(v instanceof Tensor) && Object.getPrototypeOf(v) === Object.prototype)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copyValue(x)]));
  return v;
}

const isSameParam = (a: Tensor, b: Tensor): boolean => aten('aten::is_set_to')(a, b) as boolean;

export abstract class Optimizer implements OptimizerLike {
  /** torch.optim's class name: 'SGD', 'Adam', 'AdamW', 'RMSprop' */
  abstract readonly type: string;
  readonly defaults: Record<string, unknown>;
  paramGroups: ParamGroup[] = [];
  /** Per-parameter state, keyed by the parameter Tensor object. */
  state = new Map<Tensor, ParamState>();
  readonly #specs: HSpecs;
  readonly #owner: string;

  protected constructor(owner: string, specs: HSpecs, params: ParamsInput, options: Record<string, unknown>) {
    this.#owner = owner;
    this.#specs = specs;
    this.defaults = resolveDefaults(owner, specs, options);
    this.checkGroup(this.defaults, 'options');
    if (params instanceof Tensor)
      throw new ArgumentError(
        `${owner}: params must be an array of Tensors or of param groups, got one Tensor`,
        'wrap it: [t]',
      );
    if (params === null || typeof params !== 'object' || !(Symbol.iterator in params))
      throw new ArgumentError(`${owner}: params must be an array of Tensors or of param groups`);
    const list = Array.from(params as Iterable<unknown>);
    if (list.length === 0) throw new ArgumentError(`${owner}: optimizer got an empty parameter list`);
    const groups = list[0] instanceof Tensor ? [{ params: list as Tensor[] }] : (list as ParamGroupInput[]);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Checks that hold across keys (SGD: nesterov needs momentum); `where` names the group. */
  protected checkGroup(_group: Record<string, unknown>, _where: string): void {}

  /**
   * Updates the parameters of one group that have a gradient, under noGrad. Every update rule is
   * per parameter, so it runs a few MB of parameters at a time (temporaries freed per range):
   * the same values, with the buffers still in cache (cacheChunks).
   */
  protected updateGroup(group: ParamGroup): void {
    const { params, grads } = this.withGrads(group);
    for (const [a, b] of cacheChunks(params))
      tidy(() => this.updateChunk(group, params.slice(a, b), grads.slice(a, b)));
  }

  /** The update rule for some of a group's parameters and their gradients. */
  protected abstract updateChunk(group: ParamGroup, params: Tensor[], grads: Tensor[]): void;

  /**
   * Adds a group (PyTorch's add_param_group): params must be leaf floating-point tensors, not already
   * in a group; hyper-parameters it does not give come from the defaults.
   */
  addParamGroup(input: ParamGroupInput): ParamGroup {
    const gi = this.paramGroups.length;
    if (input === null || typeof input !== 'object' || input instanceof Tensor || !('params' in input))
      throw new ArgumentError(`${this.#owner}: param group ${gi} must be an object { params, ...hyper-parameters }`);
    const where = groupName(input, gi);
    const raw = input.params;
    const params = raw instanceof Tensor ? [raw] : raw && typeof raw === 'object' ? Array.from(raw) : undefined;
    if (!params) throw new ArgumentError(`${this.#owner}: ${where}: params must be a Tensor or an array of Tensors`);
    params.forEach((p, j) => {
      if (!(p instanceof Tensor))
        throw new ArgumentError(
          `${this.#owner}: optimizer can only optimize Tensors, but ${where} param ${j} is ${typeof p}`,
        );
      if (!p.isFloatingPoint)
        throw new ArgumentError(
          `${this.#owner}: ${where} param ${j} is ${p.dtype}: only floating-point tensors can be optimized`,
        );
      if (!p.isLeaf)
        throw new ArgumentError(
          `${this.#owner}: can't optimize a non-leaf Tensor (${where} param ${j}, shape [${p.shape}])`,
          'pass the parameter itself, or x.detach().requiresGrad_()',
        );
    });
    const group: ParamGroup = { params } as unknown as ParamGroup;
    for (const [k, v] of Object.entries(input)) if (k !== 'params') group[k] = copyValue(v);
    for (const [k, v] of Object.entries(this.defaults)) {
      if (group[k] !== undefined) continue;
      if (v === REQUIRED)
        throw new ArgumentError(
          `${this.#owner}: ${where} didn't specify a value of required optimization parameter ${k}`,
          `give ${k} in the group or in the optimizer's options`,
        );
      group[k] = copyValue(v);
    }
    checkValues(`${this.#owner} ${where}`, this.#specs, group);
    this.checkGroup(group, where);
    this.#checkDisjoint(group, gi, where);
    this.paramGroups.push(group);
    return group;
  }

  // A parameter in two groups would be stepped twice: an error naming both. Identity first, then
  // same storage/offset/strides (two wrappers of one tensor), compared among equal shapes only.
  #checkDisjoint(group: ParamGroup, gi: number, where: string): void {
    type Seen = { p: Tensor; i: number; j: number };
    const key = (p: Tensor): string => `${p.dtype}[${p.shape}]`;
    const seen = new Map<string, Seen[]>();
    const add = (s: Seen): void => {
      const b = seen.get(key(s.p));
      if (b) b.push(s);
      else seen.set(key(s.p), [s]);
    };
    this.paramGroups.forEach((g, i) => {
      g.params.forEach((p, j) => {
        add({ p, i, j });
      });
    });
    group.params.forEach((p, j) => {
      const bucket = seen.get(key(p)) ?? [];
      const hit =
        bucket.find((s) => s.p === p) ?? (p.numel() > 0 ? bucket.find((s) => isSameParam(p, s.p)) : undefined);
      if (hit && hit.i === gi)
        throw new ArgumentError(
          `${this.#owner}: ${where} lists a parameter twice (param ${hit.j} and param ${j}, shape [${p.shape}])`,
          'give each parameter once',
        );
      if (hit)
        throw new ArgumentError(
          `${this.#owner}: a parameter appears in more than one parameter group: ` +
            `${groupName(this.paramGroups[hit.i]!, hit.i)} (param ${hit.j}) and ${where} (param ${j}), shape [${p.shape}]`,
          'give each parameter to exactly one group',
        );
      add({ p, i: gi, j });
    });
  }

  /** Clears gradients: drops them (PyTorch's set_to_none=True, the default here) or zeroes them in place. */
  zeroGrad({ setToNone = true }: { setToNone?: boolean } = {}): void {
    tidy(() => {
      const grads: Tensor[] = [];
      for (const g of this.paramGroups)
        for (const p of g.params) {
          if (setToNone) {
            p.zeroGrad();
            continue;
          }
          const grad = p.grad;
          if (!grad) continue;
          if (grad.requiresGrad) {
            if (grad.gradFn) aten('aten::detach_')(grad);
            else grad.requiresGrad = false;
          }
          grads.push(grad);
        }
      listOps(this.defaults.foreach).zero_(grads);
    });
  }

  /**
   * One update of every parameter that has a gradient (parameters whose grad is undefined,
   * frozen ones included, are skipped like PyTorch). The closure, if given, re-evaluates the
   * loss with gradients enabled; its result is returned.
   */
  step<T = unknown>(closure?: () => T): T | undefined {
    const loss = closure ? enableGrad(closure) : undefined;
    tidy(() =>
      noGrad(() => {
        for (const g of this.paramGroups) this.updateGroup(g);
      }),
    );
    return loss;
  }

  /** The parameters of a group that have a gradient, with their gradients. */
  protected withGrads(group: ParamGroup): { params: Tensor[]; grads: Tensor[] } {
    const params: Tensor[] = [];
    const grads: Tensor[] = [];
    for (const p of group.params) {
      const g = p.grad;
      if (g === undefined) continue;
      params.push(p);
      grads.push(g);
    }
    return { params, grads };
  }

  /** The state record of a parameter, created (empty) on first use. */
  protected stateOf(p: Tensor): ParamState {
    let st = this.state.get(p);
    if (!st) {
      st = {};
      this.state.set(p, st);
    }
    return st;
  }

  /**
   * torch.optim's state_dict(): `state` maps a parameter's index (counted over the groups in
   * order) to its state, `param_groups` holds each group's hyper-parameters and indices. The
   * state tensors are the optimizer's own (as in PyTorch): save or clone them, do not mutate.
   */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    let start = 0;
    const param_groups = this.paramGroups.map((g) => {
      const packed: Record<string, unknown> = {};
      // hyper-parameter sequences (betas) are tuples in PyTorch: src/io writes frozen arrays as tuples
      for (const [k, v] of Object.entries(g))
        if (k !== 'params') packed[k] = Array.isArray(v) ? Object.freeze(copyValue(v) as unknown[]) : copyValue(v);
      for (const p of g.params) if (!index.has(p)) index.set(p, start++);
      packed.params = g.params.map((p) => index.get(p)!);
      return packed as PackedParamGroup;
    });
    const state = new Map<number, ParamState>();
    for (const [p, st] of this.state) {
      const i = index.get(p);
      if (i !== undefined) state.set(i, { ...st });
    }
    return { state, param_groups };
  }

  /**
   * torch.optim's load_state_dict(): group hyper-parameters come from the dict, state is mapped
   * by index in group order; state tensors are copied and cast to the parameter's dtype (when
   * floating) and device, except `step`, as PyTorch does.
   */
  loadStateDict(sd: OptimizerStateDictInput): void {
    const owner = `${this.#owner}.loadStateDict`;
    const { state: entries, param_groups: saved } = normalizeStateDict(sd);
    if (saved.length !== this.paramGroups.length)
      throw new ArgumentError(
        `${owner}: loaded state dict has ${saved.length} parameter groups, the optimizer ${this.paramGroups.length}`,
      );
    const idMap = new Map<number, Tensor>();
    saved.forEach((sg, i) => {
      const ids = sg.params as unknown[];
      const n = this.paramGroups[i]!.params.length;
      if (ids.length !== n)
        throw new ArgumentError(
          `${owner}: loaded parameter group ${i} has ${ids.length} parameters, the optimizer's has ${n}`,
        );
      ids.forEach((id, j) => {
        idMap.set(Number(id), this.paramGroups[i]!.params[j]!);
      });
    });
    const groups = saved.map((sg, i) => {
      const g: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(sg)) g[k] = k === 'params' ? this.paramGroups[i]!.params : copyValue(v);
      for (const [k, v] of Object.entries(this.defaults)) if (g[k] === undefined && v !== REQUIRED) g[k] = copyValue(v);
      checkValues(`${owner} group ${i}`, this.#specs, g);
      this.checkGroup(g, `group ${i}`);
      return g as ParamGroup;
    });
    const state = new Map<Tensor, ParamState>();
    for (const [k, v] of entries) {
      const p = idMap.get(k);
      if (!p) throw new ArgumentError(`${owner}: state for index ${k}, which is no parameter of the loaded groups`);
      state.set(p, castState(p, v) as ParamState);
    }
    this.paramGroups = groups;
    this.state = state;
    this.afterLoad();
  }

  /** Optimizer-specific fix-ups of loaded state (Adam: a numeric `step` becomes a tensor, as in PyTorch). */
  protected afterLoad(): void {}

  /** Frees the state tensors; the optimizer starts from empty state afterwards. */
  dispose(): void {
    const free = (v: StateValue): void => {
      if (v instanceof Tensor) v.dispose();
      else if (Array.isArray(v)) v.forEach(free);
      else if (v !== null && typeof v === 'object') Object.values(v).forEach(free);
    };
    for (const st of this.state.values()) free(st);
    this.state.clear();
  }

  /** Like PyTorch's repr: every group's hyper-parameters. */
  toString(): string {
    const lines = [`${this.type} (`];
    this.paramGroups.forEach((g, i) => {
      lines.push(`Parameter Group ${i}`);
      for (const k of Object.keys(g).sort())
        if (k !== 'params') lines.push(`    ${k}: ${JSON.stringify(g[k]) ?? String(g[k])}`);
    });
    lines.push(')');
    return lines.join('\n');
  }
}
