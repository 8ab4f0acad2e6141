// `task: causal-lm` in recipes: the data (text files, JSONL text / instruction / chat rows
// tokenised, packed or truncated), LoRA from the recipe's `lora:` section, and the trainer's
// forward and loss for next-token training (token-averaged loss, fp32 head, checkpointing).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CausalLMDataset,
  causalLMDataset,
  type DataLoader,
  type Dataset,
  splitDataset,
  TextTokenizer,
} from '../data/index.ts';
import { RecipeError } from '../errors.ts';
import { applyLora, type LoraInfo, type RunSpec, saveAdapter } from '../finetune/index.ts';
import * as models from '../models/index.ts';
import { type FromHfDirOptions, loadHfModel } from '../models/index.ts';
import type { Module } from '../nn/index.ts';
import type { SplitMetrics } from '../report/index.ts';
import {
  type Callback,
  causalLMForward,
  causalLMLossFn,
  evaluate,
  type FitOptions,
  hasDecoderParts,
  type Preprocessing,
} from '../train/index.ts';
import { writeFileAtomic } from '../util/write.ts';
import { atPath } from './check.ts';
import { maybeRegex, pretrainedSource, weightsRefOf } from './model.ts';
import type { Recipe, RecipeData, RecipeLora } from './schema.ts';

export const isCausalLM = (r: Recipe): boolean => r.task === 'causal-lm';

/** What a Hugging Face folder's load read (for the run's start-of-run line). */
export interface HfWeights {
  dir: string;
  files: string[];
  /** tensors loaded */
  loaded: number;
}

/** The recipe's task and data kind agree; causal-LM data needs a tokenizer. */
export function checkCausalLMRecipe(r: Recipe): void {
  const lm = isCausalLM(r);
  if (lm && r.data.kind !== 'causal-lm')
    throw new RecipeError(
      'data.kind',
      `task causal-lm trains on text, not '${r.data.kind}' data`,
      'use data.kind: causal-lm (text files or JSONL rows)',
    );
  if (!lm && r.data.kind === 'causal-lm')
    throw new RecipeError('task', 'data.kind causal-lm is next-token data: set task: causal-lm');
  // a model.pretrained folder may not exist yet when the recipe is checked: its tokenizer is looked for at build
  if (lm && !r.data.tokenizer && !r.model.pretrained)
    throw new RecipeError(
      'data.tokenizer',
      'causal-LM data needs a tokenizer',
      "a tokenizer.json or the model's Hugging Face folder (tokenizer.json + tokenizer_config.json)",
    );
  if (lm && r.data.tokenizer !== undefined && typeof r.data.tokenizer !== 'string')
    throw new RecipeError('data.tokenizer', 'a causal-LM tokenizer is a tokenizer.json or a folder holding one');
  if (lm && r.model.numClasses !== undefined)
    throw new RecipeError('model.numClasses', 'a causal LM predicts its vocabulary: numClasses does not apply');
  if (!lm && (r.train?.gradientCheckpointing !== undefined || r.train?.fp32Head !== undefined))
    throw new RecipeError('train', 'gradientCheckpointing and fp32Head apply to task causal-lm');
}

export interface LMSets {
  sets: { train: CausalLMDataset; val?: CausalLMDataset; test?: CausalLMDataset };
  tokenizer: TextTokenizer;
  preprocessing: Preprocessing;
}

