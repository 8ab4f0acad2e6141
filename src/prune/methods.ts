// Pruning methods: each computes a mask from a tensor (or importance scores) and the mask already
// in force, with the ops torch.nn.utils.prune uses (topk on |w|, rand_like, vector norms), so
// ties and random draws come out the same.
import { ArgumentError, ShapeError } from '../errors.ts';
import { aten, norm, rand, type Tensor, topk, zerosLike } from '../tensor/index.ts';
import { type Amount, type AmountSpec, nToPrune, parseAmount } from './amount.ts';

/** How PyTorch's PruningContainer narrows a tensor before the next method sees it. */
export type PruningType = 'unstructured' | 'structured' | 'global';

export interface PruningMethod {
  readonly pruningType: PruningType;
  /** structured methods: the dimension whose slices (channels) are pruned */
  readonly dim?: number;
  /** A new mask (a fresh tensor) for `t`, starting from `defaultMask` (1 = kept, 0 = pruned). */
  computeMask(t: Tensor, defaultMask: Tensor): Tensor;
}

const indexFill_ = aten('aten::index_fill_', 'int_Scalar');
const indexCopy_ = aten('aten::index_copy_');
const maskedSelect = aten('aten::masked_select');
const maskedScatter_ = aten('aten::masked_scatter_');
const nonzero = aten('aten::nonzero');
const kthvalue = aten('aten::kthvalue');

/** Keeps the mask as it is (torch's prune.Identity): reparametrizes without pruning. */
export class Identity implements PruningMethod {
  readonly pruningType = 'unstructured';
  computeMask(_t: Tensor, defaultMask: Tensor): Tensor {
    return defaultMask.clone();
  }
}

/** Zeroes the `amount` entries with the smallest |t| (topk(largest=false) on |t| flattened). */
export class L1Unstructured implements PruningMethod {
  readonly pruningType = 'unstructured';
  readonly amount: AmountSpec;
  constructor(amount: Amount) {
    this.amount = parseAmount(amount, 'l1Unstructured');
  }
  computeMask(t: Tensor, defaultMask: Tensor): Tensor {
    const k = nToPrune(this.amount, t.numel(), 'l1Unstructured');
    const mask = defaultMask.contiguous().clone();
    if (k !== 0) indexFill_(mask.view(-1), 0, topk(t.abs().view(-1), k, -1, false)[1], 0);
    return mask;
  }
}

/** Zeroes `amount` entries chosen at random: the k largest of rand_like(t), as PyTorch draws them. */
export class RandomUnstructured implements PruningMethod {
  readonly pruningType = 'unstructured';
  readonly amount: AmountSpec;
  constructor(amount: Amount) {
    this.amount = parseAmount(amount, 'randomUnstructured');
  }
  computeMask(t: Tensor, defaultMask: Tensor): Tensor {
    const k = nToPrune(this.amount, t.numel(), 'randomUnstructured');
    const mask = defaultMask.contiguous().clone();
    if (k !== 0) {
      const prob = rand(t.shape, { dtype: t.dtype, device: t.device });
      indexFill_(mask.view(-1), 0, topk(prob.view(-1), k)[1], 0);
    }
    return mask;
  }
}

function checkDim(t: Tensor, dim: number, where: string): number {
  if (t.shape.length <= 1)
    throw new ShapeError(
      `${where}: structured pruning needs a tensor with 2 or more dims, got shape [${t.shape}]`,
      'prune a weight (Linear, Conv) by channel, or use l1Unstructured for vectors',
    );
  const nd = t.shape.length;
  if (!Number.isInteger(dim) || dim >= nd || dim < -nd)
    throw new ArgumentError(`${where}: dim ${dim} is out of range for a tensor of shape [${t.shape}]`);
  return dim < 0 ? nd + dim : dim;
}

