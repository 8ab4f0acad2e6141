// Channel pruning that really shrinks a conv net: a conv loses whole output channels, its BatchNorm
// the same features, and the layers reading it the same input channels, so the network computes
// less (ln_structured only zeroes channels; this removes them). Which convs may shrink follows the
// residual rule: a conv whose output is added to a skip connection must keep the block's width, so
// in ResNet-style blocks only the inner convs shrink (BasicBlock conv1; Bottleneck conv1, conv2).
import { ArgumentError } from '../errors.ts';
import { BatchNorm2d, Conv2d, type Module, Sequential } from '../nn/index.ts';
import { noGrad, type Tensor, tensor, tidy } from '../tensor/index.ts';
import { pruningOf, remove } from './apply.ts';

/** A conv, the BatchNorm on its output, and the convs that read its output. */
export interface ShrinkPlan {
  conv: string;
  bn?: string;
  consumers: string[];
}

export interface Shrinkable {
  plans: ShrinkPlan[];
  /** convs that cannot shrink, with the reason */
  refused: { conv: string; reason: string }[];
}

const isConv = (m: Module | undefined): m is Conv2d => m instanceof Conv2d;
const isBn = (m: Module | undefined): m is BatchNorm2d => m instanceof BatchNorm2d;

function child(m: Module, name: string): Module | undefined {
  for (const [n, c] of m.namedChildren()) if (n === name) return c;
  return undefined;
}

/**
 * The convs of residual blocks (children conv1/bn1/conv2/bn2[/conv3/bn3], as torchvision's
 * BasicBlock and Bottleneck) that can shrink, and those that cannot: the last conv of a block and
 * its downsample feed the residual add.
 */
export function shrinkable(model: Module): Shrinkable {
  const plans: ShrinkPlan[] = [];
  const refused: Shrinkable['refused'] = [];
  for (const [path, m] of model.namedModules()) {
    const at = (n: string) => (path ? `${path}.${n}` : n);
    const [c1, b1, c2, b2, c3, b3] = ['conv1', 'bn1', 'conv2', 'bn2', 'conv3', 'bn3'].map((n) => child(m, n));
    if (m instanceof Sequential || !(isConv(c1) && isBn(b1) && isConv(c2) && isBn(b2))) continue;
    const bottleneck = isConv(c3) && isBn(b3);
    plans.push({ conv: at('conv1'), bn: at('bn1'), consumers: [at('conv2')] });
    if (bottleneck) plans.push({ conv: at('conv2'), bn: at('bn2'), consumers: [at('conv3')] });
    const last = bottleneck ? 'conv3' : 'conv2';
    refused.push({ conv: at(last), reason: 'its output is added to the residual connection: the widths must match' });
    const ds = child(m, 'downsample');
    if (ds) refused.push({ conv: at('downsample.0'), reason: 'it feeds the residual add' });
  }
  return { plans, refused };
}

const slice = (t: Tensor, dim: number, keep: Tensor): Tensor => t.detach().indexSelect(dim, keep).contiguous();