/** The causal-LM datasets of a recipe (valRatio splits documents' blocks, seeded). */
export function causalLMSets(d: RecipeData, seed: number, hfDir?: string): LMSets {
  if (!d.tokenizer && !hfDir)
    throw new RecipeError(
      'data.tokenizer',
      'causal-LM data needs a tokenizer, and model.pretrained is no Hugging Face folder (no config.json) to take it from',
      'give data.tokenizer: a tokenizer.json or a folder holding one',
    );
  const tokenizer = atPath('data.tokenizer', () =>
    TextTokenizer.load((d.tokenizer as string | undefined) ?? (hfDir as string)),
  );
  if (!d.train) throw new RecipeError('data.train', 'causal-LM data needs a training file, folder or glob');
  const o = {
    format: d.format,
    split: d.split,
    onBadSample: d.onBadSample,
    chatTemplate: d.chatTemplate,
    appendEos: d.appendEos,
    packing: d.packing,
    blockSize: d.blockSize,
    maxLength: d.maxLength,
  };
  const read = (file: string, path: string) => atPath(path, () => causalLMDataset(file, tokenizer, o));
  let train = read(d.train, 'data.train');
  let val = d.val ? read(d.val, 'data.val') : undefined;
  if (!val && d.valRatio) {
    const s = splitDataset(train, { valRatio: d.valRatio, seed, stratify: false });
    [train, val] = [s.train, s.val];
  }
  const test = d.test ? read(d.test, 'data.test') : undefined;
  const preprocessing: Preprocessing = {
    kind: 'causal-lm',
    tokenizer: { path: d.tokenizer ?? hfDir },
    ...(d.chatTemplate ? { chatTemplate: d.chatTemplate } : {}),
    packing: d.packing ?? null,
    ...(d.blockSize ? { blockSize: d.blockSize } : {}),
  };
  return { sets: { train, ...(val ? { val } : {}), ...(test ? { test } : {}) }, tokenizer, preprocessing };
}

const targets = (t: string | string[] | undefined) =>
  t === undefined ? undefined : Array.isArray(t) ? t : t === 'all-linear' ? t : maybeRegex(t);

/** Wraps the recipe's target layers in LoRA adapters (everything else frozen). */
export function applyRecipeLora(model: Module, l: RecipeLora, r: Recipe): LoraInfo {
  return atPath('lora', () =>
    applyLora(model, {
      ...(l.r !== undefined ? { r: l.r } : {}),
      ...(l.alpha !== undefined ? { alpha: l.alpha } : {}),
      ...(l.dropout !== undefined ? { dropout: l.dropout } : {}),
      ...(l.targetModules !== undefined ? { targetModules: targets(l.targetModules) } : {}),
      ...(l.excludeModules !== undefined ? { excludeModules: targets(l.excludeModules) } : {}),
      ...(l.modulesToSave ? { modulesToSave: l.modulesToSave } : {}),
      ...(l.bias ? { bias: l.bias } : {}),
      ...(l.useRslora !== undefined ? { useRslora: l.useRslora } : {}),
      baseModelNameOrPath:
        typeof r.model.pretrained === 'string' ? r.model.pretrained : (r.model.pretrained?.checkpoint ?? null),
    }),
  );
}

/** A first phase without a freeze spec keeps LoRA's (only the adapters train) instead of unfreezing all. */
export function withLoraFreeze(spec: RunSpec, info: LoraInfo): RunSpec {
  const [first, ...rest] = spec.phases;
  if (!first || first.freeze !== undefined) return spec;
  return { ...spec, phases: [{ ...first, freeze: info.freezeSpec }, ...rest] };
}

/** The trainer's options for a causal-LM run: token loss, fp32 head, checkpointing, perplexity. */
export function causalLMFitOptions(r: Recipe, model: Module): Pick<FitOptions, 'forward' | 'loss' | 'task'> {
  const t = r.train ?? {};
  if (t.gradientCheckpointing && !hasDecoderParts(model))
    throw new RecipeError(
      'train.gradientCheckpointing',
      `${r.model.name} has no decoder parts to recompute`,
      'gradient checkpointing works for gpt2 and the llama family',
    );
  return {
    forward: causalLMForward({ fp32Head: t.fp32Head ?? true, gradientCheckpointing: t.gradientCheckpointing ?? false }),
    loss: causalLMLossFn,
    task: 'causal-lm',
  };
}

/** Tokens a loader's dataset trains on, for the run's log line. */
export function tokenSummary(l: DataLoader | undefined): string {
  const ds = l?.dataset as (Dataset & Partial<CausalLMDataset>) | undefined;
  if (!ds?.predictedTokenCount) return '';
  return `${ds.length} sequences, ${ds.predictedTokenCount} predicted tokens`;
}

