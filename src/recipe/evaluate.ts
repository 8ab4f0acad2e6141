// `graft eval`: loss, accuracy, top-5, macro-F1 and per-class accuracy of a model on a split.
// A run folder is evaluated with its exported model (or a checkpoint's weights) and the data of
// its recipe.yaml; a recipe is evaluated as it builds the model (pretrained weights, no training):
// the baseline a run should beat.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DataLoader } from '../data/index.ts';
import { RecipeError } from '../errors.ts';
import * as models from '../models/index.ts';
import { foldConvBn, type Module } from '../nn/index.ts';
import type { SplitMetrics } from '../report/index.ts';
import { crossEntropy, manualSeed, zeros } from '../tensor/index.ts';
import { evaluate, type LossFn, loadModel, logitsOf, readModelConfig } from '../train/index.ts';
import { evaluateCausalLM, hfCausalLM, hfDirOf, isCausalLM } from './causal_lm.ts';
import { loadInt8 } from './compress_eval.ts';
import { type BuiltData, buildData, type Split } from './data.ts';
import { bakeMasks, checkpointModel } from './eval_weights.ts';
import { type LoadedRecipe, loadRecipe } from './load.ts';
import { buildModel, fetchPretrained, rebuildFromConfig } from './model.ts';

export interface EvalResult {
  split: Split;
  /** 'run': a trained run's model; 'recipe': the model as the recipe builds it, untrained */
  source: 'run' | 'recipe';
  weights: string;
  metrics: SplitMetrics;
  classes: string[];
}

/** One pass over a loader in eval mode, no gradients: the trainer's metrics for that split (src/train's evaluate). */
export async function evaluateModel(
  model: Module,
  loader: DataLoader,
  o: { device?: string; topK?: number; numClasses?: number } = {},
): Promise<SplitMetrics> {
  const loss: LossFn = (output, target) => {
    const logits = logitsOf(output);
    if (!logits || !target) throw new RecipeError('model', 'evaluation needs class logits and labels');
    return crossEntropy(logits.dtype === 'float32' ? logits : logits.float(), target);
  };
  return evaluate(model, loader, { device: o.device, topK: o.topK ?? 5, numClasses: o.numClasses, loss });
}

export interface EvalOptions {
  split?: Split;
  /** run folders: 'model' (the exported model, default), 'best' or 'last' (checkpoints), 'int8' (model.int8.safetensors) */
  weights?: 'model' | 'best' | 'last' | 'int8';
  /** evaluate only N samples of the split (seeded pick) */
  limit?: number;
  /** run folders, float weights: fold each BatchNorm into the convolution before it first */
  foldBatchNorm?: boolean;
}

async function onSplit(
  loaded: LoadedRecipe,
  model: Module,
  o: EvalOptions,
  data: BuiltData,
): Promise<{ metrics: SplitMetrics; split: Split }> {
  const split = o.split ?? 'val';
  const r = loaded.recipe;
  try {
    if (!data.sets[split])
      throw new RecipeError(
        `data.${split}`,
        `the recipe's data has no ${split} split`,
        split === 'val' ? 'try --split test' : undefined,
      );
    const device = r.train?.device ?? 'cpu';
    if (device !== 'cpu') model.to({ device });
    const metrics = isCausalLM(r)
      ? await evaluateCausalLM(model, data.loader(split), r, device)
      : await evaluateModel(model, data.loader(split), {
          device,
          topK: r.train?.topK,
          numClasses: undefined,
        });
    return { metrics, split };
  } finally {
    await data.close();
  }
}

function withLimit(loaded: LoadedRecipe, o: EvalOptions): LoadedRecipe {
  if (o.limit === undefined) return loaded;
  const split = o.split ?? 'val';
  const recipe = structuredClone(loaded.recipe);
  recipe.data.subset = { ...(recipe.data.subset ?? {}), [split]: o.limit };
  return { ...loaded, recipe };
}

