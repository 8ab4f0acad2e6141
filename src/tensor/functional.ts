// torch.nn.functional: convolution, pooling, normalisation, activations, embedding, dropout, attention.
import { callRaw, defFast, op } from './_core.ts';
import { fast } from './fast_native.ts';
import * as M from './math.ts';
import { tidy } from './scope.ts';

export { linear } from './math.ts';

import { Tensor, wrap } from './tensor.ts';

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (Array.isArray(v) ? v : [v, v]);

export interface ConvOptions {
  stride?: Pair;
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
  groups?: number;
}

const conv2dOp = defFast('aten::conv2d', '', fast.fastConv2d);
export function conv2d(x: Tensor, w: Tensor, b?: Tensor, o: ConvOptions = {}): Tensor {
  const stride = pair(o.stride ?? 1);
  const dilation = pair(o.dilation ?? 1);
  const padding = o.padding ?? 0;
  if (typeof padding === 'string')
    return new Tensor(callRaw(op('aten::conv2d', 'padding'), x.h, w.h, b?.h, stride, padding, dilation, o.groups ?? 1));
  return new Tensor(conv2dOp(x.h, w.h, b?.h, stride, pair(padding), dilation, o.groups ?? 1));
}

export interface Conv1dOptions {
  stride?: number;
  padding?: number | 'same' | 'valid';
  dilation?: number;
  groups?: number;
}

export function conv1d(x: Tensor, w: Tensor, b?: Tensor, o: Conv1dOptions = {}): Tensor {
  const padding = o.padding ?? 0;
  const args = [x.h, w.h, b?.h, [o.stride ?? 1]] as const;
  if (typeof padding === 'string')
    return new Tensor(callRaw(op('aten::conv1d', 'padding'), ...args, padding, [o.dilation ?? 1], o.groups ?? 1));
  return new Tensor(callRaw(op('aten::conv1d'), ...args, [padding], [o.dilation ?? 1], o.groups ?? 1));
}

export interface PoolOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  ceilMode?: boolean;
  countIncludePad?: boolean;
  divisorOverride?: number;
}

const maxPool2dOp = defFast('aten::max_pool2d', '', fast.fastMaxPool2d);
export const maxPool2d = (x: Tensor, kernel: Pair, o: PoolOptions = {}): Tensor =>
  new Tensor(
    maxPool2dOp(
      x.h,
      pair(kernel),
      pair(o.stride ?? kernel),
      pair(o.padding ?? 0),
      pair(o.dilation ?? 1),
      o.ceilMode ?? false,
    ),
  );
export const avgPool2d = (x: Tensor, kernel: Pair, o: PoolOptions = {}): Tensor =>
  new Tensor(
    callRaw(
      op('aten::avg_pool2d'),
      x.h,
      pair(kernel),
      pair(o.stride ?? kernel),
      pair(o.padding ?? 0),
      o.ceilMode ?? false,
      o.countIncludePad ?? true,
      o.divisorOverride ?? null,
    ),
  );
const adaptiveAvgPool2dOp = defFast('aten::adaptive_avg_pool2d', '', fast.fastAdaptiveAvgPool2d);
export const adaptiveAvgPool2d = (x: Tensor, size: Pair): Tensor => new Tensor(adaptiveAvgPool2dOp(x.h, pair(size)));
export const adaptiveMaxPool2d = (x: Tensor, size: Pair): Tensor => {
  const [out, idx] = wrap(callRaw(op('aten::adaptive_max_pool2d'), x.h, pair(size))) as [Tensor, Tensor];
  idx.dispose();
  return out;
};

