// Saving and loading LoRA adapters in PEFT's folder layout and key names, so PEFT's
// PeftModel.from_pretrained(base, dir) loads what graft writes and graft loads what PEFT writes.
// graft name                              PEFT key
// <module>.lora_A.weight                  base_model.model.<module>.lora_A.weight
// <lora module>.bias (bias != 'none')     base_model.model.<lora module>.base_layer.bias
// <module to save>.<param or buffer>      base_model.model.<module to save>.<param or buffer>
import { CheckpointError } from '../errors.ts';
import {
  type AdapterFiles,
  PEFT_PREFIX,
  type PeftLoraConfig,
  type RawTensor,
  readAdapter,
  writeAdapter,
} from '../io/index.ts';
import type { Module } from '../nn/index.ts';
import { noGrad, type Tensor, tensor } from '../tensor/index.ts';
import {
  adapterParamNames,
  applyLora,
  finishLora,
  type LoraInfo,
  type LoraOptions,
  loraInfoOf,
  loraLayers,
  rememberLora,
  unloadLora,
} from './lora.ts';
import { isModuleToSave } from './lora_match.ts';

const SEQ_CLS_HEADS = ['classifier', 'score'];

/** LoraOptions equivalent to a PEFT config (what PeftModel.from_pretrained injects). */
export function loraOptionsFromConfig(c: PeftLoraConfig): LoraOptions {
  return {
    r: c.r,
    alpha: c.lora_alpha,
    dropout: c.lora_dropout,
    targetModules: c.target_modules ?? undefined,
    excludeModules: c.exclude_modules ?? undefined,
    // PEFT appends classifier / score for SEQ_CLS; applyLora adds them back, and they need not exist
    modulesToSave: c.modules_to_save?.filter((m) => c.task_type !== 'SEQ_CLS' || !SEQ_CLS_HEADS.includes(m)),
    bias: c.bias,
    useRslora: c.use_rslora,
    rankPattern: c.rank_pattern,
    alphaPattern: c.alpha_pattern,
    layersToTransform: c.layers_to_transform ?? undefined,
    layersPattern: c.layers_pattern ?? undefined,
    taskType: c.task_type,
    baseModelNameOrPath: c.base_model_name_or_path,
  };
}

/** The adapter's tensors under graft's names: lora_A / lora_B, modules_to_save (buffers included), chosen biases. */
export function adapterStateDict(model: Module, info: LoraInfo): Map<string, Tensor> {
  const keep = new Set(adapterParamNames(model, info.config.bias, info.modulesToSave));
  const out = new Map<string, Tensor>();
  for (const [k, t] of model.stateDict()) {
    const saved = keep.has(k) || info.modulesToSave.some((m) => k.startsWith(`${m}.`));
    if (saved) out.set(k, t);
  }
  return out;
}

/** graft state-dict name -> PEFT checkpoint key. */
export function toPeftKey(name: string, loraModules: ReadonlySet<string>): string {
  const dot = name.lastIndexOf('.');
  const owner = name.slice(0, dot);
  if (loraModules.has(owner) && name.slice(dot + 1) === 'bias') return `${PEFT_PREFIX}${owner}.base_layer.bias`;
  return PEFT_PREFIX + name;
}

/**
 * PEFT checkpoint key -> graft state-dict name (keys without the prefix are taken as they are).
 * With bias 'all' PEFT also saves a wrapped module's copy as `<m>.modules_to_save.bias`.
 */
export function fromPeftKey(key: string): string {
  const k = key.startsWith(PEFT_PREFIX) ? key.slice(PEFT_PREFIX.length) : key;
  return k.replace(/\.base_layer\.(weight|bias)$/, '.$1').replace(/\.modules_to_save\.(?:default\.)?([^.]+)$/, '.$1');
}

// the frozen original of a module to save (PEFT's bias 'all' saves its bias too): not part of the adapter
const isOriginalModuleKey = (key: string): boolean => key.includes('.original_module.');

/**
 * Writes `dir`/adapter_config.json + adapter_model.safetensors as PEFT's save_pretrained: only the
 * adapter (and modules_to_save), never the base weights.
 */
