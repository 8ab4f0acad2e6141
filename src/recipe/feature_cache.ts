// A recipe's feature cache: train.cacheFeatures (and a phase's own cacheFeatures) turned into a
// FeatureCache wrapped around the run's loaders and forward, and the plan's section on it.
import { join } from 'node:path';
import {
  type CacheMode,
  type CachePlanPhase,
  cachePlanText,
  FeatureCache,
  type PhaseFreeze,
  type PhaseRunner,
  planFeatureCache,
} from '../finetune/index.ts';
import type { Module } from '../nn/index.ts';
import type { FitOptions } from '../train/index.ts';
import type { Recipe } from './schema.ts';

export interface CacheSettings {
  mode: CacheMode;
  budgetBytes?: number;
  dtype?: 'float32' | 'bfloat16';
}

/** train.cacheFeatures as settings (default auto). */
export function cacheSettings(r: Recipe): CacheSettings {
  const c = r.train?.cacheFeatures;
  if (c === undefined || typeof c === 'string') return { mode: c ?? 'auto' };
  return {
    mode: c.mode ?? 'auto',
    ...(c.budgetMB !== undefined ? { budgetBytes: c.budgetMB * 2 ** 20 } : {}),
    ...(c.dtype ? { dtype: c.dtype } : {}),
  };
}

/** Each phase's mode: its own cacheFeatures, else the training-wide one. */
export const phaseModes = (r: Recipe): CacheMode[] => r.phases.map((p) => p.cacheFeatures ?? cacheSettings(r).mode);

/**
 * The run's cache and the fit options it replaces (train, valid, forward), or undefined when the
 * run cannot use one: every phase off, a causal LM or a custom forward, several processes.
 */
export function recipeFeatureCache(
  r: Recipe,
  o: {
    model: Module;
    runner: PhaseRunner;
    fit: FitOptions;
    outDir: string;
    parallel: boolean;
    log: (line: string) => void;
  },
): { cache: FeatureCache; fit: Pick<FitOptions, 'train' | 'valid' | 'forward'> } | undefined {
  const modes = phaseModes(r);
  if (modes.every((m) => m === 'off')) return undefined;
  const why = o.parallel
    ? 'data-parallel runs do not cache features'
    : o.fit.forward
      ? 'this task has its own forward function'
      : undefined;
  if (why) {
    if (modes.some((m) => m !== 'auto')) o.log(`feature cache: off: ${why}`);
    return undefined;
  }
  const s = cacheSettings(r);
  const cache = new FeatureCache(o.model, {
    mode: () => modes[o.runner.phaseIndex] ?? s.mode,
    ...(s.budgetBytes !== undefined ? { budgetBytes: s.budgetBytes } : {}),
    ...(s.dtype ? { dtype: s.dtype } : {}),
    dir: join(o.outDir, 'cache'),
    log: o.log,
  });
  return {
    cache,
    fit: {
      train: cache.source(o.fit.train, 'train'),
      ...(o.fit.valid !== undefined ? { valid: cache.source(o.fit.valid, 'val') } : {}),
      forward: cache.forward(),
    },
  };
}

/** The plan's feature-cache section: per phase, what is cached and its size, or why not. */
export function planCacheSection(
  r: Recipe,
  model: Module,
  phases: readonly PhaseFreeze[],
  data: { sets: Partial<Record<string, { length: number } | undefined>> } | undefined,
  inputShape: number[] | undefined,
): { json: CachePlanPhase[]; lines: string[] } | undefined {
  if (!data || r.data.kind === 'causal-lm') return undefined;
  const s = cacheSettings(r);
  const train = data.sets.train as { length: number; transforms?: { type: string }[] } | undefined;
  const val = data.sets.val as { length: number; transforms?: { type: string }[] } | undefined;
  if (!train) return undefined;
  const json = planFeatureCache(model, phases, {
    modes: phaseModes(r),
    data: { train, ...(val ? { val } : {}) },
    ...(inputShape ? { inputShape } : {}),
    ...(s.budgetBytes !== undefined ? { budgetBytes: s.budgetBytes } : {}),
    ...(s.dtype ? { dtype: s.dtype } : {}),
    disk: true,
  });
  return { json, lines: cachePlanText(json) };
}
