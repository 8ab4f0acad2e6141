// `graft eval RUN --weights best|last`: a checkpoint holds the model as the run trained it when the
// checkpoint was written, which is not always the architecture config.json rebuilds:
// - a prune phase keeps each pruned weight as weight_orig + weight_mask (PyTorch's layout), and with
//   shrink: true config.json records the widths the channels were cut to after the last epoch, while
//   the checkpoints still hold the full-width masked model;
// - from its QAT phase on, a run trains (and checkpoints) the fake-quantized form of the model.
// The model is rebuilt in the checkpoint's own form so that it evaluates as the run had it (a QAT
// form with its observers off, so that evaluating does not move the scales it measures).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RecipeError } from '../errors.ts';
import type { Module } from '../nn/index.ts';
import * as prune from '../prune/index.ts';
import * as quant from '../quant/index.ts';
import type { Tensor } from '../tensor/index.ts';
import { type ModelConfig, readCheckpoint, stateDictTensors } from '../train/index.ts';
import { isQatState, qatPlan, qatTrainForm, startQat } from './compress_qat.ts';
import { type RebuildInfo, rebuildFromConfig } from './model.ts';
import type { Recipe } from './schema.ts';

export interface CheckpointModel {
  /** the module to evaluate: the float model, or its QAT form wrapping it */
  model: Module;
  /** the checkpoint holds the fake-quantized (QAT) form */
  qat: boolean;
}

/**
 * The model of RUN_DIR/checkpoints/<which>.pth in the form the checkpoint was taken in: at the
 * widths its weights have, with its pruning masks applied, in QAT form when it holds one.
 */
export function checkpointModel(
  runDir: string,
  config: ModelConfig,
  r: Recipe,
  which: 'best' | 'last',
): CheckpointModel {
  const file = join(runDir, 'checkpoints', `${which}.pth`);
  if (!existsSync(file))
    throw new RecipeError(
      runDir,
      `no checkpoints/${which}.pth`,
      which === 'best' ? 'the run kept no best checkpoint: try --weights last or model' : 'try --weights model',
    );
  const sd = stateDictTensors(readCheckpoint(file).raw.get('model'), file);
  try {
    const keys = [...sd.keys()];
    const float = rebuildFromConfig(atCheckpointWidths(config, sd));
    const qat = isQatState(keys);
    let model = float;
    try {
      if (qat) {
        const plan = qatPlan(r);
        if (!plan)
          throw new RecipeError(
            'quantize',
            `${file} holds a model in quantization-aware training form, but the run's recipe has no QAT`,
            'evaluate the exported model (--weights model) or the int8 one (--weights int8)',
          );
        model = qatTrainForm(float, r, plan);
        startQat(model, plan);
      }
      withMasks(model, keys);
      model.loadStateDict(sd);
      // evaluation measures the scales and zero points the checkpoint holds: observers left on
      // would move them with every batch evaluated
      if (qat) quant.enableObserver(model, false);
      return { model, qat };
    } catch (e) {
      model.dispose();
      throw e;
    }
  } finally {
    for (const t of sd.values()) t.dispose();
  }
}

/**
 * config.json with the shrunk widths when the checkpoint's convs have them, without when they are
 * still full width (checkpoints are written before the run's end removes the dead channels).
 */
function atCheckpointWidths(config: ModelConfig, sd: Map<string, Tensor>): ModelConfig {
  const info = (config.graft ?? {}) as RebuildInfo;
  if (!info.shrunk) return config;
  const shrunk = Object.entries(info.shrunk).every(([conv, n]) => sd.get(`${conv}.weight`)?.shape[0] === n);
  if (shrunk) return config;
  const { shrunk: _cut, ...graft } = info;
  return { ...config, graft };
}

/** Each parameter the checkpoint holds as name_orig + name_mask gets PyTorch's pruning layout. */
function withMasks(model: Module, keys: string[]): void {
  const pruned = new Set(keys.filter((k) => k.endsWith('_orig')).map((k) => k.slice(0, -'_orig'.length)));
  if (!pruned.size) return;
  // the reparametrization only: weight_orig and weight_mask get their values from the checkpoint
  for (const [path, m] of model.namedModules())
    for (const [n] of [...m.namedParameters({ recurse: false })])
      if (pruned.has(path ? `${path}.${n}` : n)) prune.identity(m, n);
}

/** The masks baked into the weights (the same outputs), so that BatchNorm folding sees plain convs. */
export function bakeMasks(model: Module): void {
  for (const m of model.modules()) for (const n of [...prune.pruningOf(m).keys()]) prune.remove(m, n);
}
