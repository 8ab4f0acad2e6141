// BatchNorm1d/2d (running statistics exactly as PyTorch), LayerNorm, GroupNorm.
import { ArgumentError, ShapeError } from '../../errors.ts';
import { empty, F, noGrad, ones, type Tensor, zeros } from '../../tensor/index.ts';
import * as init from '../init.ts';
import { Module } from '../module.ts';
import type { Parameter } from '../parameter.ts';
import { expectDims, type FactoryOptions, pyFloat } from './_util.ts';

export interface BatchNormOptions extends FactoryOptions {
  eps?: number;
  /** null: cumulative moving average (1 / num_batches_tracked) */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

abstract class BatchNormBase extends Module {
  readonly numFeatures: number;
  eps: number;
  momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  weight: Parameter | undefined;
  bias: Parameter | undefined;
  runningMean: Tensor | undefined;
  runningVar: Tensor | undefined;
  numBatchesTracked: Tensor | undefined;
  protected abstract readonly dims: number[];

  constructor(numFeatures: number, o: BatchNormOptions = {}) {
    super();
    this.numFeatures = numFeatures;
    this.eps = o.eps ?? 1e-5;
    this.momentum = o.momentum === undefined ? 0.1 : o.momentum;
    this.affine = o.affine ?? true;
    this.trackRunningStats = o.trackRunningStats ?? true;
    const f = { dtype: o.dtype, device: o.device };
    this.weight = this.registerParameter('weight', this.affine ? empty([numFeatures], f) : undefined);
    this.bias = this.registerParameter('bias', this.affine ? empty([numFeatures], f) : undefined);
    const track = this.trackRunningStats;
    this.runningMean = this.registerBuffer('running_mean', track ? zeros([numFeatures], f) : undefined);
    this.runningVar = this.registerBuffer('running_var', track ? ones([numFeatures], f) : undefined);
    this.numBatchesTracked = this.registerBuffer(
      'num_batches_tracked',
      track ? zeros([], { dtype: 'int64', device: o.device }) : undefined,
    );
    this.resetParameters();
  }

  resetRunningStats(): void {
    if (!this.trackRunningStats) return;
    init.zeros_(this.runningMean!);
    init.ones_(this.runningVar!);
    init.zeros_(this.numBatchesTracked!);
  }

  resetParameters(): void {
    this.resetRunningStats();
    if (this.affine) {
      init.ones_(this.weight!);
      init.zeros_(this.bias!);
    }
  }

  protected override defaultForMissing(name: string): number | undefined {
    return name === 'num_batches_tracked' ? 0 : undefined;
  }

  forward(x: Tensor): Tensor {
    const name = this.constructor.name;
    expectDims(name, x, this.dims);
    const s = x.shape;
    if (s[1] !== this.numFeatures)
      throw new ShapeError(`${name}(${this.numFeatures}): input has ${s[1]} channels (shape [${s}])`);
    let factor = this.momentum ?? 0;
    if (this.training && this.trackRunningStats) {
      const nbt = this.numBatchesTracked!;
      noGrad(() => nbt.add_(1));
      factor = this.momentum === null ? 1 / nbt.item() : this.momentum;
    }
    if (this.training) {
      const perChannel = s.reduce((a, b, i) => (i === 1 ? a : a * b), 1);
      if (perChannel <= 1)
        throw new ShapeError(`${name}: expected more than 1 value per channel when training, got input shape [${s}]`);
    }
    const useBatchStats = this.training || this.runningMean === undefined;
    const useRunning = !this.training || this.trackRunningStats;
    return F.batchNorm(
      x,
      useRunning ? this.runningMean : undefined,
      useRunning ? this.runningVar : undefined,
      this.weight,
      this.bias,
      useBatchStats,
      factor,
      this.eps,
    );
  }

  override extraRepr(): string {
    const m = this.momentum === null ? 'None' : pyFloat(this.momentum);
    const py = (b: boolean) => (b ? 'True' : 'False');
    return `${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${m}, affine=${py(this.affine)}, track_running_stats=${py(this.trackRunningStats)}`;
  }
}

/** BatchNorm over [N, C] or [N, C, L]. */
export class BatchNorm1d extends BatchNormBase {
  protected readonly dims = [2, 3];
}

/** BatchNorm over [N, C, H, W]. */
export class BatchNorm2d extends BatchNormBase {
  protected readonly dims = [4];
}

export interface LayerNormOptions extends FactoryOptions {
  eps?: number;
  elementwiseAffine?: boolean;
}

export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  eps: number;
  weight: Parameter | undefined;
  bias: Parameter | undefined;

  constructor(normalizedShape: number | number[], o: LayerNormOptions = {}) {
    super();
    this.normalizedShape = Array.isArray(normalizedShape) ? normalizedShape : [normalizedShape];
    this.eps = o.eps ?? 1e-5;
    const affine = o.elementwiseAffine ?? true;
    const f = { dtype: o.dtype, device: o.device };
    this.weight = this.registerParameter('weight', affine ? ones(this.normalizedShape, f) : undefined);
    this.bias = this.registerParameter('bias', affine ? zeros(this.normalizedShape, f) : undefined);
  }

  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `(${this.normalizedShape.join(', ')},), eps=${pyFloat(this.eps)}, elementwise_affine=${this.weight ? 'True' : 'False'}`;
  }
}

export interface GroupNormOptions extends FactoryOptions {
  eps?: number;
  affine?: boolean;
}

export class GroupNorm extends Module {
  readonly numGroups: number;
  readonly numChannels: number;
  eps: number;
  weight: Parameter | undefined;
  bias: Parameter | undefined;

  constructor(numGroups: number, numChannels: number, o: GroupNormOptions = {}) {
    super();
    if (numChannels % numGroups !== 0)
      throw new ArgumentError(`GroupNorm: num_channels ${numChannels} must be divisible by num_groups ${numGroups}`);
    this.numGroups = numGroups;
    this.numChannels = numChannels;
    this.eps = o.eps ?? 1e-5;
    const affine = o.affine ?? true;
    const f = { dtype: o.dtype, device: o.device };
    this.weight = this.registerParameter('weight', affine ? ones([numChannels], f) : undefined);
    this.bias = this.registerParameter('bias', affine ? zeros([numChannels], f) : undefined);
  }

  forward(x: Tensor): Tensor {
    return F.groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `${this.numGroups}, ${this.numChannels}, eps=${pyFloat(this.eps)}, affine=${this.weight ? 'True' : 'False'}`;
  }
}