/**
 * After a causal-LM run that finished: the tokenizer beside the model (tokenizer.json,
 * tokenizer_config.json) so the folder generates on its own, and with LoRA the adapter in PEFT's
 * format under adapter/.
 */
export function causalLMOutputs(outDir: string, tok: TextTokenizer | undefined, lora: LoraInfo | undefined): Callback {
  return {
    order: 900,
    afterFit(t) {
      if (t.error) return;
      if (tok) {
        writeFileAtomic(join(outDir, 'tokenizer.json'), JSON.stringify(tok.json));
        writeFileAtomic(join(outDir, 'tokenizer_config.json'), JSON.stringify(tok.config, null, 2));
      }
      if (lora) saveAdapter(join(outDir, 'adapter'), t.model, lora);
    },
  };
}

/** model.pretrained when it names a Hugging Face model folder (config.json inside). */
export function hfDirOf(r: Recipe): string | undefined {
  const p = r.model.pretrained;
  const given = typeof p === 'string' ? p : p?.checkpoint;
  // hf:org/name: the snapshot folder fetchPretrained downloaded
  const path = given && weightsRefOf(r.model) ? pretrainedSource(r.model)?.dir : given;
  if (!path || !existsSync(join(path, 'config.json'))) return undefined;
  return path;
}

/**
 * A causal LM from a Hugging Face folder: the class and sizes from its config.json (model.name must
 * be that family), the weights loaded one tensor at a time in model.options.dtype (default
 * float32). With bf16 weights and fp32Head, an untied output layer is kept in float32 (as PyTorch's
 * lm_head.float()); a tied one is used as fp32 where it is applied.
 */
export function hfCausalLM(r: Recipe, dir: string): { model: Module; load: HfWeights } {
  const dtype = r.model.options?.dtype as FromHfDirOptions['dtype'] | undefined;
  const { model, dir: d, load } = atPath('model.pretrained', () => loadHfModel(dir, dtype ? { dtype } : {}));
  const type = String(d.config.model_type ?? '');
  const family = models.getMeta(r.model.name).family;
  const wanted = models.getMeta(type in FAMILY_NAMES ? FAMILY_NAMES[type]! : r.model.name).family;
  if (family !== wanted || !hasDecoderParts(model)) {
    model.dispose();
    throw new RecipeError(
      'model.name',
      `'${r.model.name}' but ${dir} holds a ${type || 'non-causal'} model`,
      `use model.name: ${type}`,
    );
  }
  const head = model as unknown as { lm_head?: Module & { weight: { dtype: string } }; tied?: boolean };
  if ((r.train?.fp32Head ?? true) && head.lm_head && !head.tied && head.lm_head.weight.dtype !== 'float32')
    head.lm_head.to({ dtype: 'float32' });
  model.train();
  return { model, load: { dir, files: load.files, loaded: load.loaded } };
}

const FAMILY_NAMES: Record<string, string> = { llama: 'llama', mistral: 'mistral', qwen2: 'qwen2', gpt2: 'gpt2' };

/** Loss per predicted token and perplexity of a causal LM over a loader (`graft eval`). */
export async function evaluateCausalLM(
  model: Module,
  loader: DataLoader,
  r: Recipe,
  device = 'cpu',
): Promise<SplitMetrics> {
  const m = await evaluate(model, loader, {
    device,
    forward: causalLMForward({ fp32Head: r.train?.fp32Head ?? true }),
    loss: causalLMLossFn,
  });
  return { ...m, perplexity: Math.exp(m.loss) };
}

/** What config.json keeps to rebuild a model that came from a Hugging Face folder: its config (dtype is the weights'). */
export function hfModelOptions(r: Recipe, model: Module): Record<string, unknown> {
  const { dtype: _dtype, config: _config, ...rest } = r.model.options ?? {};
  return { ...rest, config: models.hfConfigOf(model) };
}
