// Gradient clipping at beforeStep: gradients are complete, unscaled (AMP) and normalised (accumulation).
import { ArgumentError } from '../../errors.ts';
import type { Tensor } from '../../tensor/index.ts';
import { clipGradNorm_, clipGradValue_ } from '../clip.ts';
import type { Callback } from '../events.ts';
import type { Trainer } from '../trainer.ts';

export interface ClipOptions {
  /** clip_grad_norm_'s max_norm */
  norm?: number;
  /** the p of the norm (default 2; Infinity for the max norm) */
  normType?: number;
  /** clip_grad_value_'s clip_value */
  value?: number;
}

export class GradientClip implements Callback {
  readonly name = 'clip';
  readonly order = 0;
  constructor(readonly o: ClipOptions) {
    if (o.norm === undefined && o.value === undefined) throw new ArgumentError('clip: give norm or value');
  }

  beforeStep(t: Trainer): void {
    const params: Tensor[] = [];
    for (const g of t.optimizer.paramGroups) params.push(...g.params);
    if (this.o.value !== undefined) clipGradValue_(params, this.o.value);
    if (this.o.norm !== undefined) t.gradNorm = clipGradNorm_(params, this.o.norm, { normType: this.o.normType });
  }
}