export function saveAdapter(dir: string, model: Module, info: LoraInfo | undefined = loraInfoOf(model)): void {
  if (!info)
    throw new CheckpointError(
      dir,
      'this model has no LoRA adapter to save',
      'add one with applyLora(model, {...}) first',
    );
  const lora = new Set(loraLayers(model).map(([n]) => n));
  const tensors = new Map<string, RawTensor>();
  const sd = adapterStateDict(model, info);
  for (const [k, t] of sd) tensors.set(toPeftKey(k, lora), { dtype: t.dtype, shape: t.shape, data: t.bytes() });
  writeAdapter(dir, info.config, tensors);
}

export interface LoadAdapterOptions {
  /** freeze everything but the adapter (default true: ready to train on) */
  freeze?: boolean;
  /** refuse keys that fit nothing in the model and adapter tensors the file lacks (default true) */
  strict?: boolean;
}

/**
 * Loads a PEFT LoRA adapter folder into `model`: adds the LoRA layers its config describes
 * (unless the model has them already) and fills them, modules_to_save included.
 */
export function loadAdapter(dir: string, model: Module, o: LoadAdapterOptions = {}): LoraInfo {
  const files = readAdapter(dir);
  const c = files.config;
  const layers = loraLayers(model);
  if (layers.some(([, l]) => l.merged))
    throw new CheckpointError(
      dir,
      "the model's LoRA layers are merged",
      'unmergeLora(model) before loading another adapter',
    );
  if (layers.length) {
    const saved = [...model.namedModules()]
      .filter(([n]) => n !== '' && isModuleToSave(c.modules_to_save ?? [], n))
      .map(([n]) => n)
      .filter((n, _, all) => !all.some((p) => p !== n && n.startsWith(`${p}.`)));
    return fillAdapter(files, model, finishLora(model, c, saved, o.freeze ?? true), o);
  }
  // a failed load leaves the model as it was: no half-added adapters, the same requiresGrad
  const grads = [...model.parameters()].map((p) => [p, p.requiresGrad] as const);
  const info = applyLora(model, { ...loraOptionsFromConfig(c), freeze: o.freeze });
  try {
    return fillAdapter(files, model, info, o);
  } catch (e) {
    unloadLora(model, { merge: false });
    for (const [p, g] of grads) p.requiresGrad = g;
    throw e;
  }
}

/** Copies the file's tensors into the model's adapters (all checked first: nothing copied on an error). */
function fillAdapter(files: AdapterFiles, model: Module, added: LoraInfo, o: LoadAdapterOptions): LoraInfo {
  // the file's config as read (base model, revision, keys of newer PEFT) is what a re-save writes
  const info = { ...added, config: files.config };
  const own = model.stateDict({ keepVars: true });
  const want = adapterStateDict(model, info);
  const unexpected: string[] = [];
  const mismatched: string[] = [];
  const found = new Map<string, RawTensor>();
  for (const [key, raw] of files.tensors) {
    if (isOriginalModuleKey(key)) continue;
    const name = fromPeftKey(key);
    const t = own.get(name);
    if (!t) {
      unexpected.push(key);
      continue;
    }
    if (raw.shape.length !== t.shape.length || raw.shape.some((s, i) => s !== t.shape[i]))
      mismatched.push(`${key}: file [${raw.shape.join(', ')}], model [${t.shape.join(', ')}]`);
    found.set(name, raw);
  }
  const missing = [...want.keys()].filter((k) => !found.has(k) && /\.lora_[AB]\.weight$/.test(k));
  if (mismatched.length)
    throw new CheckpointError(
      files.weightsFile,
      `size mismatch: ${list(mismatched)}`,
      'load the adapter into the base model it was trained on (same sizes, same number of labels)',
    );
  if ((o.strict ?? true) && (unexpected.length || missing.length))
    throw new CheckpointError(
      files.weightsFile,
      [
        unexpected.length ? `keys that fit no LoRA layer of the model: ${list(unexpected)}` : '',
        missing.length ? `adapter tensors missing from the file: ${list(missing)}` : '',
      ]
        .filter(Boolean)
        .join('; '),
      unexpected.some((k) => k.includes('lora_embedding'))
        ? 'LoRA on embedding layers is not supported'
        : 'is this adapter for this model? (loadAdapter(dir, model, { strict: false }) loads what fits)',
    );
  noGrad(() => {
    for (const [name, raw] of found) {
      const src = tensor(raw.data, { dtype: raw.dtype, shape: raw.shape });
      own.get(name)!.copy_(src);
      src.dispose();
    }
  });
  return rememberLora(model, info);
}

const list = (xs: string[]): string => `${xs.slice(0, 4).join(', ')}${xs.length > 4 ? ` (+${xs.length - 4})` : ''}`;
