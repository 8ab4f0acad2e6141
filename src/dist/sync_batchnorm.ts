// torch.nn.SyncBatchNorm: in training, BatchNorm's statistics over the whole batch of every rank
// (each rank's count, mean and spread gathered in forward; sum(dy) and sum(dy * (x - mean))
// summed in backward), so a data-parallel run normalises as one process on the whole batch would.
// The collectives run in the addon (native/dist_syncbn.cc) as an autograd function that waits on
// them, bounded by the group's timeout. In eval mode, or in a group of one, it is plain BatchNorm.
import { ShapeError } from '../errors.ts';
import { BatchNorm1d, BatchNorm2d, type BatchNormOptions, type Module } from '../nn/index.ts';
import { dist } from '../tensor/dist_native.ts';
import { noGrad, Tensor } from '../tensor/index.ts';
import { distError, type ProcessGroup } from './process_group.ts';

/**
 * BatchNorm over [N, C, ...] whose training statistics cover every rank's samples. The same
 * parameters, buffers and state-dict keys as BatchNorm1d/2d; `processGroup` is the group whose
 * ranks share the statistics (set by convertSyncBatchNorm, or by hand).
 */
export class SyncBatchNorm extends BatchNorm1d {
  protected override readonly dims = [2, 3, 4, 5];
  processGroup: ProcessGroup | undefined;

  constructor(numFeatures: number, o: BatchNormOptions & { processGroup?: ProcessGroup } = {}) {
    super(numFeatures, o);
    this.processGroup = o.processGroup;
  }

  /** Whether a forward now averages over the ranks: training, in a live group of 2 or more. */
  get syncing(): boolean {
    const pg = this.processGroup;
    return this.training && pg !== undefined && !pg.destroyed && pg.worldSize > 1;
  }

  override forward(x: Tensor): Tensor {
    if (!this.syncing) return super.forward(x);
    const pg = this.processGroup!;
    const s = x.shape;
    if (s.length < 2 || s[1] !== this.numFeatures)
      throw new ShapeError(
        `SyncBatchNorm(${this.numFeatures}): input has shape [${s}]; expected [N, ${this.numFeatures}, ...]`,
      );
    // as torch.nn.SyncBatchNorm.forward: the step count, then the running average's factor
    let factor = this.momentum ?? 0;
    if (this.trackRunningStats) {
      const nbt = this.numBatchesTracked!;
      noGrad(() => nbt.add_(1));
      factor = this.momentum === null ? 1 / nbt.item() : this.momentum;
    }
    const track = this.trackRunningStats && this.runningMean !== undefined;
    try {
      return new Tensor(
        dist.distSyncBatchNorm(
          pg.id,
          x.h,
          this.weight?.h ?? null,
          this.bias?.h ?? null,
          track ? this.runningMean!.h : null,
          track ? this.runningVar!.h : null,
          factor,
          this.eps,
        ),
      );
    } catch (e) {
      throw distError(e, 'SyncBatchNorm forward', `on rank ${pg.rank} of ${pg.worldSize}`, pg.timeoutMs);
    }
  }
}

/**
 * torch.nn.SyncBatchNorm.convert_sync_batchnorm: every BatchNorm1d/2d in `module` replaced by a
 * SyncBatchNorm over `group` that keeps its parameters and buffers (the same tensors: an
 * optimizer built before still trains them) and its training mode. Returns the module (a new
 * SyncBatchNorm when `module` itself is a BatchNorm). SyncBatchNorms already there join `group`.
 */
export function convertSyncBatchNorm<M extends Module>(module: M, group?: ProcessGroup): M | SyncBatchNorm {
  const converted = new Map<Module, SyncBatchNorm>();
  const convert = (m: Module): Module => {
    if (m instanceof SyncBatchNorm) {
      if (group) m.processGroup = group;
      return m;
    }
    if (!(m instanceof BatchNorm1d || m instanceof BatchNorm2d)) return m;
    const done = converted.get(m);
    if (done) return done;
    const s = new SyncBatchNorm(m.numFeatures, {
      eps: m.eps,
      momentum: m.momentum,
      affine: m.affine,
      trackRunningStats: m.trackRunningStats,
      ...(group ? { processGroup: group } : {}),
    });
    // the same tensors, not copies (torch assigns them too)
    if (m.weight) s.registerParameter('weight', m.weight);
    if (m.bias) s.registerParameter('bias', m.bias);
    if (m.runningMean) s.registerBuffer('running_mean', m.runningMean);
    if (m.runningVar) s.registerBuffer('running_var', m.runningVar);
    if (m.numBatchesTracked) s.registerBuffer('num_batches_tracked', m.numBatchesTracked);
    s.training = m.training;
    converted.set(m, s);
    return s;
  };
  const root = convert(module);
  if (root !== module) return root as SyncBatchNorm;
  // parents first: each child slot is visited once, under every parent that holds it
  for (const parent of [...module.modules()])
    for (const [name, child] of [...parent.namedChildren()]) {
      const next = convert(child);
      if (next !== child) parent.registerModule(name, next);
    }
  return module;
}

/** The SyncBatchNorms in `module` (to check a conversion, or to point them at another group). */
export function syncBatchNorms(module: Module): SyncBatchNorm[] {
  return [...module.modules()].filter((m): m is SyncBatchNorm => m instanceof SyncBatchNorm);
}
