// Shared pieces of the Hugging Face transformer ports: masks, head splitting, HF init, legacy keys.
import { ArgumentError, ShapeError } from '../errors.ts';
import { Embedding, init, LayerNorm, Linear, type Module, type StateDictLike } from '../nn/index.ts';
import { aten, type DType, F, ones, type Tensor, tidy, where } from '../tensor/index.ts';

/** torch.finfo(dtype).min, the additive "minus infinity" transformers uses for masked positions. */
export const FINFO_MIN: Partial<Record<DType, number>> = {
  float32: -3.4028234663852886e38,
  float64: -1.7976931348623157e308,
  float16: -65504,
  bfloat16: -3.3895313892515355e38,
};

export function finfoMin(dtype: DType): number {
  const v = FINFO_MIN[dtype];
  if (v === undefined) throw new ArgumentError(`attention masks need a floating dtype, got ${dtype}`);
  return v;
}

/**
 * get_extended_attention_mask as transformers >= 4.x: [B, S] of 1 (attend) / 0 (padding) ->
 * [B, 1, 1, S] additive, 0 or finfo(dtype).min (transformers 3.x used -10000; outputs differ
 * only at padded query rows, which see a uniform distribution either way).
 */
export function extendedAttentionMask(mask: Tensor, dtype: DType): Tensor {
  if (mask.ndim !== 2) throw new ShapeError(`attention mask must be [batch, seq], got [${mask.shape}]`);
  return tidy(() => mask.to(dtype).neg().add(1).mul(finfoMin(dtype)).unsqueeze(1).unsqueeze(1));
}

/** [L, S] additive causal mask (0 on and below the diagonal, finfo.min above), as GPT-2's `attn.bias` where(). */
export function causalAdditiveMask(L: number, S: number, dtype: DType, device: string): Tensor {
  return tidy(() => {
    const keep = aten('aten::tril')(ones([L, S], { dtype: 'bool', device }), S - L) as Tensor;
    return where(keep, 0, finfoMin(dtype)).to(dtype);
  });
}

/** [B, L, H*D] -> [B, H, L, D] (transpose_for_scores / _split_heads). */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [b, l, e] = x.shape as [number, number, number];
  return tidy(() => x.view(b, l, heads, e / heads).permute(0, 2, 1, 3));
}

/** [B, H, L, D] -> [B, L, H*D]. */
export function mergeHeads(x: Tensor): Tensor {
  const [b, h, l, d] = x.shape as [number, number, number, number];
  return tidy(() => x.permute(0, 2, 1, 3).reshape(b, l, h * d));
}

export type HiddenAct = 'gelu' | 'gelu_new' | 'relu' | 'tanh';

/** transformers' ACT2FN for the activations these configs name: gelu is the exact erf form, gelu_new the tanh one. */
export function activation(name: HiddenAct, x: Tensor): Tensor {
  switch (name) {
    case 'gelu':
      return F.gelu(x);
    case 'gelu_new':
      return F.gelu(x, 'tanh');
    case 'relu':
      return F.relu(x);
    case 'tanh':
      return F.tanh(x);
  }
}

/** PreTrainedModel._init_weights for BERT and GPT-2: N(0, range) weights, zero biases, LayerNorm 1 / 0. */
export function hfInitWeights(model: Module, range: number): void {
  for (const m of model.modules()) {
    if (m instanceof Linear) {
      init.normal_(m.weight, 0, range);
      if (m.bias) init.zeros_(m.bias);
    } else if (m instanceof Embedding) {
      init.normal_(m.weight, 0, range);
      if (m.paddingIdx !== undefined) tidy(() => init.zeros_(m.weight.select(0, m.paddingIdx!)));
    } else if (m instanceof LayerNorm) {
      if (m.weight) init.ones_(m.weight);
      if (m.bias) init.zeros_(m.bias);
    }
  }
}

/**
 * A copy of a state dict without the keys transformers lists in `_keys_to_ignore_on_load_unexpected`
 * (buffers older versions saved: BERT's position_ids, GPT-2's attn.bias / attn.masked_bias).
 */
export function withoutKeys(sd: StateDictLike, drop: (key: string) => boolean): Map<string, Tensor> {
  const entries = sd instanceof Map ? [...sd] : Object.entries(sd);
  return new Map(entries.filter(([k]) => !drop(k)));
}
