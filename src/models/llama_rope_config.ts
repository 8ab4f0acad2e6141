// Llama config.json's rope_scaling (modeling_rope_utils' rope types, with transformers' defaults)
// read into a typed RopeScaling and written back, and the checked readers of config.json values
// that llama_config.ts uses too.
import { ArgumentError } from '../errors.ts';
import type { HFConfigJSON } from './_hf_config.ts';

/** rope_scaling as modeling_rope_utils reads it; 'default' when config.json has none. */
export type RopeScaling =
  | { ropeType: 'default' }
  | { ropeType: 'linear'; factor: number }
  | {
      ropeType: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    }
  /** NTK scaling whose base grows with sequences longer than max_position_embeddings */
  | { ropeType: 'dynamic'; factor: number }
  | {
      ropeType: 'yarn';
      factor: number;
      /** multiplies cos and sin; default from factor (and mscale / mscale_all_dim) */
      attentionFactor: number | undefined;
      betaFast: number;
      betaSlow: number;
      mscale: number | undefined;
      mscaleAllDim: number | undefined;
      originalMaxPositionEmbeddings: number;
      truncate: boolean;
    }
  | {
      ropeType: 'longrope';
      shortFactor: number[];
      longFactor: number[];
      factor: number | undefined;
      attentionFactor: number | undefined;
      originalMaxPositionEmbeddings: number;
    };

export function fail(key: string, v: unknown, want: string): never {
  throw new ArgumentError(`llama config: ${key} = ${JSON.stringify(v)}, expected ${want}`);
}

export function num(c: HFConfigJSON, key: string, o: { int?: boolean; min?: number; positive?: boolean } = {}): number {
  const v = c[key];
  if (v === undefined || v === null) throw new ArgumentError(`llama config: ${key} is required`);
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(key, v, 'a number');
  if (o.int && !Number.isInteger(v)) fail(key, v, 'an integer');
  if (o.min !== undefined && v < o.min) fail(key, v, `a number >= ${o.min}`);
  if (o.positive && !(v > 0)) fail(key, v, 'a positive number');
  return v;
}

export const optInt = (c: HFConfigJSON, key: string): number | undefined =>
  c[key] === undefined || c[key] === null ? undefined : num(c, key, { int: true, min: 0 });

export function bool(c: HFConfigJSON, key: string, dflt: boolean): boolean {
  const v = c[key] ?? dflt;
  if (typeof v !== 'boolean') fail(key, v, 'true or false');
  return v;
}

export const optNum = (c: HFConfigJSON, key: string, o: { positive?: boolean } = {}): number | undefined =>
  c[key] === undefined || c[key] === null ? undefined : num(c, key, o);

function factors(rs: HFConfigJSON, key: string, half: number): number[] {
  const v = rs[key];
  if (!Array.isArray(v) || v.length !== half || v.some((x) => typeof x !== 'number' || !(x > 0)))
    fail(`rope_scaling.${key}`, v, `${half} positive numbers (head_dim / 2)`);
  return v as number[];
}

/**
 * rope_scaling with transformers' defaults. llama3 / yarn / longrope read original_max_position_embeddings
 * from rope_scaling (longrope also from the top level, as Phi-3 writes it), else max_position_embeddings.
 */