/** Replaces plan.conv (and its BatchNorm, and its consumers' inputs) by versions keeping only `keep` channels. */
export function shrinkConv(model: Module, plan: ShrinkPlan, keep: number[]): void {
  const conv = model.getSubmodule(plan.conv);
  if (!isConv(conv)) throw new ArgumentError(`'${plan.conv}' is not a Conv2d`);
  if (conv.groups !== 1) throw new ArgumentError(`'${plan.conv}' is a grouped conv: shrinking it is not supported`);
  const c = conv.outChannels;
  if (!keep.length || keep.some((k) => !Number.isInteger(k) || k < 0 || k >= c) || new Set(keep).size !== keep.length)
    throw new ArgumentError(`keep for '${plan.conv}' must be distinct channel indices in [0, ${c}) and not empty`);
  for (const name of [plan.conv, ...plan.consumers]) {
    const m = model.getSubmodule(name);
    if (pruningOf(m).has('weight')) remove(m, 'weight');
  }
  const idx = tensor(keep, { dtype: 'int64' });
  noGrad(() =>
    tidy(() => {
      const small = new Conv2d(conv.inChannels, keep.length, conv.kernelSize as [number, number], {
        stride: conv.stride as [number, number],
        padding: conv.padding as [number, number],
        dilation: conv.dilation as [number, number],
        bias: conv.bias !== undefined,
      });
      small.weight.copy_(slice(conv.weight, 0, idx));
      if (conv.bias) small.bias!.copy_(slice(conv.bias, 0, idx));
      small.train(conv.training);
      model.setSubmodule(plan.conv, small);
      if (plan.bn) {
        const bn = model.getSubmodule(plan.bn);
        if (!isBn(bn) || bn.numFeatures !== c)
          throw new ArgumentError(`'${plan.bn}' is not a BatchNorm2d over ${c} channels`);
        const nb = new BatchNorm2d(keep.length, {
          eps: bn.eps,
          momentum: bn.momentum ?? undefined,
          affine: bn.affine,
          trackRunningStats: bn.trackRunningStats,
        });
        if (bn.momentum === null) nb.momentum = null;
        if (bn.weight) nb.weight!.copy_(slice(bn.weight, 0, idx));
        if (bn.bias) nb.bias!.copy_(slice(bn.bias, 0, idx));
        if (bn.runningMean) nb.runningMean!.copy_(slice(bn.runningMean, 0, idx));
        if (bn.runningVar) nb.runningVar!.copy_(slice(bn.runningVar, 0, idx));
        if (bn.numBatchesTracked) nb.numBatchesTracked!.copy_(bn.numBatchesTracked);
        nb.train(bn.training);
        model.setSubmodule(plan.bn, nb);
      }
      for (const name of plan.consumers) {
        const next = model.getSubmodule(name);
        if (!isConv(next) || next.inChannels !== c || next.groups !== 1)
          throw new ArgumentError(`'${name}' must be a Conv2d (groups 1) reading the ${c} channels of '${plan.conv}'`);
        const n = new Conv2d(keep.length, next.outChannels, next.kernelSize as [number, number], {
          stride: next.stride as [number, number],
          padding: next.padding as [number, number],
          dilation: next.dilation as [number, number],
          bias: next.bias !== undefined,
        });
        n.weight.copy_(slice(next.weight, 1, idx));
        if (next.bias) n.bias!.copy_(next.bias.detach());
        n.train(next.training);
        model.setSubmodule(name, n);
      }
    }),
  );
}

export interface ShrinkOptions {
  /** fraction of each shrinkable conv's output channels removed (torch's round(amount * C)) */
  amount: number;
  /** the norm ranking channels (default 2, as ln_structured with n=2) */
  n?: number;
  /** only these convs (dotted names); a conv that cannot shrink is refused with the reason */
  convs?: string[];
}

export interface ShrinkReport {
  layers: { conv: string; before: number; after: number }[];
  parametersBefore: number;
  parametersAfter: number;
}

function channelNorms(w: Tensor, n: number): number[] {
  return noGrad(() => tidy(() => Array.from(w.detach().flatten(1).norm(n, 1).data() as Float32Array)));
}

/**
 * ln-structured channel pruning made physical: each shrinkable conv keeps the output channels with
 * the largest L-n norm (the ones torch's ln_structured(amount, n, dim=0) would keep).
 */
