// Parameter groups: every parameter of the model in exactly one optimizer group from the start,
// frozen ones included, so unfreezing later needs no add_param_group and every scheduler knows
// every group (PyTorch issues #79888, #62475). Groups come from selectors or the model's layer
// groups, with their own lr / lrScale / weight decay / hyper-parameters; fastai's discriminative
// slice(lo, hi) and timm's layer_decay spread lrs over layer groups. Weight decay is torch.optim's:
// every parameter a group holds decays; the no-decay split (biases and norm weights at weight
// decay 0, as timm, fastai and Hugging Face's Trainer do) is opt-in with noDecay. Parameters may
// also be left out of every group (exclude), e.g. for a second optimizer of your own.
import { ArgumentError } from '../errors.ts';
import type { Module, Parameter } from '../nn/index.ts';
import { type OptimizerSpec, optimizerDefaults, type ParamGroupInput } from '../optim/index.ts';
import { evenMults, layerDecayScales, lrSlice } from './lr.ts';
import { describeSelector, ParamIndex, type SelectContext, type Selector } from './select.ts';

export interface GroupSpec {
  name: string;
  match: Selector;
  /** absolute learning rate */
  lr?: number;
  /** learning rate as a multiple of baseLr (default 1) */
  lrScale?: number;
  /** this group's weight decay (torch.optim's name); default: the config's, else the optimizer's */
  weight_decay?: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  betas?: [number, number];
  eps?: number;
  alpha?: number;
  /** any other hyper-parameter under torch.optim's name */
  options?: Record<string, unknown>;
}

export interface LayerGroupsOptions {
  /** fastai's slice: [lo, hi] spreads geometrically from lo (first group) to hi (last); hi alone is slice(hi) */
  discriminative?: number | [number, number];
  /** timm's layer_decay: lr scale decay ** (last - i), the last group at baseLr */
  decay?: number;
}

export interface GroupsConfig {
  /** default: the optimizer spec's lr */
  baseLr?: number;
  /** weight decay of groups that give none; default: each optimizer's own default */
  weight_decay?: number;
  /** explicit groups, in order; a parameter matched by two is an error */
  groups?: readonly GroupSpec[];
  /** one group per layer group of the model (registry metadata) for parameters no explicit group took */
  layers?: boolean | LayerGroupsOptions;
  /**
   * Parameters that get weight_decay 0 (split into '<group>.no_decay'). false (default): none, as
   * torch.optim decays every parameter it holds; true: biases and ndim <= 1 parameters (norm
   * weights), as timm / fastai / Hugging Face's Trainer; a selector: those plus the selected ones.
   */
  noDecay?: boolean | Selector;
  /**
   * Parameters in no group: no optimizer of this run holds them, so they never change (seed-style
   * setups step them with a second optimizer of their own). Applied before the groups match.
   */
  exclude?: Selector;
  /** group name for parameters nothing matched (default 'default'); false makes them an error */
  rest?: string | false;
}

export interface PlannedGroup {
  /** optimizer group name ('layer4', 'layer4.no_decay') */
  name: string;
  /** the group spec (or layer group) it comes from */
  group: string;
  params: string[];
  numel: number;
  lr: number;
  /** lr / baseLr */
  lrScale: number;
  /** undefined: the optimizer's default */
  weight_decay: number | undefined;
  noDecay: boolean;
  /** explicit hyper-parameters under torch.optim's names (not lr / weight_decay) */
  hyper: Record<string, unknown>;
}

export interface GroupDescription {
  name: string;
  group: string;
  params: string[];
  numel: number;
  lr: number;
  weight_decay: number | undefined;
}

export interface ParamGroups {
  baseLr: number;
  groups: PlannedGroup[];
  /** parameters left out of every group (config.exclude), model order */
  excluded: string[];
  /** plain param-group inputs: createOptimizer(spec, inputs) */
  inputs: ParamGroupInput[];
  description: GroupDescription[];
}

export interface GroupsOptions extends Omit<SelectContext, 'model'> {
  /**
   * Optimizer defaults: `lr` is the baseLr when the config has none; `weight_decay` decides whether
   * groups without their own decay split off a no-decay part (it is not written into the groups).
   */
  defaults?: Record<string, unknown>;
}

