// LoRA on any graft model, as PEFT's get_peft_model(model, LoraConfig(...)): matching linear
// layers are wrapped in LoraLinear (their weight and bias keep their names), everything but the
// adapters, modules_to_save (and biases with bias 'all' / 'lora_only') is frozen. Merge folds the
// updates into the weights; unload puts the plain layers back.
import { ArgumentError } from '../errors.ts';
import { type LoraBias, type PeftLoraConfig, peftLoraConfig } from '../io/index.ts';
import { Conv1D, type ModelMeta, metaOf } from '../models/index.ts';
import { Linear, LoraLinear, type Module } from '../nn/index.ts';
import { applyFreeze, type FreezeSpec } from './freeze.ts';
import {
  ALL_LINEAR,
  DEFAULT_TARGET_MODULES,
  isModuleToSave,
  isTargetModule,
  type MatchRules,
  patternKey,
  type TargetModules,
  targetModulesJSON,
} from './lora_match.ts';

export interface LoraOptions {
  /** rank (default 8) */
  r?: number;
  /** lora_alpha (default 8); the update is scaled by alpha / r */
  alpha?: number;
  /** lora_dropout (default 0) */
  dropout?: number;
  /**
   * Which layers: a list of names matched as dotted suffixes (['q_proj', 'v_proj']), a regex
   * (RegExp or string) that must match the whole module name, or 'all-linear' (every linear
   * layer but the output / classifier head). Default: PEFT's default for the model family
   * (bert: query, value; gpt2: c_attn; llama, mistral, qwen2: q_proj, v_proj).
   */
  targetModules?: TargetModules;
  /** layers never targeted (same matching as targetModules) */
  excludeModules?: TargetModules;
  /** modules trained in full and saved with the adapter (a new classification head); plain suffix match */
  modulesToSave?: string[];
  /** which biases train and are saved: 'none' (default), 'all', 'lora_only' (those of the wrapped layers) */
  bias?: LoraBias;
  /** scaling alpha / sqrt(r) instead of alpha / r (PEFT's use_rslora) */
  useRslora?: boolean;
  /** PEFT's init_lora_weights: true (B = 0, the model starts unchanged), 'gaussian', false */
  init?: boolean | 'gaussian';
  /** per-module ranks, { pattern: r } matched as `(.*\.)?pattern$` (PEFT's rank_pattern) */
  rankPattern?: Record<string, number>;
  /** per-module alphas (PEFT's alpha_pattern) */
  alphaPattern?: Record<string, number>;
  /** only these layer indices (PEFT's layers_to_transform) */
  layersToTransform?: number | number[];
  layersPattern?: string | string[];
  /** PEFT's task_type ('CAUSAL_LM', 'SEQ_CLS', ...); default from the model's metadata. SEQ_CLS adds classifier / score to modulesToSave, as PEFT */
  taskType?: string | null;
  /** written to adapter_config.json (the base model's hub id or folder) */
  baseModelNameOrPath?: string | null;
  /** freeze everything but the adapters (default true); false leaves requiresGrad as it is */
  freeze?: boolean;
}

export interface LoraInfo {
  /** the adapter_config.json this adapter saves as */
  config: PeftLoraConfig;
  /** module paths wrapped in LoraLinear, model order */
  targets: string[];
  /** module paths trained in full and saved with the adapter */
  modulesToSave: string[];
  /** parameter names that train (adapters, modules_to_save, chosen biases), model order */
  trainable: string[];
  trainableParameters: number;
  totalParameters: number;
  /** the freeze spec that keeps exactly `trainable` training (give it to a run's first phase) */
  freezeSpec: FreezeSpec;
}

const TASK_OF_META: Record<string, string> = {
  'sequence-classification': 'SEQ_CLS',
  'causal-lm': 'CAUSAL_LM',
  'token-classification': 'TOKEN_CLS',
  'feature-extraction': 'FEATURE_EXTRACTION',
};
const SEQ_CLS_HEADS = ['classifier', 'score'];

