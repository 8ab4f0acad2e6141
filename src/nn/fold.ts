// Conv + BatchNorm folding for inference (torch's fuse_conv_bn_eval): in eval mode a BatchNorm after
// a convolution is an affine map per channel, so it can live in the conv's weight and bias and the
// BatchNorm pass disappears. foldConvBnWeights is the math (quantization's fusion uses it too);
// foldConvBn finds the pairs itself by tracing one forward: a conv whose output feeds exactly one
// op, an eval-mode batch_norm, with both modules called once.
import { ArgumentError } from '../errors.ts';
import { noGrad, type Tensor, type TracedOp, traceOps, zeros } from '../tensor/index.ts';
import { BatchNorm2d, Conv2d, Identity } from './layers/index.ts';
import type { Module } from './module.ts';

type Handle = Tensor['h'];

/** The BatchNorm's fields the fold reads (a BatchNorm2d, or a QAT module's bn). */
export interface BatchNormLike {
  runningMean?: Tensor;
  runningVar?: Tensor;
  weight?: Tensor;
  bias?: Tensor;
  eps: number;
}

/** torch's fuse_conv_bn_weights: w * (gamma / sqrt(var + eps)), (b - mean) * gamma / sqrt(var + eps) + beta. */
export function foldConvBnWeights(
  convW: Tensor,
  convB: Tensor | undefined,
  bn: BatchNormLike,
): { weight: Tensor; bias: Tensor } {
  return noGrad(() => {
    const rm = bn.runningMean;
    const rv = bn.runningVar;
    if (!rm || !rv)
      throw new ArgumentError(
        'cannot fold a BatchNorm without running statistics into a conv',
        'track_running_stats must be on',
      );
    const b = convB ?? zeros(rm.shape);
    const gamma = bn.weight ?? zeros(rm.shape).add(1);
    const beta = bn.bias ?? zeros(rm.shape);
    const rsqrt = rv.add(bn.eps).rsqrt();
    const shape = [-1, ...Array(convW.ndim - 1).fill(1)];
    const weight = convW.mul(gamma.mul(rsqrt).reshape(shape));
    const bias = b.sub(rm).mul(rsqrt).mul(gamma).add(beta);
    return { weight, bias };
  });
}

/** Replaces the module at `path` by `m`, in the parent's child table and in any field that held the old one. */
function replaceModule(model: Module, path: string, m: Module): void {
  const i = path.lastIndexOf('.');
  const parent = i < 0 ? model : model.getSubmodule(path.slice(0, i));
  const old = model.getSubmodule(path);
  model.setSubmodule(path, m);
  // models keep children in fields as well (this.bn1 = registerModule(...)); their forward reads those
  const fields = parent as unknown as Record<string, unknown>;
  for (const k of Object.keys(fields)) if (fields[k] === old) fields[k] = m;
}

/**
 * Folds every conv + BatchNorm2d pair of an eval-mode model in place, found by tracing
 * model.call(probe): the conv's weight and bias take the BatchNorm, the BatchNorm becomes Identity.
 * Outputs match the unfolded model up to float rounding. For inference only (the model stays in
 * eval mode; training it again trains the folded weights). Returns the folded pairs' paths.
 */
export function foldConvBn(model: Module, probe: Tensor | Tensor[]): { conv: string; bn: string }[] {
  const named = [...model.namedModules()];
  if (named.some(([, m]) => m.training))
    throw new ArgumentError('conv + BatchNorm folding needs eval mode', 'call model.eval() first');
  // which module a tensor handle belongs to: a conv's weight, a BatchNorm's running mean
  const owner = new Map<Handle, string>();
  for (const [path, m] of named) {
    if (m instanceof Conv2d) owner.set(m.weight.h, path);
    if (m instanceof BatchNorm2d && m.runningMean) owner.set(m.runningMean.h, path);
  }
  const ops: TracedOp[] = [];
  noGrad(() =>
    traceOps(
      () => (Array.isArray(probe) ? (model.call as (...a: unknown[]) => unknown)(...probe) : model.call(probe)),
      (op) => void ops.push(op),
    ),
  );
  const tensorArg = (op: TracedOp, i: number) => {
    const a = op.args[i];
    return a?.kind === 'tensor' ? a.h : undefined;
  };
  const uses = new Map<Handle, number>();
  const calls = new Map<string, number>();
  for (const op of ops) {
    for (const a of op.args) {
      if (a.kind === 'tensor' && a.h !== undefined) uses.set(a.h, (uses.get(a.h) ?? 0) + 1);
      if (a.kind === 'tensors') for (const h of a.hs) uses.set(h, (uses.get(h) ?? 0) + 1);
    }
    // aten::conv2d(input, weight, ...), aten::batch_norm(input, weight, bias, running_mean, ...)
    const w =
      op.name === 'aten::conv2d' ? tensorArg(op, 1) : op.name === 'aten::batch_norm' ? tensorArg(op, 3) : undefined;
    const p = w === undefined ? undefined : owner.get(w);
    if (p !== undefined) calls.set(p, (calls.get(p) ?? 0) + 1);
  }
  const pairs: { conv: string; bn: string }[] = [];
  for (const bnOp of ops) {
    if (bnOp.name !== 'aten::batch_norm') continue;
    const input = tensorArg(bnOp, 0);
    const convOp = ops.find((o) => o.name === 'aten::conv2d' && o.outputs[0] === input);
    const conv = convOp && owner.get(tensorArg(convOp, 1)!);
    const bn = owner.get(tensorArg(bnOp, 3)!);
    if (!conv || !bn || uses.get(input!) !== 1 || calls.get(conv) !== 1 || calls.get(bn) !== 1) continue;
    pairs.push({ conv, bn });
  }
  for (const { conv: cp, bn: bp } of pairs) {
    const conv = model.getSubmodule(cp) as Conv2d;
    const bn = model.getSubmodule(bp) as BatchNorm2d;
    const { weight, bias } = foldConvBnWeights(conv.weight.detach(), conv.bias?.detach(), bn);
    noGrad(() => {
      conv.weight.setData_(weight);
      if (conv.bias) conv.bias.setData_(bias);
      else conv.bias = conv.registerParameter('bias', bias);
    });
    replaceModule(model, bp, new Identity().eval());
  }
  return pairs;
}