export function parseRopeScaling(v: unknown, c: HFConfigJSON, headDim: number): RopeScaling {
  if (v === undefined || v === null) return { ropeType: 'default' };
  if (typeof v !== 'object' || Array.isArray(v)) fail('rope_scaling', v, 'an object or null');
  const rs = v as HFConfigJSON;
  // transformers renamed 'type' to 'rope_type' and still reads both
  const kind = rs.rope_type ?? rs.type;
  if (kind === 'default') return { ropeType: 'default' };
  if (kind === 'linear') return { ropeType: 'linear', factor: num(rs, 'factor', { positive: true }) };
  if (kind === 'llama3') {
    const s: RopeScaling = {
      ropeType: 'llama3',
      factor: num(rs, 'factor', { positive: true }),
      lowFreqFactor: num(rs, 'low_freq_factor', { positive: true }),
      highFreqFactor: num(rs, 'high_freq_factor', { positive: true }),
      originalMaxPositionEmbeddings: num(rs, 'original_max_position_embeddings', { int: true, min: 1 }),
    };
    if (s.highFreqFactor <= s.lowFreqFactor)
      throw new ArgumentError('llama config: rope_scaling high_freq_factor must be above low_freq_factor');
    return s;
  }
  const maxPos = num(c, 'max_position_embeddings', { int: true, min: 1 });
  const origMax = (o: HFConfigJSON) =>
    o.original_max_position_embeddings === undefined || o.original_max_position_embeddings === null
      ? undefined
      : num(o, 'original_max_position_embeddings', { int: true, min: 1 });
  if (kind === 'dynamic') return { ropeType: 'dynamic', factor: num(rs, 'factor', { positive: true }) };
  if (kind === 'yarn') {
    const truncate = rs.truncate ?? true;
    if (typeof truncate !== 'boolean') fail('rope_scaling.truncate', truncate, 'true or false');
    const original = origMax(rs) ?? maxPos;
    return {
      ropeType: 'yarn',
      // transformers 5: factor as given, else the ratio of the extended to the original context
      factor: optNum(rs, 'factor', { positive: true }) ?? maxPos / original,
      attentionFactor: optNum(rs, 'attention_factor', { positive: true }),
      // `or` defaults, as transformers reads them (a 0 means the default too)
      betaFast: optNum(rs, 'beta_fast') || 32,
      betaSlow: optNum(rs, 'beta_slow') || 1,
      mscale: optNum(rs, 'mscale'),
      mscaleAllDim: optNum(rs, 'mscale_all_dim'),
      originalMaxPositionEmbeddings: original,
      truncate,
    };
  }
  if (kind === 'longrope')
    return {
      ropeType: 'longrope',
      shortFactor: factors(rs, 'short_factor', headDim / 2),
      longFactor: factors(rs, 'long_factor', headDim / 2),
      factor: optNum(rs, 'factor', { positive: true }),
      attentionFactor: optNum(rs, 'attention_factor', { positive: true }),
      originalMaxPositionEmbeddings: origMax(rs) ?? origMax(c) ?? maxPos,
    };
  throw new ArgumentError(
    `llama config: rope_scaling type ${JSON.stringify(kind)} is not supported`,
    "supported: 'default', 'linear', 'llama3', 'dynamic', 'yarn', 'longrope' (or no rope_scaling)",
  );
}

/** rope_scaling as config.json spells it (null for the default); optional keys only where set. */
export function ropeScalingJson(rs: RopeScaling): HFConfigJSON | null {
  const set = (o: Record<string, unknown>): HFConfigJSON =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as HFConfigJSON;
  switch (rs.ropeType) {
    case 'default':
      return null;
    case 'linear':
    case 'dynamic':
      return { rope_type: rs.ropeType, factor: rs.factor };
    case 'llama3':
      return {
        rope_type: 'llama3',
        factor: rs.factor,
        low_freq_factor: rs.lowFreqFactor,
        high_freq_factor: rs.highFreqFactor,
        original_max_position_embeddings: rs.originalMaxPositionEmbeddings,
      };
    case 'yarn':
      return set({
        rope_type: 'yarn',
        factor: rs.factor,
        attention_factor: rs.attentionFactor,
        beta_fast: rs.betaFast,
        beta_slow: rs.betaSlow,
        mscale: rs.mscale,
        mscale_all_dim: rs.mscaleAllDim,
        original_max_position_embeddings: rs.originalMaxPositionEmbeddings,
        truncate: rs.truncate,
      });
    case 'longrope':
      return set({
        rope_type: 'longrope',
        short_factor: rs.shortFactor,
        long_factor: rs.longFactor,
        factor: rs.factor,
        attention_factor: rs.attentionFactor,
        original_max_position_embeddings: rs.originalMaxPositionEmbeddings,
      });
  }
}
