// The model registry (timm-style): names -> constructors plus metadata for fine-tuning.
import { ArgumentError } from '../errors.ts';
import { Identity, Linear, type Module, type Parameter } from '../nn/index.ts';

export interface ModelOptions {
  /** classifier outputs; default: the model's (1000 for ImageNet models) */
  numClasses?: number;
  /** input image channels, where the first layer allows it (default 3) */
  inChannels?: number;
  /** dropout before the classifier, where the architecture has one */
  dropout?: number;
  /** architecture-specific options (zeroInitResidual, widthMult, config, ...) */
  [option: string]: unknown;
}

/** A module-path prefix ('layer1' matches 'layer1' and 'layer1.*') or a regex over parameter names. */
export type Matcher = string | RegExp;

export interface LayerGroup {
  name: string;
  match: Matcher[];
}

export interface ModelMeta {
  name: string;
  family: string;
  task: 'image-classification' | 'sequence-classification' | 'causal-lm' | 'feature-extraction' | (string & {});
  /** module paths of the classifier head(s), replaced by resetClassifier */
  classifier: string[];
  /** ordered layer groups, input side first; every parameter falls in exactly one */
  groups: LayerGroup[];
  /** [channels, height, width] for image models */
  inputSize?: [number, number, number];
  mean?: number[];
  std?: number[];
  numClasses?: number;
  /** where the architecture and its parameter names come from */
  source?: string;
}

export interface ModelEntry {
  meta: ModelMeta;
  create(opts: ModelOptions): Module;
  /** a head reset for models whose classifier is not a plain Linear */
  resetClassifier?(model: Module, numClasses: number): void;
  /** which ModelOptions keys the constructor reads; others are an error */
  options?: string[];
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

const entries = new Map<string, ModelEntry>();
const metas = new WeakMap<Module, ModelMeta>();

/** Adds a model; BERT, GPT-2 and user models register the same way. */
export function registerModel(entry: ModelEntry): void {
  const name = entry.meta.name;
  if (entries.has(name)) throw new ArgumentError(`model '${name}' is already registered`);
  entries.set(name, entry);
}

/** Registered names, sorted; a filter keeps names containing the string or matching the regex. */
export function list(filter?: string | RegExp): string[] {
  const names = [...entries.keys()].sort();
  if (filter === undefined) return names;
  return names.filter((n) => (typeof filter === 'string' ? n.includes(filter) : filter.test(n)));
}

function entryOf(name: string): ModelEntry {
  const e = entries.get(name);
  if (!e) {
    const near = list().filter((n) => n.startsWith(name.slice(0, 3)));
    throw new ArgumentError(`unknown model '${name}'`, `registered: ${(near.length ? near : list()).join(', ')}`);
  }
  return e;
}

export const getMeta = (name: string): ModelMeta => entryOf(name).meta;

/** Builds a model by name; its metadata (with numClasses / inChannels applied) is found by metaOf(model). */
export function create(name: string, opts: ModelOptions = {}): Module {
  const e = entryOf(name);
  const known = new Set(['numClasses', 'inChannels', 'dropout', ...(e.options ?? [])]);
  for (const [k, v] of Object.entries(opts))
    if (v !== undefined && !known.has(k))
      throw new ArgumentError(`model '${name}' has no option '${k}'`, `options: ${[...known].join(', ')}`);
  const n = opts.numClasses;
  if (n !== undefined && (!Number.isInteger(n) || n < 0))
    throw new ArgumentError(`numClasses must be an integer >= 0, got ${n}`);
  const model = e.create(opts);
  // create() may attach metadata that depends on its options (BERT / GPT-2 layer groups from the config)
  const base = metas.get(model) ?? e.meta;
  const meta: ModelMeta = { ...base, numClasses: n ?? base.numClasses };
  if (meta.inputSize && opts.inChannels !== undefined)
    meta.inputSize = [opts.inChannels, ...meta.inputSize.slice(1)] as [number, number, number];
  metas.set(model, meta);
  return model;
}

/** The metadata of a model made by create(), or undefined. */
export const metaOf = (model: Module): ModelMeta | undefined => metas.get(model);

/** Attaches metadata to a model built by hand, so resetClassifier / layerGroups work on it. */
export function setMeta(model: Module, meta: ModelMeta): void {
  metas.set(model, meta);
}

function metaFor(model: Module, meta?: ModelMeta): ModelMeta {
  const m = meta ?? metas.get(model);
  if (!m)
    throw new ArgumentError(
      `${model.constructor.name} has no model metadata`,
      'build it with models.create(name), or pass the metadata (models.getMeta(name))',
    );
  return m;
}

/**
 * Replaces the classifier head(s) with freshly initialised Linear layers of the same input width,
 * on the old head's dtype and device; numClasses 0 puts an Identity there (features out).
 */
export function resetClassifier(model: Module, numClasses: number, meta?: ModelMeta): Module {
  const m = metaFor(model, meta);
  if (!Number.isInteger(numClasses) || numClasses < 0)
    throw new ArgumentError(`numClasses must be an integer >= 0, got ${numClasses}`);
  const custom = entries.get(m.name)?.resetClassifier;
  if (custom) custom(model, numClasses);
  else
    for (const path of m.classifier) {
      const old = model.getSubmodule(path);
      if (!(old instanceof Linear))
        throw new ArgumentError(`classifier '${path}' of ${m.name} is a ${old.constructor.name}, not a Linear`);
      const head =
        numClasses === 0
          ? new Identity()
          : new Linear(old.inFeatures, numClasses, {
              bias: old.bias !== undefined,
              dtype: old.weight.dtype,
              device: old.weight.device,
            });
      head.train(old.training);
      model.setSubmodule(path, head);
    }
  metas.set(model, { ...m, numClasses });
  return model;
}

function matches(mt: Matcher, param: string): boolean {
  if (typeof mt === 'string') return param === mt || param.startsWith(`${mt}.`);
  return mt.test(param);
}

/** Index of the first group matching a parameter name, or -1. */
export function groupIndex(meta: ModelMeta, param: string): number {
  return meta.groups.findIndex((g) => g.match.some((mt) => matches(mt, param)));
}

export interface ParamGroupView {
  name: string;
  index: number;
  parameters: [string, Parameter][];
}

/** The model's parameters split into its ordered layer groups; unmatched parameters are an error. */
export function layerGroups(model: Module, meta?: ModelMeta): ParamGroupView[] {
  const m = metaFor(model, meta);
  const out: ParamGroupView[] = m.groups.map((g, index) => ({ name: g.name, index, parameters: [] }));
  for (const [n, p] of model.namedParameters()) {
    const i = groupIndex(m, n);
    if (i < 0) throw new ArgumentError(`parameter '${n}' is in no layer group of ${m.name}`);
    out[i]!.parameters.push([n, p]);
  }
  return out;
}

/** ['features.1', ..., 'features.3'] for prefixRange('features', 1, 3). */
export function prefixRange(prefix: string, from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i <= to; i++) out.push(`${prefix}.${i}`);
  return out;
}
