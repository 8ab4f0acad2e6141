// A key/value cache written in place (the idea of transformers' StaticCache): per layer one buffer
// [B, kvHeads, capacity, headDim] that each step writes its new keys and values into, so decoding
// does not copy the whole cache with a cat every token. It grows by doubling when a sequence outruns
// its capacity, so no maximum length has to be known.
import { ArgumentError } from '../errors.ts';
import { aten, empty, type Tensor } from '../tensor/index.ts';
import type { KeyValue } from './llama_blocks.ts';

const indexCopy_ = aten('aten::index_copy_');

/** q_proj, k_proj and v_proj of one layer as one Linear: weight [(H + 2 kvH) * D, E] (and bias). */
export interface FusedQkv {
  weight: Tensor;
  bias?: Tensor;
}

export class LlamaKVCache {
  /** tokens cached so far (the same for every layer once a forward is done) */
  #length = 0;
  #capacity: number;
  readonly #keys: (Tensor | undefined)[];
  readonly #values: (Tensor | undefined)[];

  /**
   * Per layer, q/k/v fused into one projection for the forwards that use this cache (one matmul
   * instead of three); made from the weights when the cache is, so it must not outlive a change to
   * them: a cache lives for one generation. Owned (disposed) by the cache.
   */
  readonly fusedQkv: (FusedQkv | undefined)[];

  /** capacity: the tokens to make room for at first (grown as needed) */
  constructor(layers: number, capacity = 256, fusedQkv: (FusedQkv | undefined)[] = []) {
    if (!Number.isInteger(layers) || layers < 0)
      throw new ArgumentError(`LlamaKVCache: layers must be >= 0, got ${layers}`);
    this.#capacity = Math.max(1, capacity);
    this.#keys = Array(layers).fill(undefined);
    this.#values = Array(layers).fill(undefined);
    this.fusedQkv = fusedQkv;
  }

  get length(): number {
    return this.#length;
  }
  get layers(): number {
    return this.#keys.length;
  }

  #grow(buf: Tensor, capacity: number): Tensor {
    const [b, h, , d] = buf.shape as [number, number, number, number];
    const bigger = empty([b, h, capacity, d], { dtype: buf.dtype, device: buf.device }).keep();
    bigger.narrow(2, 0, this.#length).copy_(buf.narrow(2, 0, this.#length));
    buf.dispose();
    return bigger;
  }

  /**
   * Writes layer i's keys and values for positions index (int64 [L], length..length+L-1) and returns
   * the views of all cached ones, [B, kvHeads, length + L, headDim]. k / v are [B, kvHeads, L, headDim].
   */
  update(i: number, k: Tensor, v: Tensor, index: Tensor): KeyValue {
    const L = k.size(2);
    const need = this.#length + L;
    let kb = this.#keys[i];
    let vb = this.#values[i];
    if (!kb || !vb) {
      if (this.#length !== 0) throw new ArgumentError(`LlamaKVCache: layer ${i} was skipped by an earlier forward`);
      const [b, h, , d] = k.shape as [number, number, number, number];
      this.#capacity = Math.max(this.#capacity, need);
      const o = { dtype: k.dtype, device: k.device };
      kb = empty([b, h, this.#capacity, d], o).keep();
      vb = empty([b, h, this.#capacity, d], o).keep();
    } else if (need > kb.size(2)) {
      const capacity = Math.max(need, 2 * kb.size(2));
      kb = this.#grow(kb, capacity);
      vb = this.#grow(vb, capacity);
    }
    this.#keys[i] = kb;
    this.#values[i] = vb;
    indexCopy_(kb, 2, index, k);
    indexCopy_(vb, 2, index, v);
    return [kb.narrow(2, 0, need), vb.narrow(2, 0, need)];
  }

  /** Counts the L tokens a forward just wrote into every layer. */
  advance(L: number): void {
    this.#length += L;
  }

  /** The cache as the legacy per-layer (key, value) list, views of the buffers. */
  toLegacy(): KeyValue[] {
    return this.#keys.map((k, i) => [k!.narrow(2, 0, this.#length), this.#values[i]!.narrow(2, 0, this.#length)]);
  }

  dispose(): void {
    for (const t of [...this.#keys, ...this.#values]) t?.dispose();
    for (const f of this.fusedQkv) {
      f?.weight.dispose();
      f?.bias?.dispose();
    }
    this.fusedQkv.length = 0;
    this.#keys.fill(undefined);
    this.#values.fill(undefined);
    this.#length = 0;
  }
}