const infos = new WeakMap<Module, LoraInfo>();

/** What applyLora / loadAdapter last returned for this model (saveAdapter's default). */
export function loraInfoOf(model: Module): LoraInfo | undefined {
  return infos.get(model);
}

/** Records the info saveAdapter(dir, model) uses when given none. */
export function rememberLora(model: Module, info: LoraInfo): LoraInfo {
  infos.set(model, info);
  return info;
}

/** The LoRA layers of a model by module path, model order. */
export function loraLayers(model: Module): [string, LoraLinear][] {
  return [...model.namedModules()].filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear);
}

const isLinearLike = (m: Module): boolean => m instanceof Linear || m instanceof Conv1D;

/** The registry metadata, or what the model's own meta() says (models built with fromConfig). */
function modelMeta(model: Module): ModelMeta | undefined {
  const own = (model as { meta?: unknown }).meta;
  return metaOf(model) ?? (typeof own === 'function' ? (own.call(model) as ModelMeta) : undefined);
}

function familyOf(model: Module): string | undefined {
  const cfg = (model as { config?: { modelType?: unknown; model_type?: unknown } }).config;
  const t = cfg?.modelType ?? cfg?.model_type;
  return modelMeta(model)?.family ?? (typeof t === 'string' ? t : undefined);
}

function resolveTargets(model: Module, o: LoraOptions, taskType: string | null): TargetModules {
  if (o.targetModules !== undefined) {
    const t = o.targetModules;
    if (typeof t === 'string' && t.toLowerCase() === ALL_LINEAR) return allLinear(model, taskType);
    if (Array.isArray(t) && t.length === 0) throw new ArgumentError('LoRA targetModules is empty');
    return t;
  }
  const family = familyOf(model);
  const def = family === undefined ? undefined : DEFAULT_TARGET_MODULES[family];
  if (!def)
    throw new ArgumentError(
      `LoRA: no default target modules for ${family ? `model family '${family}'` : model.constructor.name}`,
      "name them: targetModules: ['q_proj', 'v_proj'] (module name suffixes), a regex, or 'all-linear'",
    );
  return [...def];
}

// PEFT's _maybe_include_all_linear_layers: every Linear / Conv1D but the output layer (the classifier for SEQ_CLS)
function allLinear(model: Module, taskType: string | null): string[] {
  const heads = new Set(['lm_head', ...(modelMeta(model)?.classifier ?? [])]);
  if (taskType === 'SEQ_CLS') for (const h of SEQ_CLS_HEADS) heads.add(h);
  return [...model.namedModules()].filter(([n, m]) => n !== '' && isLinearLike(m) && !heads.has(n)).map(([n]) => n);
}

/**
 * Adds LoRA adapters to `model` in place and freezes the rest (PEFT's get_peft_model). Base weights
 * keep their state-dict names, so a base checkpoint still loads (the adapter keys are then missing).
 */