const HYPER = ['momentum', 'dampening', 'nesterov', 'betas', 'eps', 'alpha'] as const;

function positive(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new ArgumentError(`${what} must be a finite number >= 0, got ${String(v)}`);
  return v;
}

interface Draft {
  name: string;
  lr: number;
  scale?: number;
  wd: number | undefined;
  hyper: Record<string, unknown>;
  params: string[];
}

/**
 * Splits every parameter of a model into optimizer groups. The result's `inputs` go straight to
 * createOptimizer; `groups` / `description` say which parameter went where at which lr.
 */
export function paramGroups(model: Module, config: GroupsConfig = {}, o: GroupsOptions = {}): ParamGroups {
  const index = new ParamIndex({ model, meta: o.meta, loadReport: o.loadReport });
  const baseLr = positive('baseLr', config.baseLr ?? o.defaults?.lr);
  const defaultWd = config.weight_decay;
  // where the optimizer's own default decay applies, it decides whether no-decay groups split off
  const splitWd = defaultWd ?? (o.defaults?.weight_decay as number | undefined) ?? 0;
  const owner = new Map<string, string>();
  // excluded parameters are owned by no group: selectors of the groups never see them
  const excluded = config.exclude === undefined ? [] : index.select(config.exclude);
  for (const p of excluded) owner.set(p, '');
  const drafts: Draft[] = [];
  const names = new Set<string>();
  const addName = (n: string): void => {
    if (names.has(n)) throw new ArgumentError(`two parameter groups are named '${n}'`, 'give each group its own name');
    names.add(n);
  };

  for (const spec of config.groups ?? []) {
    if (!spec || typeof spec.name !== 'string' || spec.match === undefined)
      throw new ArgumentError(`group spec needs { name, match }, got ${describeSelector(spec as never)}`);
    addName(spec.name);
    const params = index.select(spec.match).filter((p) => owner.get(p) !== '');
    for (const p of params) {
      const prev = owner.get(p);
      if (prev !== undefined)
        throw new ArgumentError(
          `parameter '${p}' is matched by group '${prev}' and group '${spec.name}'`,
          `make the selectors disjoint, e.g. match: { not: ... } in '${spec.name}'`,
        );
      owner.set(p, spec.name);
    }
    if (spec.lr !== undefined && spec.lrScale !== undefined)
      throw new ArgumentError(`group '${spec.name}' gives both lr and lrScale`, 'give one of them');
    const lr = spec.lr !== undefined ? positive(`group '${spec.name}' lr`, spec.lr) : baseLr * (spec.lrScale ?? 1);
    const hyper: Record<string, unknown> = { ...(spec.options ?? {}) };
    for (const k of HYPER) if (spec[k] !== undefined) hyper[k] = spec[k];
    const wd = spec.weight_decay ?? (spec.options?.weight_decay as number | undefined) ?? defaultWd;
    delete hyper.weight_decay;
    delete hyper.lr;
    drafts.push({
      name: spec.name,
      lr,
      scale: spec.lr === undefined ? (spec.lrScale ?? 1) : undefined,
      wd,
      hyper,
      params,
    });
  }

  if (config.layers) drafts.push(...layerDrafts(index, config.layers, baseLr, defaultWd, owner, addName));

  const rest = index.names.filter((n) => !owner.has(n));
  if (rest.length) {
    if (config.rest === false)
      throw new ArgumentError(
        `parameters in no group: ${rest.slice(0, 5).join(', ')}${rest.length > 5 ? ` (+${rest.length - 5})` : ''}`,
        "add a group for them or drop rest: false (they then go to group 'default')",
      );
    const name = config.rest || 'default';
    addName(name);
    drafts.push({ name, lr: baseLr, scale: 1, wd: defaultWd, hyper: {}, params: rest });
  }

  const noDecay = noDecaySet(index, config.noDecay ?? false);
  const groups: PlannedGroup[] = [];
  const numel = (ps: string[]) => ps.reduce((a, n) => a + index.params.get(n)!.numel(), 0);
  for (const d of drafts) {
    if (d.params.length === 0) continue;
    const split = (d.wd ?? splitWd) > 0 && noDecay.size > 0;
    const decay = split ? d.params.filter((n) => !noDecay.has(n)) : d.params;
    const nd = split ? d.params.filter((n) => noDecay.has(n)) : [];
    const base = { group: d.name, lr: d.lr, lrScale: d.scale ?? d.lr / baseLr, hyper: d.hyper };
    if (decay.length)
      groups.push({ ...base, name: d.name, params: decay, numel: numel(decay), weight_decay: d.wd, noDecay: false });
    if (nd.length)
      groups.push({
        ...base,
        name: `${d.name}.no_decay`,
        params: nd,
        numel: numel(nd),
        weight_decay: 0,
        noDecay: true,
      });
  }
  return {
    baseLr,
    groups,
    excluded,
    inputs: groupInputs(index.params, groups),
    description: groups.map((g) => ({
      name: g.name,
      group: g.group,
      params: g.params,
      numel: g.numel,
      lr: g.lr,
      weight_decay: g.weight_decay,
    })),
  };
}

