// GradScaler with torch.cuda.amp.GradScaler's semantics: the loss is multiplied by `scale` before
// backward; before the step the gradients are unscaled and checked, a step with inf/NaN gradients
// is skipped and the scale backs off, and after `growthInterval` clean steps it grows. The fused
// kernels (aten::_amp_foreach_non_finite_check_and_unscale_, aten::_amp_update_scale_) are used
// where the device has them (CUDA); elsewhere (CPU in libtorch 1.13) the same arithmetic in ops.
import { ArgumentError } from '../errors.ts';
import type { Optimizer } from '../optim/index.ts';
import { aten, full, maximum, noGrad, stack, type Tensor, tensor, unary, zeros } from '../tensor/index.ts';

export interface GradScalerOptions {
  initScale?: number;
  growthFactor?: number;
  backoffFactor?: number;
  growthInterval?: number;
  enabled?: boolean;
}

interface OptState {
  unscaled: boolean;
  foundInf: Tensor;
}

const fused = new Map<string, boolean>();
const deviceType = (t: Tensor): string => t.device.split(':')[0]!;

export class GradScaler {
  readonly enabled: boolean;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  #initScale: number;
  #scale: Tensor | undefined;
  #tracker: Tensor | undefined;
  #pendingTracker = 0;
  #perOpt = new Map<Optimizer, OptState>();

  constructor(o: GradScalerOptions = {}) {
    this.enabled = o.enabled ?? true;
    this.#initScale = o.initScale ?? 65536.0;
    this.growthFactor = o.growthFactor ?? 2.0;
    this.backoffFactor = o.backoffFactor ?? 0.5;
    this.growthInterval = o.growthInterval ?? 2000;
    if (!(this.growthFactor > 1))
      throw new ArgumentError(`GradScaler: growthFactor must be > 1, got ${this.growthFactor}`);
    if (!(this.backoffFactor < 1))
      throw new ArgumentError(`GradScaler: backoffFactor must be < 1, got ${this.backoffFactor}`);
    if (!Number.isInteger(this.growthInterval) || this.growthInterval < 1)
      throw new ArgumentError(`GradScaler: growthInterval must be an integer >= 1, got ${this.growthInterval}`);
  }

  #lazyInit(device: string): void {
    if (this.#scale) return;
    this.#scale = full([1], this.#initScale, { dtype: 'float32', device }).keep();
    this.#tracker = full([1], this.#pendingTracker, { dtype: 'int32', device }).keep();
  }