export function applyLora(model: Module, o: LoraOptions = {}): LoraInfo {
  if (loraLayers(model).length)
    throw new ArgumentError(
      'this model has LoRA layers already',
      'unload them first (unloadLora), or load an adapter into a fresh model',
    );
  const r = o.r ?? 8;
  const alpha = o.alpha ?? 8;
  const dropout = o.dropout ?? 0;
  if (!(dropout >= 0 && dropout <= 1)) throw new ArgumentError(`LoRA dropout must be in [0, 1], got ${dropout}`);
  const metaTask = modelMeta(model)?.task;
  const taskType = o.taskType !== undefined ? o.taskType : ((metaTask && TASK_OF_META[metaTask]) ?? null);
  const save = [...(o.modulesToSave ?? [])];
  if (taskType === 'SEQ_CLS') for (const h of SEQ_CLS_HEADS) if (!save.includes(h)) save.push(h);
  const targetModules = resolveTargets(model, o, taskType);
  const rules: MatchRules = {
    targetModules,
    excludeModules: o.excludeModules,
    modulesToSave: save,
    layersToTransform: o.layersToTransform,
    layersPattern: o.layersPattern,
  };
  const rankPattern = o.rankPattern ?? {};
  const alphaPattern = o.alphaPattern ?? {};

  const found: [string, Module][] = [];
  const unsupported: string[] = [];
  for (const [name, m] of model.namedModules()) {
    if (name === '' || !isTargetModule(rules, name)) continue;
    if (isLinearLike(m)) found.push([name, m]);
    else unsupported.push(`${name} (${m.constructor.name})`);
  }
  if (unsupported.length)
    throw new ArgumentError(
      `LoRA target modules match layers that are not linear: ${unsupported.slice(0, 5).join(', ')}${unsupported.length > 5 ? ', ...' : ''}`,
      'LoRA wraps nn.Linear and Conv1D layers: name the projections (q_proj, query, c_attn, ...)',
    );
  if (found.length === 0)
    throw new ArgumentError(
      `LoRA target modules ${JSON.stringify(targetModulesJSON(targetModules))} match no layer of ${model.constructor.name}`,
      `linear layers here: ${linearNames(model)}`,
    );
  const fanIn = found.some(([, m]) => m instanceof Conv1D);
  for (const [name, base] of found) {
    const rk = patternKey(Object.keys(rankPattern), name);
    const ak = patternKey(Object.keys(alphaPattern), name);
    const layer = new LoraLinear(base, {
      r: rk === undefined ? r : rankPattern[rk]!,
      alpha: ak === undefined ? alpha : alphaPattern[ak]!,
      dropout,
      // PEFT sets fan_in_fan_out for Conv1D (GPT-2) and clears it for nn.Linear
      fanInFanOut: base instanceof Conv1D,
      useRslora: o.useRslora,
      init: o.init,
    });
    model.setSubmodule(name, layer);
  }
  const savedModules = [...model.namedModules()]
    .filter(([n]) => n !== '' && isModuleToSave(save, n))
    .map(([n]) => n)
    // a module inside another saved module is saved with it
    .filter((n, _, all) => !all.some((p) => p !== n && n.startsWith(`${p}.`)));
  if (o.modulesToSave?.length) {
    const missing = o.modulesToSave.filter((m) => !savedModules.some((n) => n.endsWith(m)));
    if (missing.length)
      throw new ArgumentError(
        `modulesToSave ${JSON.stringify(missing)} match no module of ${model.constructor.name}`,
        `top-level modules: ${[...model.namedChildren()].map(([n]) => n).join(', ')}`,
      );
  }
  const config = peftLoraConfig({
    r,
    lora_alpha: alpha,
    lora_dropout: dropout,
    target_modules: targetModulesJSON(targetModules),
    modules_to_save: save.length ? save : null,
    bias: o.bias ?? 'none',
    fan_in_fan_out: fanIn,
    use_rslora: o.useRslora ?? false,
    init_lora_weights: o.init ?? true,
    rank_pattern: rankPattern,
    alpha_pattern: alphaPattern,
    layers_to_transform: o.layersToTransform ?? null,
    layers_pattern: o.layersPattern ?? null,
    task_type: taskType,
    base_model_name_or_path: o.baseModelNameOrPath ?? null,
    ...(o.excludeModules === undefined ? {} : { exclude_modules: targetModulesJSON(o.excludeModules) }),
  });
  return finishLora(model, config, savedModules, o.freeze ?? true);
}

/** The trainable set, the freeze and the counts for a model whose LoRA layers are in place. */
export function finishLora(model: Module, config: PeftLoraConfig, modulesToSave: string[], freeze: boolean): LoraInfo {
  const layers = loraLayers(model);
  const targets = layers.map(([n]) => n);
  const trainable = adapterParamNames(model, config.bias, modulesToSave);
  const freezeSpec: FreezeSpec = { freeze: '*', train: trainable };
  if (freeze) applyFreeze(model, freezeSpec);
  const want = new Set(trainable);
  let trainableParameters = 0;
  let totalParameters = 0;
  for (const [n, p] of model.namedParameters()) {
    totalParameters += p.numel();
    if (want.has(n)) trainableParameters += p.numel();
  }
  return rememberLora(model, {
    config,
    targets,
    modulesToSave,
    trainable,
    trainableParameters,
    totalParameters,
    freezeSpec,
  });
}