/** Evaluates a trained run folder (RUN_DIR/config.json + weights, RUN_DIR/recipe.yaml's data). */
export async function evaluateRun(runDir: string, o: EvalOptions = {}): Promise<EvalResult> {
  const recipeFile = join(runDir, 'recipe.yaml');
  if (!existsSync(recipeFile))
    throw new RecipeError(
      runDir,
      'not a run folder (no recipe.yaml)',
      'graft train writes it; give a recipe to evaluate its untrained model',
    );
  const loaded = withLimit(loadRecipe(recipeFile), o);
  const config = readModelConfig(runDir);
  const weights = o.weights ?? 'model';
  if (o.foldBatchNorm && weights === 'int8')
    throw new RecipeError(
      '--fold-batchnorm',
      'the int8 model has its BatchNorms fused already',
      'leave out --fold-batchnorm',
    );
  let model: Module;
  let qat = false;
  if (weights === 'model') model = loadModel(runDir, { build: rebuildFromConfig }).model;
  else if (weights === 'int8') model = loadInt8(runDir);
  else ({ model, qat } = checkpointModel(runDir, config, loaded.recipe, weights));
  try {
    if (o.foldBatchNorm && qat)
      throw new RecipeError(
        '--fold-batchnorm',
        `checkpoints/${weights}.pth holds the quantization-aware training form, whose BatchNorms fold when it converts to int8`,
        'leave out --fold-batchnorm, or evaluate the folded int8 model with --weights int8',
      );
    if (o.foldBatchNorm) {
      bakeMasks(model);
      foldForEval(model, config.preprocessing?.inputSize);
    }
    // an int8 model is a quantized form without registry metadata: the architecture's gives the
    // input size and normalisation the run trained with
    const arch = config.architecture;
    const meta = models.metaOf(model) ?? (arch && models.list().includes(arch) ? models.getMeta(arch) : undefined);
    const data = buildData(loaded.recipe, {
      seed: loaded.recipe.train?.seed ?? 0,
      meta,
      channels: meta?.inputSize?.[0],
    });
    const { metrics, split } = await onSplit(loaded, model, o, data);
    const classes = config.classNames ?? data.classes;
    return {
      split,
      source: 'run',
      weights:
        weights === 'model'
          ? join(runDir, config.weights)
          : weights === 'int8'
            ? join(runDir, 'model.int8.safetensors')
            : weights,
      metrics,
      classes,
    };
  } finally {
    model.dispose();
  }
}

/** Conv + BatchNorm pairs folded (eval-mode maths): the forward is traced once on a zero image. */
function foldForEval(model: Module, inputSize: readonly number[] | undefined): void {
  if (!inputSize)
    throw new RecipeError(
      '--fold-batchnorm',
      'the run records no image input size: folding is for convolutional image models',
    );
  model.eval();
  const probe = zeros([1, ...inputSize]);
  try {
    foldConvBn(model, probe);
  } finally {
    probe.dispose();
  }
}

/** Evaluates the model a recipe builds, before any training (its pretrained weights). */
export async function evaluateRecipe(input: LoadedRecipe, o: EvalOptions = {}): Promise<EvalResult> {
  const loaded = withLimit(input, o);
  const r = loaded.recipe;
  await fetchPretrained(r.model);
  const seed = r.train?.seed ?? 0;
  manualSeed(seed);
  const meta = models.getMeta(r.model.name);
  const channels = (r.model.options?.inChannels as number | undefined) ?? meta.inputSize?.[0];
  const data = buildData(r, { seed, meta, channels });
  const hf = isCausalLM(r) ? hfDirOf(r) : undefined;
  const built = hf
    ? { model: hfCausalLM(r, hf).model, pretrained: { source: hf } }
    : buildModel(r.model, isCausalLM(r) ? undefined : (r.model.numClasses ?? data.classes.length), 'weights');
  try {
    const { metrics, split } = await onSplit(loaded, built.model, o, data);
    return {
      split,
      source: 'recipe',
      weights: built.pretrained ? built.pretrained.source || 'offline' : 'initialisation',
      metrics,
      classes: data.classes,
    };
  } finally {
    built.model.dispose();
  }
}

/** The result as text: the summary and a per-class table. */
export function formatEval(r: EvalResult): string {
  const m = r.metrics;
  const pct = (v: number | null | undefined) => (v === undefined || v === null ? '-' : `${(v * 100).toFixed(2)}%`);
  const head = `split ${r.split} (${m.items ?? 0} items), ${r.source === 'recipe' ? 'untrained model as the recipe builds it' : 'trained model'}: ${r.weights}`;
  const loss = `loss      ${Number.isFinite(m.loss) ? m.loss.toFixed(4) : String(m.loss)}`;
  // causal LMs: items are predicted tokens, the loss is per token
  if (m.perplexity !== undefined)
    return [head, `${loss} per token`, `perplexity ${m.perplexity.toFixed(3)}`].join('\n');
  const lines = [
    head,
    loss,
    `accuracy  ${pct(m.accuracy)}`,
    `top-5     ${pct(m.top5)}`,
    `macro-F1  ${m.macroF1 === undefined ? '-' : m.macroF1.toFixed(4)}`,
  ];
  if (m.perClassAccuracy?.length) {
    lines.push('', 'per class');
    const w = Math.max(5, ...r.classes.map((c) => c.length));
    m.perClassAccuracy.forEach((a, i) => {
      lines.push(`  ${(r.classes[i] ?? String(i)).padEnd(w)}  ${pct(a)}`);
    });
  }
  return lines.join('\n');
}