  /** loss * scale (the loss itself when disabled). */
  scale(loss: Tensor): Tensor {
    if (!this.enabled) return loss;
    this.#lazyInit(loss.device);
    return loss.mul(this.#scale!.to({ device: loss.device }));
  }

  /** Divides the optimizer's gradients by the scale in place and records whether any is inf/NaN. */
  unscale_(opt: Optimizer): void {
    if (!this.enabled) return;
    const st = this.#perOpt.get(opt);
    if (st?.unscaled)
      throw new ArgumentError('GradScaler.unscale_() was already called on this optimizer since the last update()');
    if (!this.#scale) throw new ArgumentError('GradScaler.unscale_(): call scale(loss) first');
    noGrad(() => {
      const inv = unary('reciprocal', this.#scale!.double()).float();
      const foundInf = zeros([1], { dtype: 'float32', device: this.#scale!.device }).keep();
      const byDtype = new Map<string, Tensor[]>();
      for (const g of opt.paramGroups)
        for (const p of g.params) {
          const grad = p.grad;
          if (!grad) continue;
          if (grad.dtype === 'float16' && p.dtype === 'float16')
            throw new ArgumentError(
              'GradScaler: attempting to unscale FP16 gradients',
              'keep the parameters in float32 under autocast',
            );
          const list = byDtype.get(grad.dtype) ?? [];
          list.push(grad);
          byDtype.set(grad.dtype, list);
        }
      for (const grads of byDtype.values()) unscaleList(grads, foundInf, inv);
      this.#perOpt.set(opt, { unscaled: true, foundInf });
    });
  }

  /** Unscales if not done yet, then steps unless a gradient was inf/NaN. Returns whether it stepped. */
  step(opt: Optimizer): boolean {
    if (!this.enabled) {
      opt.step();
      return true;
    }
    if (this.foundInf(opt)) return false;
    opt.step();
    return true;
  }

  /** Whether the optimizer's gradients had an inf/NaN (unscales them first if not done since the last update). */
  foundInf(opt: Optimizer): boolean {
    if (!this.enabled) return false;
    if (!this.#perOpt.get(opt)?.unscaled) this.unscale_(opt);
    return this.#perOpt.get(opt)!.foundInf.item() !== 0;
  }

  /** Whether unscale_ ran since the last update() (an update needs one). */
  get pending(): boolean {
    return this.#perOpt.size > 0;
  }

  /** Adjusts the scale after the step(s): backoff on inf/NaN, growth after growthInterval clean steps. */
  update(): void {
    if (!this.enabled || !this.#scale) return;
    const founds = [...this.#perOpt.values()].map((s) => s.foundInf);
    if (founds.length === 0)
      throw new ArgumentError('GradScaler.update(): no inf checks were recorded prior to this call');
    noGrad(() => {
      const combined = founds.length === 1 ? founds[0]! : stack(founds).sum(0);
      updateScale(this.#scale!, this.#tracker!, combined, this.growthFactor, this.backoffFactor, this.growthInterval);
    });
    for (const s of founds) s.dispose();
    this.#perOpt.clear();
  }

  /** Drops per-step state without updating (a step that was abandoned). */
  reset(): void {
    for (const s of this.#perOpt.values()) s.foundInf.dispose();
    this.#perOpt.clear();
  }

  getScale(): number {
    if (!this.enabled) return 1;
    return this.#scale ? this.#scale.item() : this.#initScale;
  }

  /** torch's GradScaler.state_dict() keys. */
  stateDict(): Record<string, number> {
    if (!this.enabled) return {};
    return {
      scale: this.getScale(),
      growth_factor: this.growthFactor,
      backoff_factor: this.backoffFactor,
      growth_interval: this.growthInterval,
      _growth_tracker: this.#tracker ? this.#tracker.item() : this.#pendingTracker,
    };
  }

  loadStateDict(s: Record<string, unknown>): void {
    if (!this.enabled) return;
    if (typeof s.scale !== 'number')
      throw new ArgumentError(
        'GradScaler.loadStateDict: the state dict has no scale (was it saved with the scaler disabled?)',
      );
    this.#initScale = s.scale;
    this.growthFactor = Number(s.growth_factor ?? this.growthFactor);
    this.backoffFactor = Number(s.backoff_factor ?? this.backoffFactor);
    this.growthInterval = Number(s.growth_interval ?? this.growthInterval);
    this.#pendingTracker = Number(s._growth_tracker ?? 0);
    if (this.#scale) {
      this.#scale.fill_(this.#initScale);
      this.#tracker!.fill_(this.#pendingTracker);
    }
  }

  dispose(): void {
    this.reset();
    this.#scale?.dispose();
    this.#tracker?.dispose();
    this.#scale = undefined;
    this.#tracker = undefined;
  }
}

function unscaleList(grads: Tensor[], foundInf: Tensor, inv: Tensor): void {
  const dev = deviceType(grads[0]!);
  if (fused.get(dev) !== false) {
    try {
      aten('aten::_amp_foreach_non_finite_check_and_unscale_')(grads, foundInf, inv.to({ device: grads[0]!.device }));
      fused.set(dev, true);
      return;
    } catch (e) {
      if (fused.get(dev) === true) throw e;
      fused.set(dev, false);
    }
  }
  const all = aten('aten::all');
  for (const g of grads) g.mul_(inv);
  const allFinite = all(stack(grads.map((g) => all(unary('isfinite', g)))));
  foundInf.copy_(maximum(foundInf, unary('logical_not', allFinite).float().reshape([1])));
}

function updateScale(
  scale: Tensor,
  tracker: Tensor,
  found: Tensor,
  growth: number,
  backoff: number,
  interval: number,
): void {
  const dev = `update:${deviceType(scale)}`;
  if (fused.get(dev) !== false) {
    try {
      aten('aten::_amp_update_scale_')(scale, tracker, found, growth, backoff, interval);
      fused.set(dev, true);
      return;
    } catch (e) {
      if (fused.get(dev) === true) throw e;
      fused.set(dev, false);
    }
  }
  // aten's _amp_update_scale_ kernel, on the host
  let s = scale.item();
  if (found.item() > 0) {
    s *= backoff;
    tracker.fill_(0);
  } else {
    const successful = tracker.item() + 1;
    if (successful === interval) {
      const grown = s * growth;
      if (Number.isFinite(Math.fround(grown))) s = grown;
      tracker.fill_(0);
    } else tracker.fill_(successful);
  }
  scale.copy_(tensor([s], { dtype: 'float32' }).to({ device: scale.device }));
}
