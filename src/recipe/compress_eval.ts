// `graft eval RUN_DIR --quantize dynamic|static`: the run's model against its int8 version on a
// split: size, accuracy, loss and latency of each, and the ratios.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RecipeError } from '../errors.ts';
import * as models from '../models/index.ts';
import type { Module } from '../nn/index.ts';
import * as quant from '../quant/index.ts';
import type { ModelMeasure } from '../report/index.ts';
import { loadModel } from '../train/index.ts';
import { calibrationInputs, latency, plainForward } from './compress_measure.ts';
import { buildData, type Split } from './data.ts';
import { evaluateModel } from './evaluate.ts';
import { loadRecipe } from './load.ts';
import { rebuildFromConfig } from './model.ts';

export interface CompareOptions {
  split?: Split;
  limit?: number;
  mode: 'dynamic' | 'static';
  backend?: quant.Backend;
  observer?: quant.ActivationObserver;
  /** static: training batches for calibration (default 8) */
  calibrationBatches?: number;
}

export interface CompareResult {
  split: Split;
  mode: 'dynamic' | 'static';
  engine: string;
  float: ModelMeasure;
  int8: ModelMeasure;
}

/** Evaluates a run folder's float model and its int8 version on the same split. */
export async function compareQuantized(runDir: string, o: CompareOptions): Promise<CompareResult> {
  const recipeFile = join(runDir, 'recipe.yaml');
  if (!existsSync(recipeFile)) throw new RecipeError(runDir, 'not a run folder (no recipe.yaml)');
  const loaded = loadRecipe(recipeFile);
  const split = o.split ?? 'val';
  const r = structuredClone(loaded.recipe);
  if (o.limit !== undefined) r.data.subset = { ...(r.data.subset ?? {}), [split]: o.limit };
  const { model } = loadModel(runDir, { build: rebuildFromConfig });
  const meta = models.metaOf(model);
  const data = buildData(r, { seed: r.train?.seed ?? 0, meta, channels: meta?.inputSize?.[0] });
  try {
    if (!data.sets[split]) throw new RecipeError(`data.${split}`, `the recipe's data has no ${split} split`);
    const loader = data.loader(split);
    const measure = async (m: Module): Promise<ModelMeasure> => {
      const metrics = await evaluateModel(m, loader, { topK: 1 });
      const ms = await latency(m, loader, plainForward);
      return {
        bytes: quant.stateDictBytes(m).total,
        ...(metrics.accuracy !== undefined ? { accuracy: metrics.accuracy } : {}),
        loss: metrics.loss,
        ...(ms !== undefined ? { msPerBatch: ms } : {}),
      };
    };
    const float = await measure(model);
    let int8: ModelMeasure;
    if (o.mode === 'dynamic') {
      quant.quantizeDynamic(model);
      int8 = await measure(model);
    } else {
      const calib = await calibrationInputs(data.loader('train'), o.calibrationBatches ?? 8);
      let q: Module;
      try {
        q = quant.quantizeStatic(model, calib.inputs as never[], {
          backend: o.backend ?? 'fbgemm',
          activation: o.observer ?? 'histogram',
        });
      } finally {
        calib.dispose();
      }
      int8 = await measure(q);
    }
    return { split, mode: o.mode, engine: quant.engines().current, float, int8 };
  } finally {
    await data.close();
    model.dispose();
  }
}

/** Loads RUN_DIR/model.int8.safetensors (written by a recipe's quantize section) over the run's model. */
export function loadInt8(runDir: string): Module {
  const file = join(runDir, 'model.int8.safetensors');
  if (!existsSync(file))
    throw new RecipeError(
      runDir,
      'no model.int8.safetensors',
      "add a quantize section to the recipe, or use 'graft eval --quantize'",
    );
  const { model } = loadModel(runDir, { build: rebuildFromConfig });
  return quant.loadQuantized(file, model);
}

/** The comparison as text: one line per model and the float / int8 ratios. */
export function formatCompare(c: CompareResult): string {
  const pct = (v?: number) => (v === undefined ? '-' : `${(v * 100).toFixed(2)}%`);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  const ms = (v?: number) => (v === undefined ? '-' : `${v.toFixed(2)} ms`);
  const row = (name: string, m: ModelMeasure) =>
    `${name.padEnd(8)} ${mib(m.bytes).padStart(11)} ${pct(m.accuracy).padStart(9)} ${(m.loss?.toFixed(4) ?? '-').padStart(8)} ${ms(m.msPerBatch).padStart(11)}`;
  const ratio = (a?: number, b?: number) => (a && b ? `${(a / b).toFixed(2)}x` : '-');
  return [
    `int8 ${c.mode} quantization (${c.engine} kernels), split ${c.split}`,
    `model           size  accuracy     loss  latency/batch`,
    row('float32', c.float),
    row('int8', c.int8),
    `size ${ratio(c.float.bytes, c.int8.bytes)} smaller, latency ${ratio(c.float.msPerBatch, c.int8.msPerBatch)} faster, accuracy ${c.int8.accuracy !== undefined && c.float.accuracy !== undefined ? `${((c.int8.accuracy - c.float.accuracy) * 100).toFixed(2)} points` : '-'}`,
  ].join('\n');
}
