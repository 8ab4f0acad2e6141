// The model of a recipe: models.create(name, { numClasses, ...options }), modules replaced by
// layer specs (a custom head), then pretrained weights through a load plan (loadCheckpoint, or
// previewLoad for plans: names and shapes only). Exported runs are rebuilt the same way from
// config.json (architecture, modelOptions, head, keras). Weights named by source
// (torchvision:IMAGENET1K_V1, timm:..., hf:org/name@rev, a URL) are downloaded by fetchPretrained
// before the (synchronous) build, which then reads them from the cache.
import { ArgumentError, GraftError, RecipeError } from '../errors.ts';
import { applyLora, loraOptionsFromConfig, type Selector } from '../finetune/index.ts';
import { HubOfflineError, isWeightsRef, parseWeightsRef } from '../hub/index.ts';
import {
  type LoadPlan,
  type LoadReport,
  loadCheckpoint,
  type PeftLoraConfig,
  previewLoad,
  type RenameRule,
} from '../io/index.ts';
import * as models from '../models/index.ts';
import {
  pretrained as offlinePretrained,
  pretrainedSource as offlineSource,
  useKerasConventions,
} from '../models/pretrained.ts';
import { cachedWeights, fetchWeights, type ResolvedWeights, type WeightsOptions } from '../models/weights_fetch.ts';
import type { Module } from '../nn/index.ts';
import { shrinkToWidths } from '../prune/index.ts';
import type { ModelConfig } from '../train/index.ts';
import type { LayerSpecIn, SelectorIn } from './_schema_parts.ts';
import { atPath } from './check.ts';
import { buildLayer, parseLayer } from './layers.ts';
import type { PretrainedSpec, RecipeModel } from './schema.ts';

/** '/regex/flags' -> RegExp; other strings as they are. */
export function maybeRegex(s: string): string | RegExp {
  const m = /^\/(.+)\/([dgimsuy]*)$/.exec(s);
  return m ? new RegExp(m[1]!, m[2]) : s;
}

/** A recipe selector as src/finetune takes it ('/.../' strings become RegExps). */
export function toSelector(s: SelectorIn): Selector {
  if (typeof s === 'string') return s.startsWith('!') ? s : maybeRegex(s);
  if (Array.isArray(s)) return s.map(toSelector);
  if ('not' in s) return { not: toSelector(s.not) };
  return s;
}

export interface PretrainedSource {
  /** 'hub': weights named by source (torchvision:, timm:, hf:, a URL), read from the download cache */
  kind: 'offline' | 'checkpoint' | 'hub';
  /** the file or folder read */
  source: string;
  plan: LoadPlan;
  /** the weights' name as the recipe gives it (kind 'hub') */
  ref?: string;
  /** a Hugging Face repository's snapshot folder (kind 'hub', hf: names) */
  dir?: string;
}

/** The weights name (torchvision:..., timm:..., hf:..., a URL) model.pretrained gives, if any. */
export function weightsRefOf(r: Pick<RecipeModel, 'pretrained'>): string | undefined {
  const p = r.pretrained;
  const path = typeof p === 'string' ? p : p?.checkpoint;
  return path !== undefined && isWeightsRef(path) ? path : undefined;
}

/** Checks a weights name's form and that the model has such weights (no network). */
export function checkWeightsRef(r: Pick<RecipeModel, 'name' | 'pretrained'>): void {
  const ref = weightsRefOf(r);
  if (ref === undefined) return;
  try {
    parseWeightsRef(ref);
    cachedWeights(r.name, ref);
  } catch (e) {
    if (e instanceof GraftError) throw new RecipeError('model.pretrained', e.message, e.hint);
    throw e;
  }
}

/**
 * Downloads the weights model.pretrained names by source into torch's or Hugging Face's cache
 * (nothing when they are there, or when it names a local file); runs, plans and evaluations call
 * it before they build the model.
 */
export async function fetchPretrained(
  r: Pick<RecipeModel, 'name' | 'pretrained'>,
  o: WeightsOptions = {},
): Promise<ResolvedWeights | undefined> {
  const ref = weightsRefOf(r);
  if (ref === undefined) return undefined;
  try {
    return await fetchWeights(r.name, ref, o);
  } catch (e) {
    if (e instanceof ArgumentError) throw new RecipeError('model.pretrained', e.message, e.hint);
    throw e;
  }
}

