// Gradient clipping with torch.nn.utils' semantics (clip_grad_norm_ / clip_grad_value_, torch 1.13).
import { ArgumentError } from '../errors.ts';
import { foreach, noGrad, stack, type Tensor, tidy, unary } from '../tensor/index.ts';

function gradsOf(params: Iterable<Tensor>): Tensor[] {
  const out: Tensor[] = [];
  for (const p of params) {
    const g = p.grad;
    if (g) out.push(g);
  }
  return out;
}

export interface ClipNormOptions {
  /** p of the p-norm; Infinity for the max norm (default 2) */
  normType?: number;
  /** throw when the total norm is NaN or infinite (default false, as torch) */
  errorIfNonfinite?: boolean;
}

/**
 * torch.nn.utils.clip_grad_norm_: the norm of all gradients together (the norm of the per-tensor
 * norms), then every gradient times min(1, maxNorm / (total + 1e-6)). Returns the total norm.
 */
export function clipGradNorm_(params: Iterable<Tensor>, maxNorm: number, o: ClipNormOptions = {}): number {
  if (!(maxNorm >= 0)) throw new ArgumentError(`clipGradNorm_: maxNorm must be >= 0, got ${maxNorm}`);
  const normType = o.normType ?? 2;
  return tidy(() =>
    noGrad(() => {
      const grads = gradsOf(params);
      if (grads.length === 0) return 0;
      let total: Tensor;
      if (normType === Number.POSITIVE_INFINITY) {
        total = stack(grads.map((g) => g.abs().max())).max();
      } else {
        total = stack(foreach.norm(grads, normType)).norm(normType);
      }
      const value = total.item();
      if (o.errorIfNonfinite && !Number.isFinite(value))
        throw new ArgumentError(
          `the total norm of order ${normType} for gradients from ${grads.length} parameters is non-finite, so it cannot be clipped`,
          'turn errorIfNonfinite off to clip anyway',
        );
      // as torch: max_norm / t is t.reciprocal() * max_norm; every gradient is multiplied, by 1 when small
      const coef = unary('reciprocal', total.add(1e-6)).mul(maxNorm).clamp(undefined, 1);
      for (const g of grads) g.mul_(coef);
      return value;
    }),
  );
}

/** torch.nn.utils.clip_grad_value_: clamps every gradient element into [-clipValue, clipValue]. */
export function clipGradValue_(params: Iterable<Tensor>, clipValue: number): void {
  if (!(clipValue >= 0)) throw new ArgumentError(`clipGradValue_: clipValue must be >= 0, got ${clipValue}`);
  tidy(() =>
    noGrad(() => {
      for (const g of gradsOf(params)) g.clamp_(-clipValue, clipValue);
    }),
  );
}