const batchNormOp = defFast('aten::batch_norm', '', fast.fastBatchNorm);
/** F.batch_norm: in training mode the running statistics are updated in place by libtorch's kernel. */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | undefined,
  runningVar: Tensor | undefined,
  weight?: Tensor,
  bias?: Tensor,
  training = false,
  momentum = 0.1,
  eps = 1e-5,
): Tensor {
  return new Tensor(batchNormOp(x.h, weight?.h, bias?.h, runningMean?.h, runningVar?.h, training, momentum, eps, true));
}
export const layerNorm = (x: Tensor, normalizedShape: number[], weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor =>
  new Tensor(callRaw(op('aten::layer_norm'), x.h, normalizedShape, weight?.h, bias?.h, eps, true));
export const groupNorm = (x: Tensor, numGroups: number, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor =>
  new Tensor(callRaw(op('aten::group_norm'), x.h, numGroups, weight?.h, bias?.h, eps, true));

/** F.embedding(indices, weight, paddingIdx): rows of weight; paddingIdx rows get no gradient. */
export function embedding(indices: Tensor, weight: Tensor, paddingIdx?: number): Tensor {
  let pad = paddingIdx ?? -1;
  if (paddingIdx !== undefined && paddingIdx < 0) pad = weight.size(0) + paddingIdx;
  return new Tensor(callRaw(op('aten::embedding'), weight.h, indices.h, pad, false, false));
}

const dropoutOp = defFast('aten::dropout', '', fast.fastDropout);
export const dropout = (x: Tensor, p = 0.5, training = true): Tensor => new Tensor(dropoutOp(x.h, p, training));

// ---- activations ----
const reluOp = defFast('aten::relu', '', fast.fastRelu);
const sigmoidOp = defFast('aten::sigmoid', '', fast.fastSigmoid);
const tanhOp = defFast('aten::tanh', '', fast.fastTanh);
const softmaxOp = defFast('aten::softmax', 'int', fast.fastSoftmax);
const logSoftmaxOp = defFast('aten::log_softmax', 'int', fast.fastLogSoftmax);
export const relu = (x: Tensor): Tensor => new Tensor(reluOp(x.h));
export const relu6 = (x: Tensor): Tensor => new Tensor(callRaw(op('aten::hardtanh'), x.h, 0, 6));
export const leakyRelu = (x: Tensor, slope = 0.01): Tensor => new Tensor(callRaw(op('aten::leaky_relu'), x.h, slope));
export const gelu = (x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor =>
  new Tensor(callRaw(op('aten::gelu'), x.h, approximate));
export const silu = (x: Tensor): Tensor => new Tensor(callRaw(op('aten::silu'), x.h));
export const sigmoid = (x: Tensor): Tensor => new Tensor(sigmoidOp(x.h));
export const tanh = (x: Tensor): Tensor => new Tensor(tanhOp(x.h));
export const hardswish = (x: Tensor): Tensor => new Tensor(callRaw(op('aten::hardswish'), x.h));
export const hardsigmoid = (x: Tensor): Tensor => new Tensor(callRaw(op('aten::hardsigmoid'), x.h));
export const elu = (x: Tensor, alpha = 1): Tensor => new Tensor(callRaw(op('aten::elu'), x.h, alpha));
export const softmax = (x: Tensor, dim: number): Tensor => new Tensor(softmaxOp(x.h, dim));
export const logSoftmax = (x: Tensor, dim: number): Tensor => new Tensor(logSoftmaxOp(x.h, dim));

export interface AttentionOptions {
  /** boolean (true = attend) or additive float mask, broadcastable to [..., L, S] */
  attnMask?: Tensor;
  dropoutP?: number;
  isCausal?: boolean;
  training?: boolean;
}

let hasFusedSdpa: boolean | undefined;

/** F.scaled_dot_product_attention; the explicit formula where this libtorch lacks the fused op. */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions = {}): Tensor {
  const p = o.training === false ? 0 : (o.dropoutP ?? 0);
  if (hasFusedSdpa === undefined) {
    try {
      op('aten::scaled_dot_product_attention');
      hasFusedSdpa = true;
    } catch {
      hasFusedSdpa = false;
    }
  }
  if (hasFusedSdpa)
    return new Tensor(
      callRaw(op('aten::scaled_dot_product_attention'), q.h, k.h, v.h, o.attnMask?.h, p, o.isCausal ?? false),
    );
  return explicitAttention(q, k, v, o.attnMask, p, o.isCausal ?? false);
}

/** softmax(q k^T / sqrt(d) + mask) v, exactly as PyTorch documents the fused op. */
export function explicitAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: Tensor | undefined,
  p: number,
  causal: boolean,
): Tensor {
  return tidy(() => {
    const L = q.size(-2);
    const S = k.size(-2);
    let scores = M.mul(M.matmul(q, k.transpose(-2, -1)), 1 / Math.sqrt(q.size(-1)));
    if (causal) {
      const ones = new Tensor(callRaw(op('aten::ones'), [L, S], 11, null, q.device));
      const keep = new Tensor(callRaw(op('aten::tril'), ones.h, 0));
      scores = scores.maskedFill(M.unary('logical_not', keep), Number.NEGATIVE_INFINITY);
    }
    if (mask)
      scores =
        mask.dtype === 'bool'
          ? scores.maskedFill(M.unary('logical_not', mask), Number.NEGATIVE_INFINITY)
          : M.add(scores, mask);
    let attn = softmax(scores, -1);
    if (p > 0) attn = dropout(attn, p, true);
    return M.matmul(attn, v);
  });
}