/** The cached file for a weights name: fetchPretrained must have run (or the cache be filled). */
function cachedFor(name: string, ref: string): ResolvedWeights {
  const hit = atPath('model.pretrained', () => cachedWeights(name, ref));
  if (hit) return hit;
  throw new HubOfflineError(
    ref,
    `model.pretrained: ${ref} is not downloaded yet`,
    'graft train / plan / eval download it; from code, await recipe.fetchPretrained(recipe.model) first',
  );
}

/** What `model.pretrained` asks for: its source and the load plan. */
export function pretrainedSource(r: RecipeModel): PretrainedSource | undefined {
  const p = r.pretrained;
  if (p === undefined) return undefined;
  const spec: PretrainedSpec = typeof p === 'string' ? (p === 'offline' ? { offline: true } : { checkpoint: p }) : p;
  const { checkpoint, offline, rename, include, exclude, includeOriginal, excludeOriginal, ...rest } = spec;
  const list = <T>(x: T | readonly T[] | undefined): T[] | undefined =>
    x === undefined ? undefined : Array.isArray(x) ? [...x] : [x as T];
  const plan: LoadPlan = { ...rest };
  if (rename !== undefined) {
    // ['regex', 'replacement'] is one rule; a list of rules otherwise
    const single = Array.isArray(rename) && rename.every((x) => typeof x === 'string');
    plan.rename = (single ? [rename] : Array.isArray(rename) ? rename : [rename]) as unknown as RenameRule[];
  }
  const inc = list(include);
  if (inc) plan.include = inc.map(maybeRegex);
  const exc = list(exclude);
  if (exc) plan.exclude = exc.map(maybeRegex);
  // the file's own names: io reads '/re/' strings and plain substrings itself
  const incO = list(includeOriginal);
  if (incO) plan.includeOriginal = incO;
  const excO = list(excludeOriginal);
  if (excO) plan.excludeOriginal = excO;
  if (offline) {
    const where = offlineSource(r.name);
    if (!where) return { kind: 'offline', source: '', plan };
    plan.onShapeMismatch ??= 'skip';
    return { kind: 'offline', source: where.dir, plan };
  }
  if (isWeightsRef(checkpoint!)) {
    // published ImageNet weights: a head of another size stays new, as with the offline weights
    const hit = cachedFor(r.name, checkpoint!);
    plan.onShapeMismatch ??= 'skip';
    return { kind: 'hub', source: hit.path, plan, ref: checkpoint!, ...(hit.dir ? { dir: hit.dir } : {}) };
  }
  return { kind: 'checkpoint', source: checkpoint!, plan };
}

/** models.create + Keras conventions (offline TF.js weights) + replaced modules. */
export function createModel(
  r: Pick<RecipeModel, 'name' | 'options' | 'replace'>,
  numClasses: number | undefined,
  o: { keras?: boolean } = {},
): Module {
  const opts: models.ModelOptions = { ...(r.options ?? {}) };
  if (numClasses !== undefined) opts.numClasses = numClasses;
  const model = atPath('model', () => models.create(r.name, opts));
  if (o.keras) useKerasConventions(model);
  for (const [path, spec] of Object.entries(r.replace ?? {})) {
    const where = `model.replace.${path}`;
    try {
      model.getSubmodule(path);
    } catch (e) {
      if (e instanceof ArgumentError) throw new RecipeError(where, `the model has no module '${path}'`, e.message);
      throw e;
    }
    model.setSubmodule(path, buildLayer(parseLayer(spec as LayerSpecIn, where), numClasses, where));
  }
  return model;
}

export interface BuiltModel {
  model: Module;
  /** the load report (a preview when `load` is 'preview') */
  loadReport: LoadReport | undefined;
  /** the offline TF.js weights' conventions were applied */
  keras: boolean;
  pretrained: PretrainedSource | undefined;
}

