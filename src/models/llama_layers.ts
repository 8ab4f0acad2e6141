// Llama's building blocks with transformers' maths: RMSNorm and the 4-D causal + padding (+ sliding
// window) mask (rotary embeddings: llama_rope.ts).
import { ArgumentError, ShapeError } from '../errors.ts';
import { Module, type Parameter } from '../nn/index.ts';
import { arange, aten, type DType, ones, type Tensor, tidy, where, zeros } from '../tensor/index.ts';
import { finfoMin } from './_transformer.ts';
import type { LlamaConfig } from './llama_config.ts';
import { ropeParameters } from './llama_rope.ts';

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
    // (call() scopes the intermediates; h * h is what pow(h, 2) computes)
    const dtype = x.dtype;
    const h = dtype === 'float32' ? x : x.to('float32');
    const normed = h.mul(h.mul(h).mean(-1, true).add(this.varianceEpsilon).rsqrt());
    return this.weight.mul(dtype === 'float32' ? normed : normed.to(dtype));
  }
  override extraRepr(): string {
    return `(${this.weight.size(0)},), eps=${this.varianceEpsilon}`;
  }
}

/** The rotary inverse frequencies [head_dim / 2] (float32) for config c, as modeling_rope_utils computes them. */
export const ropeInvFreq = (c: LlamaConfig): Tensor => ropeParameters(c).invFreq;

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
