// What the feature cache will do in each phase, before any training: the cut from the phase's freeze
// state (as plan() resolves it, the model untouched), the per-sample size from one forward of the
// prefix on a zero input, and why not when it stays off. The same rules as the running cache.
import type { Module } from '../nn/index.ts';
import { noGrad, tidy, zeros } from '../tensor/index.ts';
import { type CacheMode, type CacheSplit, dataProblem } from './feature_cache.ts';
import { type CutView, findCut, fmtBytes } from './feature_cache_cut.ts';
import { featureStages, runStages } from './feature_cache_stages.ts';

export interface CachePlanSplit {
  on: boolean;
  /** the cached stages, when on */
  prefix?: string[];
  /** why the prefix ends where it does */
  stop?: string;
  /** why the cache stays off */
  reason?: string;
  /** per-sample shape of the cached rows, and the whole split's size */
  sampleShape?: number[];
  bytes?: number;
  storage?: 'memory' | 'disk';
}

export interface CachePlanPhase {
  phase: number;
  mode: CacheMode;
  train: CachePlanSplit;
  val: CachePlanSplit | null;
}

export interface CachePlanOptions {
  /** each phase's mode */
  modes: CacheMode[];
  /** the datasets (length and transforms) per split */
  data: Partial<Record<CacheSplit, { length: number; transforms?: readonly { type: string; p?: number }[] }>>;
  /** one input's shape, batch first ([1, 3, 224, 224]): sizes the rows; without it sizes are left out */
  inputShape?: number[];
  budgetBytes?: number;
  dtype?: 'float32' | 'bfloat16';
  /** a folder for disk stores exists (a run folder) */
  disk?: boolean;
}

/** The freeze state of a phase as plan() reports it. */
export interface PhaseFreeze {
  frozen: readonly string[];
  bnEval: readonly string[];
  via: string;
}

function planView(f: PhaseFreeze, training: boolean): CutView {
  const frozen = new Set(f.via === 'requires-grad' ? f.frozen : []);
  const held = new Set(f.bnEval);
  return { frozen: (n) => frozen.has(n), bnHeld: (p) => held.has(p), training };
}

/** Each phase's cache: on (prefix, size, memory or disk) or off (why). */
export function planFeatureCache(model: Module, phases: readonly PhaseFreeze[], o: CachePlanOptions): CachePlanPhase[] {
  const stages = featureStages(model);
  const budget = o.budgetBytes ?? 2 ** 30;
  const shapes = new Map<number, number[]>();
  const sampleShape = (cut: number): number[] | undefined => {
    if (!stages || !o.inputShape) return undefined;
    if (!shapes.has(cut)) {
      const was = [...model.modules()].map((m) => [m, m.training] as const);
      model.eval();
      try {
        shapes.set(
          cut,
          tidy(() => noGrad(() => runStages(stages, 0, cut, zeros(o.inputShape!)).shape.slice(1) as number[])),
        );
      } finally {
        for (const [m, t] of was) m.training = t;
      }
    }
    return shapes.get(cut);
  };
  const split = (f: PhaseFreeze, which: CacheSplit, mode: CacheMode): CachePlanSplit | null => {
    const data = o.data[which];
    if (!data) return null;
    if (mode === 'off') return { on: false, reason: 'cacheFeatures is off' };
    if (!stages)
      return {
        on: false,
        reason: `graft does not know where ${model.constructor.name}'s forward splits (give the model a featureStages() method)`,
      };
    const cut = findCut(model, stages, planView(f, which === 'train'));
    if (cut.cut === 0) return { on: false, reason: `no frozen prefix to cache (${cut.stop})` };
    const problem = dataProblem(data, which, mode);
    if (problem) return { on: false, reason: problem };
    const shape = sampleShape(cut.cut);
    const per = shape ? shape.reduce((a, b) => a * b, 1) * (o.dtype === 'bfloat16' ? 2 : 4) : undefined;
    const bytes = per === undefined ? undefined : per * data.length;
    const storage =
      mode === 'memory' || mode === 'disk' ? mode : bytes === undefined || bytes <= budget ? 'memory' : 'disk';
    if (storage === 'disk' && o.disk === false)
      return { on: false, reason: 'over the memory budget and no run folder for a disk cache' };
    return {
      on: true,
      prefix: stages.slice(0, cut.cut).map((s) => s.name),
      ...(cut.stop ? { stop: cut.stop } : {}),
      ...(shape ? { sampleShape: shape } : {}),
      ...(bytes !== undefined ? { bytes } : {}),
      storage,
    };
  };
  return phases.map((f, i) => {
    const mode = o.modes[i] ?? 'auto';
    return { phase: i, mode, train: split(f, 'train', mode)!, val: split(f, 'val', mode) };
  });
}

function prefixText(p: readonly string[]): string {
  return p.length <= 3 ? p.join(', ') : `${p[0]} .. ${p[p.length - 1]} (${p.length} stages)`;
}

function splitLine(name: string, s: CachePlanSplit): string {
  if (!s.on) return `${name}: off: ${s.reason}`;
  const size =
    s.bytes !== undefined
      ? `, [${s.sampleShape}] per sample, ${fmtBytes(s.bytes)} ${s.storage === 'disk' ? 'on disk' : 'in memory'}`
      : '';
  return `${name}: cached after ${prefixText(s.prefix!)}${size}; computed in the phase's first epoch, reused after`;
}

/** Plan text: one block per phase. */
export function cachePlanText(rows: readonly CachePlanPhase[]): string[] {
  const out = ['feature cache (frozen prefix computed once, later epochs train the rest from it)'];
  for (const r of rows) {
    out.push(`  phase ${r.phase}${r.mode !== 'auto' ? ` (${r.mode})` : ''}:`);
    out.push(`    ${splitLine('train', r.train)}`);
    if (r.val) out.push(`    ${splitLine('val', r.val)}`);
  }
  return out;
}