/**
 * The recipe's model. load 'weights' copies pretrained weights in (a failing plan throws, naming the
 * keys); 'preview' only computes the report from names and shapes (report.error set, not thrown).
 */
export function buildModel(r: RecipeModel, numClasses: number | undefined, load: 'weights' | 'preview'): BuiltModel {
  const src = pretrainedSource(r);
  const keras = src?.kind === 'offline';
  if (src?.kind === 'offline' && src.source === '') {
    // an offline source this module does not know the file of: models/pretrained.ts loads it
    const opts = { ...(r.options ?? {}), ...(numClasses !== undefined ? { numClasses } : {}) };
    const { model } = offlinePretrained(r.name, opts);
    return { model: withReplacements(model, r, numClasses), loadReport: undefined, keras: true, pretrained: src };
  }
  const model = createModel(r, numClasses, { keras });
  if (!src) return { model, loadReport: undefined, keras, pretrained: undefined };
  const plan = src.kind === 'checkpoint' ? withLegacyLayerNorm(model, src.plan) : src.plan;
  const report = atPath('model.pretrained', () =>
    load === 'weights' ? loadCheckpoint(model, src.source, plan) : previewLoad(model, src.source, plan),
  );
  return { model, loadReport: report, keras, pretrained: src };
}

// transformers renames the LayerNorm names of old TF-converted BERT files (LayerNorm.gamma / beta,
// as bert-base-uncased's pytorch_model.bin has them) on every load
const LEGACY_LAYER_NORM: RenameRule[] = [
  [/(^|\.)LayerNorm\.gamma$/, '$1LayerNorm.weight'],
  [/(^|\.)LayerNorm\.beta$/, '$1LayerNorm.bias'],
];

/**
 * The plan with transformers' legacy LayerNorm renames after the recipe's own rules, for models
 * with LayerNorm modules so named (BERT): the report lists each key they renamed.
 */
function withLegacyLayerNorm(model: Module, plan: LoadPlan): LoadPlan {
  const keys = [...model.namedParameters()].map(([k]) => k);
  if (!keys.some((k) => k.endsWith('LayerNorm.weight')) || keys.some((k) => /LayerNorm\.(gamma|beta)$/.test(k)))
    return plan;
  const own = plan.rename === undefined ? [] : (plan.rename as readonly RenameRule[]);
  return { ...plan, rename: [...own, ...LEGACY_LAYER_NORM] };
}

function withReplacements(model: Module, r: RecipeModel, numClasses: number | undefined): Module {
  for (const [path, spec] of Object.entries(r.replace ?? {})) {
    const where = `model.replace.${path}`;
    model.setSubmodule(path, buildLayer(parseLayer(spec as LayerSpecIn, where), numClasses, where));
  }
  return model;
}

/** What config.json keeps so `graft predict` / `graft eval` rebuild the same module tree. */
export interface RebuildInfo {
  head?: Record<string, LayerSpecIn>;
  keras?: boolean;
  /** a LoRA run: its adapters' adapter_config.json, applied again before the weights load */
  lora?: PeftLoraConfig;
  /** a run whose pruned channels were removed: conv name -> output channels left */
  shrunk?: Record<string, number>;
}

/** loadModel's `build` for runs exported by recipes: create, Keras conventions, replaced modules. */
export function rebuildFromConfig(config: ModelConfig): Module {
  if (!config.architecture)
    throw new RecipeError(
      'config.json',
      'the model has no registry architecture',
      'models built by hand need their own build()',
    );
  const { numClasses, ...options } = config.modelOptions ?? {};
  const info = (config.graft ?? {}) as RebuildInfo;
  // a causal LM's 'classes' are its vocabulary, which its config gives
  const classes = config.task === 'causal-lm' ? undefined : numClasses;
  const model = createModel(
    {
      name: config.architecture,
      options,
      replace: (config.head ?? info.head) as Record<string, LayerSpecIn> | undefined,
    },
    classes as number | undefined,
    { keras: info.keras === true },
  );
  if (info.shrunk) shrinkToWidths(model, info.shrunk);
  if (info.lora) applyLora(model, loraOptionsFromConfig(info.lora));
  return model;
}
