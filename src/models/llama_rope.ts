// Rotary position embeddings as transformers computes them (modeling_rope_utils.py, LlamaRotaryEmbedding):
// the inverse frequencies of each rope_type and their attention factor, the 'dynamic' / 'longrope'
// frequency updates a forward makes from the sequence length, and cos / sin tables computed once for
// a range of positions and sliced per step while decoding.
import { arange, aten, cat, type DType, isTracing, type Tensor, tensor, tidy, unary } from '../tensor/index.ts';
import type { LlamaConfig, RopeScaling } from './llama_config.ts';

const roll = aten('aten::roll');
const powScalar = (base: number, e: Tensor): Tensor => aten('aten::pow', 'Scalar')(base, e) as Tensor;
const powTensor = (base: Tensor, e: Tensor): Tensor => aten('aten::pow', 'Tensor_Tensor')(base, e) as Tensor;
const rsub1 = (t: Tensor): Tensor => aten('aten::rsub', 'Scalar')(t, 1, 1) as Tensor;

/** arange(0, dim, 2) / dim in float32: the exponents of theta. */
const exponents = (dim: number): Tensor => arange(0, dim, 2, { dtype: 'int64' }).to('float32').div(dim);

/** 1 / base^(2i/dim); base a number (float64 scalar, as a Python float) or a 0-dim float32 tensor. */
const defaultInvFreq = (base: number | Tensor, dim: number): Tensor =>
  unary('reciprocal', typeof base === 'number' ? powScalar(base, exponents(dim)) : powTensor(base, exponents(dim)));

function llama3(inv: Tensor, rs: Extract<RopeScaling, { ropeType: 'llama3' }>): Tensor {
  const old = rs.originalMaxPositionEmbeddings;
  const lowFreqWavelen = old / rs.lowFreqFactor;
  const highFreqWavelen = old / rs.highFreqFactor;
  const wavelen = unary('reciprocal', inv).mul(2 * Math.PI);
  const long = wavelen.gt(lowFreqWavelen);
  const invLlama = aten('aten::where', 'self')(long, inv.div(rs.factor), inv) as Tensor;
  const smooth = unary('reciprocal', wavelen)
    .mul(old)
    .sub(rs.lowFreqFactor)
    .div(rs.highFreqFactor - rs.lowFreqFactor);
  const smoothed = rsub1(smooth).mul(invLlama).div(rs.factor).add(smooth.mul(invLlama));
  const medium = aten('aten::logical_and')(
    unary('logical_not', wavelen.lt(highFreqWavelen)),
    unary('logical_not', long),
  ) as Tensor;
  return aten('aten::where', 'self')(medium, smoothed, invLlama) as Tensor;
}

/** yarn's mscale: 0.1 * m * ln(scale) + 1 above scale 1. */
const yarnMscale = (scale: number, m = 1): number => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);