/** Keeps the channels along `dim` with the largest Ln norm (torch's prune.LnStructured). */
export class LnStructured implements PruningMethod {
  readonly pruningType = 'structured';
  readonly amount: AmountSpec;
  constructor(
    amount: Amount,
    readonly n: number,
    readonly dim = -1,
  ) {
    this.amount = parseAmount(amount, 'lnStructured');
    if (typeof n !== 'number' || Number.isNaN(n))
      throw new ArgumentError(`lnStructured: n=${n} must be a number (1, 2, Infinity, -Infinity, ...)`);
  }
  computeMask(t: Tensor, defaultMask: Tensor): Tensor {
    const dim = checkDim(t, this.dim, 'lnStructured');
    const size = t.shape[dim]!;
    const k = nToPrune(this.amount, size, 'lnStructured');
    if (k === 0) return defaultMask.clone();
    const others = t.shape.map((_, i) => i).filter((i) => i !== dim);
    const keep = topk(norm(t, this.n, others), size - k, -1, true)[1];
    const mask = indexFill_(zerosLike(t), dim, keep, 1) as Tensor;
    return mask.mul_(defaultMask.to(mask.dtype));
  }
}

/**
 * Prunes `amount` channels along `dim` at random (torch's prune.RandomStructured): rand(channels),
 * then the channels above the k-th smallest draw are kept.
 */
export class RandomStructured implements PruningMethod {
  readonly pruningType = 'structured';
  readonly amount: AmountSpec;
  constructor(
    amount: Amount,
    readonly dim = -1,
  ) {
    this.amount = parseAmount(amount, 'randomStructured');
  }
  computeMask(t: Tensor, defaultMask: Tensor): Tensor {
    const dim = checkDim(t, this.dim, 'randomStructured');
    const size = t.shape[dim]!;
    const k = nToPrune(this.amount, size, 'randomStructured');
    if (k === 0) return defaultMask.clone();
    const prob = rand([size]); // torch.rand(nchannels): float32 on the CPU generator
    const threshold = (kthvalue(prob, k) as Tensor[])[0]!;
    const keep = (nonzero(prob.gt(threshold)) as Tensor).view(-1).to(t.device);
    const mask = indexFill_(zerosLike(t), dim, keep, 1) as Tensor;
    return mask.mul_(defaultMask.to(mask.dtype));
  }
}

/** A given mask combined with the one in force (used by globalUnstructured). */
export class CustomFromMask implements PruningMethod {
  readonly pruningType = 'global';
  constructor(readonly mask: Tensor) {}
  computeMask(_t: Tensor, defaultMask: Tensor): Tensor {
    const a = defaultMask.shape;
    const b = this.mask.shape;
    if (a.length !== b.length || a.some((s, i) => s !== b[i]))
      throw new ShapeError(`customFromMask: mask shape [${b}] differs from the tensor's [${a}]`);
    return defaultMask.mul(this.mask.to(defaultMask.dtype));
  }
}

/**
 * Iterative pruning (torch's PruningContainer): the newest method sees only what is still
 * unpruned (the entries with mask 1, or the channels with any nonzero mask along its dim), and
 * its mask is written back there, so earlier pruning is never undone.
 */
export class PruningContainer implements PruningMethod {
  readonly pruningType = 'unstructured';
  constructor(readonly methods: readonly PruningMethod[]) {
    if (methods.length === 0) throw new ArgumentError('PruningContainer needs at least one method');
  }
  computeMask(t: Tensor, defaultMask: Tensor): Tensor {
    const method = this.methods[this.methods.length - 1]!;
    const mask = defaultMask.to(t.dtype).contiguous().clone();
    if (method.pruningType === 'global') return method.computeMask(t, mask);
    if (method.pruningType === 'unstructured') {
      const slc = mask.eq(1);
      const partial = method.computeMask(maskedSelect(t, slc), maskedSelect(mask, slc));
      return maskedScatter_(mask, slc, partial.to(mask.dtype));
    }
    const dim = checkDim(t, method.dim ?? -1, 'PruningContainer');
    const others = t.shape.map((_, i) => i).filter((i) => i !== dim);
    const channels = (nonzero(mask.sum(others).ne(0)) as Tensor).view(-1);
    const partial = method.computeMask(t.indexSelect(dim, channels), mask.indexSelect(dim, channels));
    return indexCopy_(mask, dim, channels, partial.to(mask.dtype));
  }
}