function layerDrafts(
  index: ParamIndex,
  layers: true | LayerGroupsOptions,
  baseLr: number,
  wd: number | undefined,
  owner: Map<string, string>,
  addName: (n: string) => void,
): Draft[] {
  const meta = index.meta;
  if (!meta)
    throw new ArgumentError(
      `layers: ${index.model.constructor.name} has no layer groups`,
      'build it with models.create(name) or attach metadata with models.setMeta(model, meta)',
    );
  const o: LayerGroupsOptions = layers === true ? {} : layers;
  const n = meta.groups.length;
  if (o.discriminative !== undefined && o.decay !== undefined)
    throw new ArgumentError('layers: give discriminative or decay, not both');
  let lrs = new Array<number>(n).fill(baseLr);
  let scales: number[] | undefined = new Array<number>(n).fill(1);
  if (o.decay !== undefined) {
    scales = layerDecayScales(n, o.decay);
    lrs = scales.map((s) => baseLr * s);
  } else if (o.discriminative !== undefined) {
    scales = undefined;
    if (Array.isArray(o.discriminative)) lrs = evenMults(o.discriminative[0], o.discriminative[1], n);
    else lrs = lrSlice(n, o.discriminative);
  }
  return meta.groups.map((g, i) => {
    addName(g.name);
    const params = index.select({ group: i }).filter((p) => !owner.has(p));
    for (const p of params) owner.set(p, g.name);
    return { name: g.name, lr: lrs[i]!, scale: scales?.[i], wd, hyper: {}, params };
  });
}

function noDecaySet(index: ParamIndex, cfg: boolean | Selector): Set<string> {
  if (cfg === false) return new Set();
  const out = new Set(index.names.filter((n) => index.params.get(n)!.ndim <= 1 || n.endsWith('.bias')));
  if (cfg !== true) for (const n of index.select(cfg)) out.add(n);
  return out;
}

/**
 * Param-group inputs for an optimizer: tensors, lr (current `lrs` or the planned ones), name,
 * weight_decay where set, and the hyper-parameters the optimizer type takes (others dropped).
 */
export function groupInputs(
  params: Map<string, Parameter>,
  groups: PlannedGroup[],
  o: { type?: OptimizerSpec['type']; lrs?: number[] } = {},
): ParamGroupInput[] {
  const known = o.type ? new Set(Object.keys(optimizerDefaults(o.type))) : undefined;
  return groups.map((g, i) => {
    const input: ParamGroupInput = {
      params: g.params.map((n) => params.get(n)!),
      lr: o.lrs?.[i] ?? g.lr,
      name: g.name,
    };
    if (g.weight_decay !== undefined) input.weight_decay = g.weight_decay;
    for (const [k, v] of Object.entries(g.hyper)) if (!known || known.has(k)) input[k] = v;
    return input;
  });
}

/** Logical or optimizer group name -> optimizer group indices ('layer4' covers 'layer4.no_decay'). */
export function groupIndices(groups: readonly { name: string; group: string }[], key: string): number[] {
  const out: number[] = [];
  groups.forEach((g, i) => {
    if (g.name === key || g.group === key) out.push(i);
  });
  if (out.length === 0)
    throw new ArgumentError(
      `no parameter group '${key}'`,
      `groups: ${[...new Set(groups.flatMap((g) => [g.group, g.name]))].join(', ')}`,
    );
  return out;
}
