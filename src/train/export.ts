// The trained model as it leaves a run: model.safetensors (the state dict, PyTorch names) and
// config.json saying how to rebuild it (architecture, options, classes, preprocessing), so that
// `graft predict RUN_DIR` or any safetensors reader can use it without the recipe.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../errors.ts';
import { type RawTensor, readSafetensors, writeSafetensors } from '../io/index.ts';
import { rawToTensor, tensorToRaw } from '../io/tensors.ts';
import * as models from '../models/index.ts';
import type { Module } from '../nn/index.ts';
import { writeFileAtomic } from '../util/write.ts';

export const MODEL_FORMAT = 'graft-model';
export const MODEL_WEIGHTS = 'model.safetensors';
export const MODEL_CONFIG = 'config.json';

export interface Preprocessing {
  /** [channels, height, width] the model takes */
  inputSize?: [number, number, number];
  /** shorter side before the center crop, when the pipeline resizes first */
  resize?: number;
  mean?: number[];
  std?: number[];
  interpolation?: string;
  [key: string]: unknown;
}

export interface ModelConfig {
  format: typeof MODEL_FORMAT;
  version: 1;
  /** registry name for models.create(), or null for a model built by hand */
  architecture: string | null;
  /** options for models.create(architecture, modelOptions) */
  modelOptions: Record<string, unknown>;
  task?: string;
  numClasses?: number;
  classNames?: string[];
  preprocessing?: Preprocessing;
  /** a head that replaced the registry's classifier, as src/finetune describes it (rebuild with `build`) */
  head?: unknown;
  weights: string;
  /** final (or best) metrics of the run */
  metrics?: Record<string, number>;
  [key: string]: unknown;
}

export interface ExportInfo {
  architecture?: string | null;
  modelOptions?: Record<string, unknown>;
  classNames?: string[];
  numClasses?: number;
  preprocessing?: Preprocessing;
  head?: unknown;
  task?: string;
  metrics?: Record<string, number>;
  /** anything else worth keeping in config.json */
  extra?: Record<string, unknown>;
}

/** config.json's content for a model: registry metadata filled in where the caller gave none. */
export function modelConfig(model: Module, info: ExportInfo = {}): ModelConfig {
  const meta = models.metaOf(model);
  const numClasses = info.numClasses ?? info.classNames?.length ?? meta?.numClasses;
  const pre: Preprocessing = { ...(info.preprocessing ?? {}) };
  if (meta?.inputSize && pre.inputSize === undefined) pre.inputSize = meta.inputSize;
  if (meta?.mean && pre.mean === undefined) pre.mean = meta.mean;
  if (meta?.std && pre.std === undefined) pre.std = meta.std;
  const cfg: ModelConfig = {
    format: MODEL_FORMAT,
    version: 1,
    architecture: info.architecture !== undefined ? info.architecture : (meta?.name ?? null),
    modelOptions: { ...(numClasses !== undefined ? { numClasses } : {}), ...(info.modelOptions ?? {}) },
    weights: MODEL_WEIGHTS,
  };
  const task = info.task ?? meta?.task;
  if (task) cfg.task = task;
  if (numClasses !== undefined) cfg.numClasses = numClasses;
  if (info.classNames) cfg.classNames = [...info.classNames];
  if (Object.keys(pre).length) cfg.preprocessing = pre;
  if (info.head !== undefined) cfg.head = info.head;
  if (info.metrics) cfg.metrics = info.metrics;
  return { ...(info.extra ?? {}), ...cfg };
}

/** Writes dir/model.safetensors (+ dir/config.json); `weights` overrides the model's own state dict. */
export function saveModel(
  dir: string,
  model: Module,
  info: ExportInfo = {},
  weights?: Map<string, RawTensor>,
): { weights: string; config: string } {
  const tensors = weights ?? new Map([...model.stateDict()].map(([k, t]) => [k, tensorToRaw(t)]));
  const wPath = join(dir, MODEL_WEIGHTS);
  const cPath = join(dir, MODEL_CONFIG);
  writeSafetensors(wPath, tensors, { format: 'pt' });
  writeFileAtomic(cPath, `${JSON.stringify(modelConfig(model, info), null, 2)}\n`);
  return { weights: wPath, config: cPath };
}

/** Reads and checks dir/config.json. */
export function readModelConfig(dir: string): ModelConfig {
  const path = join(dir, MODEL_CONFIG);
  if (!existsSync(path))
    throw new CheckpointError(path, 'no config.json', 'export the model with saveModel (graft train writes it)');
  let cfg: ModelConfig;
  try {
    cfg = JSON.parse(readFileSync(path, 'utf8')) as ModelConfig;
  } catch (e) {
    throw new CheckpointError(path, `not JSON: ${(e as Error).message}`);
  }
  if (cfg?.format !== MODEL_FORMAT)
    throw new CheckpointError(path, `not a graft model config (format: ${String(cfg?.format)})`);
  return cfg;
}

export interface LoadModelOptions {
  /** builds the module from the config (needed for hand-built models or replaced heads) */
  build?: (config: ModelConfig) => Module;
  strict?: boolean;
}

/** Rebuilds an exported model: models.create(architecture, modelOptions) (or `build`), then its weights. */
export function loadModel(dir: string, o: LoadModelOptions = {}): { model: Module; config: ModelConfig } {
  const config = readModelConfig(dir);
  let model: Module;
  if (o.build) model = o.build(config);
  else if (config.architecture) model = models.create(config.architecture, config.modelOptions);
  else
    throw new CheckpointError(
      join(dir, MODEL_CONFIG),
      'the model has no registry architecture',
      'pass build: (config) => module to rebuild it',
    );
  const file = join(dir, config.weights ?? MODEL_WEIGHTS);
  const { tensors } = readSafetensors(file);
  const sd = new Map([...tensors].map(([k, r]) => [k, rawToTensor(r)]));
  try {
    model.loadStateDict(sd, { strict: o.strict ?? true });
  } finally {
    for (const t of sd.values()) t.dispose();
  }
  model.eval();
  return { model, config };
}
