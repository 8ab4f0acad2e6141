// Llama's building blocks with transformers' maths: RMSNorm, rotary embeddings (default / linear /
// llama3 frequencies), the 4-D causal + padding (+ sliding window) mask, repeat_kv.
import { ArgumentError, ShapeError } from '../errors.ts';
import { Module, type Parameter } from '../nn/index.ts';
import { arange, aten, cat, type DType, ones, type Tensor, tidy, unary, where, zeros } from '../tensor/index.ts';
import { finfoMin } from './_transformer.ts';
import type { LlamaConfig } from './llama_config.ts';

/** LlamaRMSNorm: x / sqrt(mean(x^2) + eps) in float32, cast back, times weight. */
export class LlamaRMSNorm extends Module {
  weight: Parameter;
  readonly varianceEpsilon: number;
  constructor(hidden: number, eps = 1e-6, o: { dtype?: DType } = {}) {
    super();
    this.varianceEpsilon = eps;
    this.weight = this.registerParameter('weight', ones([hidden], o));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const h = x.dtype === 'float32' ? x : x.to('float32');
      const variance = h.pow(2).mean(-1, true);
      const normed = h.mul(variance.add(this.varianceEpsilon).rsqrt());
      return this.weight.mul(normed.dtype === x.dtype ? normed : normed.to(x.dtype));
    });
  }
  override extraRepr(): string {
    return `(${this.weight.size(0)},), eps=${this.varianceEpsilon}`;
  }
}

/**
 * The rotary inverse frequencies [head_dim / 2] (float32) as modeling_rope_utils computes them:
 * 1 / theta^(2i / d); 'linear' divides by the factor; 'llama3' divides the low frequencies by the
 * factor, keeps the high ones and interpolates between.
 */
export function ropeInvFreq(c: LlamaConfig): Tensor {
  return tidy(() => {
    const dim = c.headDim;
    const exponent = arange(0, dim, 2, { dtype: 'int64' }).to('float32').div(dim);
    const invFreq = unary('reciprocal', aten('aten::pow', 'Scalar')(c.ropeTheta, exponent) as Tensor);
    const rs = c.ropeScaling;
    if (rs.ropeType === 'default') return invFreq;
    if (rs.ropeType === 'linear') return invFreq.div(rs.factor);
    const old = rs.originalMaxPositionEmbeddings;
    const lowFreqWavelen = old / rs.lowFreqFactor;
    const highFreqWavelen = old / rs.highFreqFactor;
    const wavelen = unary('reciprocal', invFreq).mul(2 * Math.PI);
    const long = wavelen.gt(lowFreqWavelen);
    const invLlama = where(long, invFreq.div(rs.factor), invFreq);
    const smooth = unary('reciprocal', wavelen)
      .mul(old)
      .sub(rs.lowFreqFactor)
      .div(rs.highFreqFactor - rs.lowFreqFactor);
    const smoothed = smooth.neg().add(1).mul(invLlama).div(rs.factor).add(smooth.mul(invLlama));
    const medium = aten('aten::logical_and')(
      unary('logical_not', wavelen.lt(highFreqWavelen)),
      unary('logical_not', long),
    ) as Tensor;
    return where(medium, smoothed, invLlama);
  });
}

export interface RopeTables {
  /** [B, L, head_dim] */
  cos: Tensor;
  sin: Tensor;
}

/** cos / sin of position * inv_freq, duplicated over both halves, in the activations' dtype. */
export function ropeTables(invFreq: Tensor, positionIds: Tensor, dtype: DType): RopeTables {
  return tidy(() => {
    const freqs = positionIds.to('float32').unsqueeze(-1).mul(invFreq);
    const emb = cat([freqs, freqs], -1);
    const cos = unary('cos', emb);
    const sin = unary('sin', emb);
    return dtype === 'float32' ? { cos, sin } : { cos: cos.to(dtype), sin: sin.to(dtype) };
  });
}

/** x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1); x [B, H, L, D], tables [B, L, D]. */
export function applyRotary(x: Tensor, t: RopeTables): Tensor {
  return tidy(() => {
    const half = x.size(-1) / 2;
    const rotated = cat([x.slice(-1, half).neg(), x.slice(-1, 0, half)], -1);
    return x.mul(t.cos.unsqueeze(1)).add(rotated.mul(t.sin.unsqueeze(1)));
  });
}

/** repeat_kv: [B, kvH, S, D] -> [B, kvH * n, S, D], each key/value head repeated n times in place. */
export function repeatKv(x: Tensor, n: number): Tensor {
  if (n === 1) return x;
  const [b, kv, s, d] = x.shape as [number, number, number, number];
  return tidy(() =>
    x
      .unsqueeze(2)
      .expand(b, kv, n, s, d)
      .reshape(b, kv * n, s, d),
  );
}

/**
 * _update_causal_mask: [B|1, 1, L, past + L] additive mask, 0 where a query may attend and
 * finfo(dtype).min where the key is in its future, is padding (attentionMask 0) or, with a
 * sliding window, sits `window` or more positions back. Undefined when nothing is masked.
 */
export function llamaAttentionMask(
  L: number,
  past: number,
  dtype: DType,
  device: string,
  o: { attentionMask?: Tensor; slidingWindow?: number } = {},
): Tensor | undefined {
  const S = past + L;
  const am = o.attentionMask;
  if (am && (am.ndim !== 2 || am.size(1) !== S))
    throw new ShapeError(
      `attentionMask [${am.shape}] must be [batch, past + new tokens] = [batch, ${S}]`,
      'pass the mask of the whole sequence so far when decoding with a cache',
    );
  const windowed = o.slidingWindow !== undefined && S > o.slidingWindow;
  if (L === 1 && !am && !windowed) return undefined;
  if (o.slidingWindow !== undefined && o.slidingWindow < 1)
    throw new ArgumentError(`sliding_window must be >= 1, got ${o.slidingWindow}`);
  return tidy(() => {
    const query = arange(past, S, 1, { dtype: 'int64', device }).unsqueeze(1);
    const key = arange(0, S, 1, { dtype: 'int64', device }).unsqueeze(0);
    let blocked = key.gt(query);
    if (windowed) blocked = aten('aten::logical_or')(blocked, key.le(query.sub(o.slidingWindow!))) as Tensor;
    blocked = blocked.unsqueeze(0);
    if (am) blocked = aten('aten::logical_or')(blocked, am.eq(0).unsqueeze(1)) as Tensor;
    // a zero of the target dtype keeps finfo.min exact (a float32 detour would turn float64's into -inf)
    return where(blocked, finfoMin(dtype), zeros([], { dtype, device })).unsqueeze(1);
  });
}
