// Mixed precision (torch.autocast + torch.cuda.amp.GradScaler's recipe) as a callback: the forward
// and the loss run under autocast; with a scaler the loss is scaled before backward, gradients are
// unscaled before the step (so clipping sees true values), a step with inf/NaN gradients is
// skipped, and the scale is updated after every step, skipped or not.
import { ArgumentError } from '../../errors.ts';
import { autocast } from '../../tensor/index.ts';
import type { Callback } from '../events.ts';
import type { AmpSetting } from '../options.ts';
import { GradScaler } from '../scaler.ts';
import type { Trainer } from '../trainer.ts';

export interface AmpConfig {
  device: 'cpu' | 'cuda';
  dtype: 'bfloat16' | 'float16';
}

export class MixedPrecision implements Callback {
  readonly name = 'amp';
  // before accumulation's normalising and clipping at beforeStep: they see unscaled gradients
  readonly order = -60;
  readonly amp: AmpConfig;
  readonly scaler: GradScaler | undefined;

  /** undefined for amp: false; throws for fp16 on the CPU. */
  static from(setting: AmpSetting | undefined, device: string): MixedPrecision | undefined {
    const amp = setting ?? false;
    if (amp === false) return undefined;
    const devType = device.startsWith('cuda') ? 'cuda' : 'cpu';
    const dtype = amp === 'bf16' ? 'bfloat16' : amp === 'fp16' ? 'float16' : amp.dtype;
    if (dtype === 'float16' && devType === 'cpu')
      throw new ArgumentError('fp16 mixed precision needs CUDA', "use amp: 'bf16' on the CPU");
    const sc = typeof amp === 'object' ? amp.scaler : undefined;
    // fp16 gets a scaler unless told not to; bf16 (float32's range) only when one is asked for
    const scaler = sc !== false && (dtype === 'float16' || sc !== undefined) ? new GradScaler(sc ?? {}) : undefined;
    return new MixedPrecision({ device: devType, dtype }, scaler);
  }

  constructor(amp: AmpConfig, scaler?: GradScaler) {
    this.amp = amp;
    this.scaler = scaler;
  }

  /** A new fit() forgets an unscale an earlier, failed one left behind. */
  beforeFit(): void {
    if (this.scaler?.pending) this.scaler.reset();
  }

  aroundForward<T>(_t: Trainer, run: () => T): T {
    return autocast(run, { device: this.amp.device, dtype: this.amp.dtype });
  }

  // runs before accumulation's weighting by items; with a power-of-two scale (torch's defaults:
  // 65536, x2, x0.5) either order gives the same bits
  beforeBackward(t: Trainer): void {
    if (this.scaler && t.lossToBackward) t.lossToBackward = this.scaler.scale(t.lossToBackward);
  }

  beforeStep(t: Trainer): void {
    if (this.scaler?.foundInf(t.optimizer)) t.skipStep('inf/NaN gradients (GradScaler)');
  }

  afterStep(): void {
    if (this.scaler?.pending) this.scaler.update();
  }
}
