// Losses with torch.nn.functional's options and defaults.
import { ArgumentError } from '../errors.ts';
import { callRaw, defFast, op } from './_core.ts';
import { fast } from './fast_native.ts';
import { Tensor } from './tensor.ts';

export type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

function red(r: Reduction | undefined): number {
  const v = REDUCTION[r ?? 'mean'];
  if (v === undefined) throw new ArgumentError(`reduction '${r}': expected none, mean or sum`);
  return v;
}

export interface CrossEntropyOptions {
  weight?: Tensor;
  ignoreIndex?: number;
  labelSmoothing?: number;
  reduction?: Reduction;
}

const crossEntropyOp = defFast('aten::cross_entropy_loss', '', fast.fastCrossEntropy);
/** F.cross_entropy: class indices (int64) or class probabilities as target. */
export const crossEntropy = (input: Tensor, target: Tensor, o: CrossEntropyOptions = {}): Tensor =>
  new Tensor(
    crossEntropyOp(input.h, target.h, o.weight?.h, red(o.reduction), o.ignoreIndex ?? -100, o.labelSmoothing ?? 0),
  );

export const nllLoss = (input: Tensor, target: Tensor, o: Omit<CrossEntropyOptions, 'labelSmoothing'> = {}): Tensor =>
  new Tensor(callRaw(op('aten::nll_loss_nd'), input.h, target.h, o.weight?.h, red(o.reduction), o.ignoreIndex ?? -100));

export const mseLoss = (input: Tensor, target: Tensor, reduction?: Reduction): Tensor =>
  new Tensor(callRaw(op('aten::mse_loss'), input.h, target.h, red(reduction)));
export const l1Loss = (input: Tensor, target: Tensor, reduction?: Reduction): Tensor =>
  new Tensor(callRaw(op('aten::l1_loss'), input.h, target.h, red(reduction)));
export const smoothL1Loss = (input: Tensor, target: Tensor, o: { reduction?: Reduction; beta?: number } = {}): Tensor =>
  new Tensor(callRaw(op('aten::smooth_l1_loss'), input.h, target.h, red(o.reduction), o.beta ?? 1));

export interface BceOptions {
  weight?: Tensor;
  posWeight?: Tensor;
  reduction?: Reduction;
}
export const binaryCrossEntropyWithLogits = (input: Tensor, target: Tensor, o: BceOptions = {}): Tensor =>
  new Tensor(
    callRaw(
      op('aten::binary_cross_entropy_with_logits'),
      input.h,
      target.h,
      o.weight?.h,
      o.posWeight?.h,
      red(o.reduction),
    ),
  );