export function lnShrink(model: Module, o: ShrinkOptions): ShrinkReport {
  if (!(o.amount >= 0 && o.amount < 1)) throw new ArgumentError(`shrink amount must be in [0, 1), got ${o.amount}`);
  const { plans, refused } = shrinkable(model);
  let chosen = plans;
  if (o.convs) {
    chosen = o.convs.map((name) => {
      const p = plans.find((q) => q.conv === name);
      if (p) return p;
      const why = refused.find((r) => r.conv === name)?.reason ?? 'it is not the inner conv of a residual block';
      throw new ArgumentError(
        `cannot shrink '${name}': ${why}`,
        `shrinkable: ${plans.map((q) => q.conv).join(', ') || 'none'}`,
      );
    });
  }
  const parametersBefore = model.numParameters();
  const layers: ShrinkReport['layers'] = [];
  for (const plan of chosen) {
    const conv = model.getSubmodule(plan.conv) as Conv2d;
    const c = conv.outChannels;
    const drop = Math.round(o.amount * c);
    const norms = channelNorms(conv.weight, o.n ?? 2);
    const order = norms.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    const keep = order
      .slice(0, c - drop)
      .map(([, i]) => i)
      .sort((a, b) => a - b);
    shrinkConv(model, plan, keep);
    layers.push({ conv: plan.conv, before: c, after: keep.length });
  }
  return { layers, parametersBefore, parametersAfter: model.numParameters() };
}

/** Removes the conv's all-zero output channels (its plan's BatchNorm and readers follow) and records it. */
function shrinkDeadChannels(model: Module, plan: ShrinkPlan, layers: ShrinkReport['layers']): void {
  const conv = model.getSubmodule(plan.conv) as Conv2d;
  const alive = channelNorms(conv.weight, 1)
    .map((v, i) => [v, i] as const)
    .filter(([v]) => v !== 0)
    .map(([, i]) => i);
  if (alive.length === conv.outChannels) return;
  if (alive.length === 0)
    throw new ArgumentError(`every channel of '${plan.conv}' is pruned`, 'prune a smaller amount');
  const before = conv.outChannels;
  shrinkConv(model, plan, alive);
  layers.push({ conv: plan.conv, before, after: alive.length });
}

/**
 * Removes the channels an ln_structured / random_structured pruning (dim 0) already zeroed: the
 * masks of shrinkable convs decide which channels stay. Convs without such a mask are left alone.
 */
export function shrinkPruned(model: Module): ShrinkReport {
  const { plans } = shrinkable(model);
  const parametersBefore = model.numParameters();
  const layers: ShrinkReport['layers'] = [];
  for (const plan of plans) {
    const conv = model.getSubmodule(plan.conv) as Conv2d;
    if (!pruningOf(conv).has('weight')) continue;
    shrinkDeadChannels(model, plan, layers);
  }
  return { layers, parametersBefore, parametersAfter: model.numParameters() };
}

/**
 * Removes the output channels whose weights are all zero from the named shrinkable convs (their
 * BatchNorm and the convs reading them follow): what a structured pruning left of them, masks
 * baked or not. A channel is only dead if its BatchNorm's weight and bias are zero too; prune those
 * with the same channels (recipes do) so the smaller model computes what the masked one did.
 */
export function shrinkZeroed(model: Module, convs: readonly string[]): ShrinkReport {
  const { plans, refused } = shrinkable(model);
  const parametersBefore = model.numParameters();
  const layers: ShrinkReport['layers'] = [];
  for (const name of convs) {
    const plan = plans.find((p) => p.conv === name);
    if (!plan)
      throw new ArgumentError(
        `cannot shrink '${name}': ${refused.find((r) => r.conv === name)?.reason ?? 'it is not the inner conv of a residual block'}`,
      );
    shrinkDeadChannels(model, plan, layers);
  }
  return { layers, parametersBefore, parametersAfter: model.numParameters() };
}

/**
 * Gives a freshly built model the widths a shrunk one has (conv name -> output channels), so the
 * shrunk model's weights load into it: the first channels are kept, the weights replace them.
 */
export function shrinkToWidths(model: Module, widths: Readonly<Record<string, number>>): void {
  const { plans } = shrinkable(model);
  for (const [name, n] of Object.entries(widths)) {
    const plan = plans.find((p) => p.conv === name);
    if (!plan)
      throw new ArgumentError(`cannot give '${name}' ${n} channels: it is not a shrinkable conv of this model`);
    shrinkConv(
      model,
      plan,
      Array.from({ length: n }, (_, i) => i),
    );
  }
}
