// The recipe's `log` section onto src/track: a TrackingCallback feeding a TensorBoard logger
// (event files in the run folder, the recipe's settings as hyper-parameters) and/or a CSV logger
// (metrics.csv). Only the process that owns the run folder logs (rank 0 of a data-parallel run).
import { isAbsolute, join, resolve } from 'node:path';
import { CsvLogger, type HparamValue, type Logger, TensorBoardLogger, TrackingCallback } from '../track/index.ts';
import type { Callback } from '../train/index.ts';
import type { Recipe } from './schema.ts';

/** Sections that say nothing about how the model trains (free text, where files go). */
const NOT_HPARAMS = new Set(['description', 'log', 'output', 'extends']);

/**
 * A recipe's settings as flat hyper-parameters: 'optimizer.lr', 'phases.0.epochs', 'model.name', ...
 * Lists of plain values become their JSON text ('[3,6]'); lists of objects are numbered.
 */
export function recipeHparams(r: Recipe): Record<string, HparamValue> {
  const out: Record<string, HparamValue> = {};
  const walk = (v: unknown, path: string): void => {
    if (v === null || v === undefined) return;
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') out[path] = v;
    else if (Array.isArray(v)) {
      if (v.every((x) => x === null || typeof x !== 'object')) out[path] = JSON.stringify(v);
      else
        v.forEach((x, i) => {
          walk(x, `${path}.${i}`);
        });
    } else if (typeof v === 'object')
      for (const [k, x] of Object.entries(v)) if (path || !NOT_HPARAMS.has(k)) walk(x, path ? `${path}.${k}` : k);
  };
  walk(r, '');
  return out;
}

export interface LogCallbackOptions {
  outDir: string;
  /** the run continues from a checkpoint (the CSV keeps its rows up to there) */
  resumed: boolean;
  /** optimizer steps per step-level log (the recipe's train.logEvery) */
  logEvery?: number;
}

/** The callbacks the recipe's `log` section asks for (none without one). */
export function logCallbacks(r: Recipe, o: LogCallbackOptions): Callback[] {
  const log = r.log;
  if (!log) return [];
  const loggers: Logger[] = [];
  const tb = log.tensorboard === true ? {} : log.tensorboard || undefined;
  if (tb) {
    const dir = tb.dir === undefined ? o.outDir : isAbsolute(tb.dir) ? tb.dir : resolve(o.outDir, tb.dir);
    loggers.push(
      // --overwrite removes the old run's event files in the run folder (train's clearRunFiles)
      new TensorBoardLogger({ dir, ...(tb.flushSecs !== undefined ? { flushSecs: tb.flushSecs } : {}) }),
    );
  }
  if (log.csv) loggers.push(new CsvLogger({ path: join(o.outDir, 'metrics.csv'), append: o.resumed }));
  if (loggers.length === 0) return [];
  const every = tb ? tb.histogramsEvery : undefined;
  return [
    new TrackingCallback({
      loggers,
      ...(o.logEvery !== undefined ? { logEvery: o.logEvery } : {}),
      ...(every ? { histograms: { every } } : {}),
      ...(tb && tb.hparams !== false ? { hparams: recipeHparams(r) } : {}),
    }),
  ];
}