/**
 * One line for logs: `LoRA r 8, alpha 16 on 14 layers (q_proj, v_proj); modules to save: classifier;
 * trainable params: 3,712 || all params: 12,880 || trainable%: 28.8199` (the last part is PEFT's
 * print_trainable_parameters).
 */
export function describeLora(info: LoraInfo): string {
  const c = info.config;
  const leaves = [...new Set(info.targets.map((t) => t.slice(t.lastIndexOf('.') + 1)))];
  const int = (n: number) => n.toLocaleString('en-US');
  const pct = info.totalParameters ? (100 * info.trainableParameters) / info.totalParameters : 0;
  return (
    `LoRA r ${c.r}, alpha ${c.lora_alpha}${c.use_rslora ? ' (rslora)' : ''} on ${info.targets.length} layer${info.targets.length === 1 ? '' : 's'} (${leaves.join(', ')})` +
    (info.modulesToSave.length ? `; modules to save: ${info.modulesToSave.join(', ')}` : '') +
    `; trainable params: ${int(info.trainableParameters)} || all params: ${int(info.totalParameters)} || trainable%: ${pct.toFixed(4)}`
  );
}

/** Adapter parameters (lora_A / lora_B), modules_to_save's and the biases `bias` selects, model order. */
export function adapterParamNames(model: Module, bias: LoraBias, modulesToSave: readonly string[]): string[] {
  const layers = new Set(loraLayers(model).map(([n]) => n));
  const under = (n: string, m: string) => n.startsWith(`${m}.`);
  return [...model.namedParameters()]
    .map(([n]) => n)
    .filter((n) => {
      const dot = n.lastIndexOf('.');
      const owner = n.slice(0, dot);
      const leaf = n.slice(dot + 1);
      if (/(^|\.)lora_[AB]$/.test(owner)) return true;
      if (modulesToSave.some((m) => under(n, m))) return true;
      if (leaf === 'bias' && bias === 'all') return true;
      return leaf === 'bias' && bias === 'lora_only' && layers.has(owner);
    });
}

function linearNames(model: Module): string {
  const names = [...model.namedModules()].filter(([n, m]) => n !== '' && isLinearLike(m)).map(([n]) => n);
  const leaves = [...new Set(names.map((n) => n.slice(n.lastIndexOf('.') + 1)))];
  return leaves.length ? leaves.join(', ') : 'none';
}

/** Folds every adapter into its base weight (forward then costs nothing extra); unmergeLora undoes it. */
export function mergeLora(model: Module): number {
  const layers = loraLayers(model);
  for (const [, l] of layers) l.merge();
  return layers.length;
}

/** Takes merged adapters back out of the base weights (exact up to float rounding). */
export function unmergeLora(model: Module): number {
  const layers = loraLayers(model);
  for (const [, l] of layers) l.unmerge();
  return layers.length;
}

/**
 * Replaces every LoraLinear by its plain layer: merged first by default (PEFT's merge_and_unload),
 * so the model computes the same and saves as an ordinary checkpoint; { merge: false } drops the adapters.
 */
export function unloadLora(model: Module, o: { merge?: boolean } = {}): Module {
  for (const [name, l] of loraLayers(model)) {
    if (o.merge ?? true) l.merge();
    else l.unmerge();
    const base = l.unwrap();
    model.setSubmodule(name, base);
    l.lora_A.dispose();
    l.lora_B.dispose();
  }
  infos.delete(model);
  return model;
}

/** Turns every adapter off (forward = the base model) or back on: PEFT's disable_adapter. */
export function setLoraEnabled(model: Module, enabled: boolean): void {
  for (const [, l] of loraLayers(model)) l.disabled = !enabled;
}
