// Small helpers shared by the layer files.
import { ShapeError } from '../../errors.ts';
import type { DType, Tensor } from '../../tensor/index.ts';

export type Pair = number | [number, number];

/** Where new parameters are created (PyTorch's factory_kwargs). */
export interface FactoryOptions {
  dtype?: DType;
  device?: string;
}

export const pair = (v: Pair): [number, number] => (Array.isArray(v) ? [v[0], v[1]] : [v, v]);
export const tuple = (v: number[]): string => `(${v.join(', ')}${v.length === 1 ? ',' : ''})`;

export function expectDims(layer: string, x: Tensor, dims: number[]): void {
  if (!dims.includes(x.ndim))
    throw new ShapeError(`${layer}: expected ${dims.join(' or ')}D input, got ${x.ndim}D with shape [${x.shape}]`);
}

/** A float as Python's repr prints it (1e-05, 0.1), for module reprs. */
export function pyFloat(v: number): string {
  if (Number.isInteger(v)) return `${v}.0`;
  if (v !== 0 && Math.abs(v) < 1e-4) return v.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  return String(v);
}