function yarn(c: LlamaConfig, rs: Extract<RopeScaling, { ropeType: 'yarn' }>): { invFreq: Tensor; scaling: number } {
  const dim = c.headDim;
  const base = c.ropeTheta;
  const factor = rs.factor;
  let scaling = rs.attentionFactor;
  if (scaling === undefined)
    scaling =
      rs.mscale && rs.mscaleAllDim
        ? yarnMscale(factor, rs.mscale) / yarnMscale(factor, rs.mscaleAllDim)
        : yarnMscale(factor);
  // the dimension whose wavelength turns `rotations` times over the original context
  const correctionDim = (rotations: number): number =>
    (dim * Math.log(rs.originalMaxPositionEmbeddings / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
  let low = correctionDim(rs.betaFast);
  let high = correctionDim(rs.betaSlow);
  if (rs.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001; // transformers' guard against a zero-width ramp
  const posFreqs = powScalar(base, exponents(dim));
  const extrapolation = unary('reciprocal', posFreqs);
  const interpolation = unary('reciprocal', posFreqs.mul(factor));
  const ramp = arange(0, dim / 2, 1, { dtype: 'float32' })
    .sub(low)
    .div(high - low)
    .clamp(0, 1);
  const extrapolationFactor = rsub1(ramp);
  const invFreq = interpolation.mul(rsub1(extrapolationFactor)).add(extrapolation.mul(extrapolationFactor));
  return { invFreq, scaling };
}

/**
 * The inverse frequencies [head_dim / 2] (float32) and the factor cos / sin are multiplied by, for a
 * sequence of seqLen positions (only 'dynamic' and 'longrope' depend on it).
 */
export function ropeParameters(c: LlamaConfig, seqLen?: number): { invFreq: Tensor; scaling: number } {
  const rs = c.ropeScaling;
  const dim = c.headDim;
  return tidy(() => {
    switch (rs.ropeType) {
      case 'default':
        return { invFreq: defaultInvFreq(c.ropeTheta, dim), scaling: 1 };
      case 'linear':
        return { invFreq: defaultInvFreq(c.ropeTheta, dim).div(rs.factor), scaling: 1 };
      case 'llama3':
        return { invFreq: llama3(defaultInvFreq(c.ropeTheta, dim), rs), scaling: 1 };
      case 'yarn':
        return yarn(c, rs);
      case 'dynamic': {
        const maxPos = c.maxPositionEmbeddings;
        if (seqLen === undefined || seqLen <= maxPos) return { invFreq: defaultInvFreq(c.ropeTheta, dim), scaling: 1 };
        // transformers gets seq_len as an int64 tensor, so the new base is float32 arithmetic
        const s = tensor(BigInt64Array.of(BigInt(seqLen)), { shape: [] });
        const base = s
          .mul(rs.factor)
          .div(maxPos)
          .sub(rs.factor - 1)
          .pow(dim / (dim - 2))
          .mul(c.ropeTheta);
        return { invFreq: defaultInvFreq(base, dim), scaling: 1 };
      }
      case 'longrope': {
        const orig = rs.originalMaxPositionEmbeddings;
        const factor = rs.factor ?? c.maxPositionEmbeddings / orig;
        const scaling = rs.attentionFactor ?? (factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(orig)));
        const ext = tensor(seqLen !== undefined && seqLen > orig ? rs.longFactor : rs.shortFactor);
        return { invFreq: unary('reciprocal', ext.mul(powScalar(c.ropeTheta, exponents(dim)))), scaling };
      }
    }
  });
}

export interface RopeTables {
  /** cos, [B|1, L, 1, head_dim]: broadcast over the heads of [B, L, heads, head_dim] */
  cos: Tensor;
  /** sin with its first half negated, same shape: rotate_half(x) * sin = roll(x, half) * sinSigned */
  sinSigned: Tensor;
}

/** cos / sin of positions [B, L] (or [L]) times invFreq, times scaling, in dtype; [B, L, 1, D] (HF's maths). */
function tablesAt(invFreq: Tensor, positions: Tensor, scaling: number, dtype: DType): RopeTables {
  return tidy(() => {
    const freqs = positions.to('float32').unsqueeze(-1).mul(invFreq);
    const emb = cat([freqs, freqs], -1);
    let cos = unary('cos', emb);
    let sin = unary('sin', emb);
    if (scaling !== 1) {
      cos = cos.mul(scaling);
      sin = sin.mul(scaling);
    }
    const half = invFreq.size(0);
    const sinSigned = cat([sin.narrow(-1, 0, half).neg(), sin.narrow(-1, half, half)], -1);
    const shape = positions.ndim === 1 ? [1, positions.size(0), 1, -1] : [positions.size(0), positions.size(1), 1, -1];
    const out = { cos: cos.view(...shape), sinSigned: sinSigned.view(...shape) };
    return dtype === 'float32' ? out : { cos: out.cos.to(dtype), sinSigned: out.sinSigned.to(dtype) };
  });
}

interface DeviceState {
  /** the current inverse frequencies (replaced by 'dynamic' / 'longrope' updates) */
  invFreq: Tensor;
  scaling: number;
  /** the frequencies of the original context ('dynamic' returns to them for short sequences) */
  original: Tensor;
  maxSeqLenCached: number;
  /** per dtype: tables of positions 0..n-1 for the current invFreq */
  tables: Map<DType, RopeTables & { n: number }>;
}

/**
 * LlamaRotaryEmbedding: per device, the inverse frequencies and their cos / sin tables. Like
 * transformers' module it is stateful for 'dynamic' (frequencies grow with the longest sequence seen,
 * and return to the original ones for a sequence within max_position_embeddings) and 'longrope'
 * (long factors past original_max_position_embeddings).
 */
export class LlamaRotary {
  readonly #states = new Map<string, DeviceState>();
  constructor(readonly config: LlamaConfig) {}

  #state(device: string): DeviceState {
    let s = this.#states.get(device);
    if (!s) {
      const p = ropeParameters(this.config);
      const invFreq = (device === 'cpu' ? p.invFreq : p.invFreq.to({ device })).keep();
      s = {
        invFreq,
        scaling: p.scaling,
        original: invFreq,
        maxSeqLenCached: this.config.maxPositionEmbeddings,
        tables: new Map(),
      };
      this.#states.set(device, s);
    }
    return s;
  }

  /** The inverse frequencies a forward on device would use now (float32). */
  invFreq(device: string): Tensor {
    return this.#state(device).invFreq;
  }

  /** The factor cos and sin are multiplied by (yarn's / longrope's attention factor; 1 otherwise). */
  attentionScaling(device = 'cpu'): number {
    return this.#state(device).scaling;
  }

  #replace(s: DeviceState, invFreq: Tensor, scaling: number): void {
    if (s.invFreq !== s.original) s.invFreq.dispose();
    s.invFreq = invFreq;
    s.scaling = scaling;
    for (const t of s.tables.values()) {
      t.cos.dispose();
      t.sinSigned.dispose();
    }
    s.tables.clear();
  }

  /** transformers' dynamic_rope_update before a forward over seqLen = max(position) + 1 positions. */
  #update(s: DeviceState, device: string, seqLen: number): void {
    const c = this.config;
    const type = c.ropeScaling.ropeType;
    if (type === 'dynamic') {
      if (seqLen > s.maxSeqLenCached) {
        const p = ropeParameters(c, seqLen);
        this.#replace(s, (device === 'cpu' ? p.invFreq : p.invFreq.to({ device })).keep(), p.scaling);
        s.maxSeqLenCached = seqLen;
      }
      if (seqLen < c.maxPositionEmbeddings && s.maxSeqLenCached > c.maxPositionEmbeddings) {
        this.#replace(s, s.original, 1);
        s.maxSeqLenCached = c.maxPositionEmbeddings;
      }
    } else if (type === 'longrope') {
      const long = seqLen > c.ropeScaling.originalMaxPositionEmbeddings;
      if (long && s.invFreq === s.original) {
        const p = ropeParameters(c, seqLen);
        this.#replace(s, (device === 'cpu' ? p.invFreq : p.invFreq.to({ device })).keep(), p.scaling);
      } else if (!long && s.invFreq !== s.original) this.#replace(s, s.original, s.scaling);
    }
  }

  /**
   * cos / sin for L new tokens at positions past..past+L-1 (positionIds undefined) or positionIds [B, L],
   * in dtype. Consecutive positions slice a table computed once (grown by doubling).
   */
  tables(device: string, dtype: DType, L: number, past: number, positionIds?: Tensor): RopeTables {
    const s = this.#state(device);
    const type = this.config.ropeScaling.ropeType;
    if (type === 'dynamic' || type === 'longrope') {
      // the update needs the sequence length on the JavaScript side: a sync only for these types
      const seqLen = positionIds ? (tidy(() => positionIds.max().item()) as number) + 1 : past + L;
      this.#update(s, device, seqLen);
    }
    // a grown 'dynamic' frequency changes every step: no table for it; nor while an exporter traces
    // (a table would become a constant of the graph, limiting its sequence length)
    if (positionIds || (type === 'dynamic' && s.invFreq !== s.original) || isTracing()) {
      const pos = positionIds ?? arange(past, past + L, 1, { dtype: 'int64', device });
      return tablesAt(s.invFreq, pos, s.scaling, dtype);
    }
    let t = s.tables.get(dtype);
    if (!t || t.n < past + L) {
      const n = Math.max(64, 2 ** Math.ceil(Math.log2(past + L)));
      t?.cos.dispose();
      t?.sinSigned.dispose();
      const made = tablesAt(s.invFreq, arange(0, n, 1, { dtype: 'int64', device }), s.scaling, dtype);
      t = { cos: made.cos.keep(), sinSigned: made.sinSigned.keep(), n };
      s.tables.set(dtype, t);
    }
    return { cos: t.cos.narrow(1, past, L), sinSigned: t.sinSigned.narrow(1, past, L) };
  }

  dispose(): void {
    for (const s of this.#states.values()) {
      this.#replace(s, s.original, s.scaling);
      s.original.dispose();
    }
    this.#states.clear();
  }
}

/** x * cos + rotate_half(x) * sin for x [B, L, heads, head_dim]; rotate_half(x) = cat(-x2, x1). */
export function applyRotary(x: Tensor, t: RopeTables): Tensor {
  const half = x.size(-1) / 2;
  // roll(x, half) = cat(x2, x1) in one op (exporters map the cat)
  const rolled = isTracing()
    ? cat([x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1)
    : (roll(x, [half], [-1]) as Tensor);
  return x.mul(t.cos).add(rolled.mul(t.sinSigned));
}
