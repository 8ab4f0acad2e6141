// How sparse a model is: the fraction of zeros per weight and over all of them.
import type { Module } from '../nn/index.ts';
import { noGrad, type Tensor, tidy } from '../tensor/index.ts';
import { pruningOf } from './apply.ts';

export interface LayerSparsity {
  /** dotted name as in the state dict before pruning ('layer1.0.conv1.weight') */
  name: string;
  numel: number;
  zeros: number;
  /** zeros / numel (0 for an empty tensor) */
  sparsity: number;
  pruned: boolean;
}

export interface SparsityReport {
  layers: LayerSparsity[];
  numel: number;
  zeros: number;
  sparsity: number;
}

export interface SparsityOptions {
  /**
   * Which tensors to count: every pruned tensor, plus every parameter with this name and 2 or
   * more dims (the weights of Linear, Conv, Embedding; not norms or biases). Default 'weight'.
   */
  name?: string;
}

function zerosIn(t: Tensor): number {
  return noGrad(() => tidy(() => t.eq(0).sum().item()));
}

/** Per-layer and global sparsity, of the values forward uses (name_orig * name_mask when pruned). */
export function sparsity(model: Module, o: SparsityOptions = {}): SparsityReport {
  const wanted = o.name ?? 'weight';
  const layers: LayerSparsity[] = [];
  for (const [path, m] of model.namedModules()) {
    const pruned = pruningOf(m);
    const at = (n: string): string => (path ? `${path}.${n}` : n);
    for (const [n, p] of m.namedParameters({ recurse: false })) {
      if (n.endsWith('_orig') && pruned.has(n.slice(0, -5))) continue;
      if (n !== wanted || p.shape.length < 2) continue;
      layers.push(entry(at(n), p, false));
    }
    for (const n of pruned.keys()) {
      const orig = m.getParameter(`${n}_orig`)!;
      const mask = [...m.namedBuffers({ recurse: false })].find(([b]) => b === `${n}_mask`)![1];
      const value = noGrad(() => tidy(() => mask.to(orig.dtype).mul(orig)));
      layers.push(entry(at(n), value, true));
      value.dispose();
    }
  }
  const numel = layers.reduce((s, l) => s + l.numel, 0);
  const zeros = layers.reduce((s, l) => s + l.zeros, 0);
  return { layers, numel, zeros, sparsity: numel ? zeros / numel : 0 };
}

function entry(name: string, t: Tensor, pruned: boolean): LayerSparsity {
  const numel = t.numel();
  const zeros = zerosIn(t);
  return { name, numel, zeros, sparsity: numel ? zeros / numel : 0, pruned };
}
