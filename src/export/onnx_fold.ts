// BatchNorm folded into the convolution before it (only when asked): W' = W * g / sqrt(v + eps),
// b' = (b - m) * g / sqrt(v + eps) + beta, per output channel, in the weights' dtype. The fused
// tensors keep the convolution's state-dict names; the BatchNorm's disappear from the file.
import { noGrad, type Tensor, tidy } from '../tensor/index.ts';
import type { SymTrace } from './symbolic.ts';
import type { TValue } from './trace.ts';

/** Counts, per value, the live nodes and graph outputs that read it. */
export function useCounts(t: SymTrace, live: Set<number>): number[] {
  const uses = new Array<number>(t.values.length).fill(0);
  for (const i of live)
    for (const a of t.nodes[i]!.args) {
      if (a.kind === 'tensor' && a.v !== undefined) uses[a.v]!++;
      if (a.kind === 'tensors') for (const v of a.vs) uses[v]!++;
    }
  for (const o of t.outputs) uses[o.v]!++;
  return uses;
}

const leafTensor = (v: TValue | undefined): Tensor | undefined =>
  v && v.producer === undefined && v.kind === 'param' ? v.tensor : undefined;

/**
 * Rewrites conv -> batch_norm pairs (the conv's output read only by the BatchNorm, eval mode,
 * state-dict tensors on both) in place: the conv gets fused weight and bias values, and the
 * BatchNorm node becomes an alias of the conv's output. Returns node index -> aliased value.
 */
export function foldBatchNorms(t: SymTrace, live: Set<number>): Map<number, number> {
  const aliases = new Map<number, number>();
  const uses = useCounts(t, live);
  for (const i of live) {
    const bn = t.nodes[i]!;
    if (bn.op !== 'aten::batch_norm') continue;
    const arg = (k: number) => {
      const a = bn.args[k];
      return a?.kind === 'tensor' && a.v !== undefined ? t.values[a.v] : undefined;
    };
    const x = arg(0);
    if (!x || x.producer === undefined || uses[x.id] !== 1) continue;
    const conv = t.nodes[x.producer]!;
    if (conv.op !== 'aten::conv2d' && conv.op !== 'aten::conv1d') continue;
    const training = bn.args[5];
    if (training?.kind !== 'value' || training.value !== false) continue;
    const wa = conv.args[1];
    const wv = wa?.kind === 'tensor' && wa.v !== undefined ? t.values[wa.v] : undefined;
    const w = leafTensor(wv);
    if (!w || !wv || uses[wv.id] !== 1) continue;
    const ba = conv.args[2];
    const bv = ba?.kind === 'tensor' && ba.v !== undefined ? t.values[ba.v] : undefined;
    const b = leafTensor(bv);
    if (bv && !b) continue;
    const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((k) => leafTensor(arg(k)));
    if (!mean || !variance || (arg(1) && !gamma) || (arg(2) && !beta)) continue;
    const eps = Number((bn.args[7] as { value: unknown } | undefined)?.value ?? 1e-5);
    const [fw, fb] = noGrad(() =>
      tidy(() => {
        const scale = gamma ? variance.add(eps).rsqrt().mul(gamma) : variance.add(eps).rsqrt();
        const fw = w.mul(scale.reshape([-1, ...Array(w.ndim - 1).fill(1)]));
        let fb = (b ? b.sub(mean) : mean.neg()).mul(scale);
        if (beta) fb = fb.add(beta);
        return [fw.to(w.dtype), fb.to(w.dtype)];
      }),
    ) as [Tensor, Tensor];
    const wName = wv.name!;
    const bName =
      bv?.name ?? (wName.endsWith('.weight') ? `${wName.slice(0, -'.weight'.length)}.bias` : `${wName}_bias`);
    const addLeaf = (tensor: Tensor, name: string): number => {
      const id = t.values.length;
      t.values.push({ id, shape: tensor.shape, dtype: tensor.dtype, kind: 'param', name, tensor });
      t.sym.push(tensor.shape);
      return id;
    };
    conv.args[1] = { kind: 'tensor', v: addLeaf(fw, wName) };
    conv.args[2] = { kind: 'tensor', v: addLeaf(fb, bName) };
    aliases.set(i, x.id);
  }
  return aliases;
}
