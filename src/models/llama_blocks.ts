// The blocks of a Llama-family decoder with transformers' module tree and eager-attention maths:
// attention (grouped-query, rotary, optional biases, sliding window, legacy or in-place cache),
// the SwiGLU MLP and the pre-norm decoder layer.
import { Linear, Module } from '../nn/index.ts';
import { aten, cat, type DType, F, isTracing, linear, matmul, noGrad, type Tensor } from '../tensor/index.ts';
import type { FusedQkv, LlamaKVCache } from './llama_cache.ts';
import type { LlamaConfig } from './llama_config.ts';
import { LlamaRMSNorm } from './llama_layers.ts';
import { applyRotary, type RopeTables } from './llama_rope.ts';

/** One layer's cached (key, value), each [B, kvHeads, S, headDim], after rotary (HF's legacy cache). */
export type KeyValue = [Tensor, Tensor];

/**
 * m.call(...args) without call()'s own scope where nothing could tell the difference (no hooks on m):
 * the enclosing layer's scope frees the intermediates. Decoding runs ~10 modules per layer per token.
 */
function run<A extends unknown[], R>(m: Module & { forward(...args: A): R }, ...args: A): R {
  return m.hasHooks ? (m.call as (...a: A) => R)(...args) : m.forward(...args);
}

const mv = aten('aten::mv');
const addmv = aten('aten::addmv');

/**
 * x @ weight^T (+ bias) for x [..., E] holding a single row (one sequence decoding one token): as a
 * matrix-vector product (BLAS gemv), some 3x faster on the CPU than linear's one-row matrix product.
 * The same sums, rounded as gemv does. Float32 / float64 only; other inputs take linear.
 */
export function projectRow(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const dtype = x.dtype;
  // (an exporter's trace keeps linear, the op it maps)
  if ((dtype !== 'float32' && dtype !== 'float64') || isTracing()) return linear(x, weight, bias);
  const shape = [...x.shape];
  shape[shape.length - 1] = weight.size(0);
  const v = x.view(-1);
  return (bias ? (addmv(bias, weight, v) as Tensor) : (mv(weight, v) as Tensor)).view(...shape);
}

/**
 * A Linear's output for x: projectRow when x is one row and m a plain Linear without hooks,
 * otherwise m.call (LoRA and quantized layers, hooks) or its forward.
 */
export function projectWith(m: Module & { forward(x: Tensor): Tensor }, x: Tensor, oneRow: boolean): Tensor {
  if (oneRow && !m.hasHooks && m.constructor === Linear) {
    const l = m as unknown as Linear;
    return projectRow(x, l.weight, l.bias);
  }
  return run(m, x);
}

/** What every layer of one forward shares: rotary tables, masks, the cache. */
export interface LlamaLayerContext {
  rope: RopeTables;
  /** additive mask of full-attention layers (undefined: nothing masked) */
  mask: Tensor | undefined;
  /** additive mask of sliding-window layers */
  slidingMask?: Tensor | undefined;
  /** the legacy cache: this layer's past (key, value) */
  past?: KeyValue;
  useCache?: boolean;
  /** the in-place cache, and the positions (int64 [L]) this forward writes */
  cache?: LlamaKVCache;
  cacheIndex?: Tensor;
}

export class LlamaAttention extends Module {
  readonly config: LlamaConfig;
  /** the layer's index (its slot in a cache) */
  readonly layerIdx: number;
  /** whether the sliding window applies to this layer */
  readonly sliding: boolean;
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  constructor(c: LlamaConfig, o: { dtype?: DType } = {}, layerIdx = 0) {
    super();
    this.config = c;
    this.layerIdx = layerIdx;
    this.sliding = c.slidingLayers[layerIdx] === true;
    const h = c.hiddenSize;
    const d = c.headDim;
    const qkv = { bias: c.qkvBias, dtype: o.dtype };
    this.q_proj = this.registerModule('q_proj', new Linear(h, c.numAttentionHeads * d, qkv));
    this.k_proj = this.registerModule('k_proj', new Linear(h, c.numKeyValueHeads * d, qkv));
    this.v_proj = this.registerModule('v_proj', new Linear(h, c.numKeyValueHeads * d, qkv));
    this.o_proj = this.registerModule(
      'o_proj',
      new Linear(c.numAttentionHeads * d, h, { bias: c.oBias, dtype: o.dtype }),
    );
  }

  /**
   * h [B, L, E] -> [B, L, E]; with useCache also the (past + new) keys and values [B, kvHeads, S, D].
   * transformers' eager attention, except that grouped-query heads are not repeated (repeat_kv): the
   * query heads sharing a key/value head become rows of one matrix, the same products without a copy.
   */
  forward(h: Tensor, ctx: LlamaLayerContext): { hidden: Tensor; present?: KeyValue } {
    const c = this.config;
    const [b, L] = h.shape as [number, number];
    const H = c.numAttentionHeads;
    const KV = c.numKeyValueHeads;
    const D = c.headDim;
    const rep = H / KV;
    // rotary in the projections' [B, L, heads, D] layout, then keys / values to HF's [B, kvHeads, L, D]
    let q: Tensor;
    let kNew: Tensor;
    let vNew: Tensor;
    const fused = ctx.cache?.fusedQkv[this.layerIdx];
    if (fused) {
      // one projection, and one rotary over the query and key heads together
      const qkv = (b * L === 1 ? projectRow(h, fused.weight, fused.bias) : linear(h, fused.weight, fused.bias)).view(
        b,
        L,
        H + 2 * KV,
        D,
      );
      const qk = applyRotary(qkv.narrow(2, 0, H + KV), ctx.rope);
      q = qk.narrow(2, 0, H);
      kNew = qk.narrow(2, H, KV).transpose(1, 2);
      vNew = qkv.narrow(2, H + KV, KV).transpose(1, 2);
    } else {
      q = applyRotary(run(this.q_proj, h).view(b, L, H, D), ctx.rope);
      kNew = applyRotary(run(this.k_proj, h).view(b, L, KV, D), ctx.rope).transpose(1, 2);
      vNew = run(this.v_proj, h).view(b, L, KV, D).transpose(1, 2);
    }
    let k = kNew;
    let v = vNew;
    if (ctx.cache) [k, v] = ctx.cache.update(this.layerIdx, kNew, vNew, ctx.cacheIndex!);
    else if (ctx.past) {
      k = cat([ctx.past[0], kNew], 2);
      v = cat([ctx.past[1], vNew], 2);
    }
    const S = k.size(2);
    // [B, KV, rep * L, D]: rows (r, l) of query head kv * rep + r at position l
    const qg =
      L === 1
        ? q.view(b, KV, rep, D)
        : q
            .view(b, L, KV, rep, D)
            .permute(0, 2, 3, 1, 4)
            .reshape(b, KV, rep * L, D);
    let w = matmul(qg, k.transpose(2, 3)).mul(D ** -0.5);
    const mask = this.sliding ? ctx.slidingMask : ctx.mask;
    if (mask)
      w = w
        .view(b, KV, rep, L, S)
        .add(mask.unsqueeze(1))
        .view(b, KV, rep * L, S);
    // softmax in float32 as transformers does, back to the activations' dtype
    w = w.dtype === 'float32' ? w.softmax(-1) : w.to('float32').softmax(-1).to(q.dtype);
    if (this.training && c.attentionDropout > 0) w = F.dropout(w, c.attentionDropout, true);
    const o = matmul(w, v);
    const out =
      L === 1
        ? o.view(b, 1, H * D)
        : o
            .view(b, KV, rep, L, D)
            .permute(0, 3, 1, 2, 4)
            .reshape(b, L, H * D);
    const hidden = projectWith(this.o_proj, out, b * L === 1);
    return ctx.useCache && !ctx.cache ? { hidden, present: [k, v] as KeyValue } : { hidden };
  }

  /**
   * q/k/v as one projection (weights concatenated), or undefined where one of them is not a plain
   * Linear without hooks (a LoRA layer, a quantized one): those keep their own forward.
   */
  fuseQkv(): FusedQkv | undefined {
    const ps = [this.q_proj, this.k_proj, this.v_proj];
    if (!ps.every((p) => p.constructor === Linear && !p.hasHooks)) return undefined;
    const dtype = ps[0]!.weight.dtype;
    if (ps.some((p) => p.weight.dtype !== dtype)) return undefined;
    return noGrad(() => ({
      weight: cat(
        ps.map((p) => p.weight),
        0,
      ).keep(),
      bias: this.config.qkvBias
        ? cat(
            ps.map((p) => p.bias!),
            0,
          ).keep()
        : undefined,
    }));
  }
}

/** down_proj(silu(gate_proj(x)) * up_proj(x)). */
export class LlamaMLP extends Module {
  readonly gate_proj: Linear;
  readonly up_proj: Linear;
  readonly down_proj: Linear;
  constructor(c: LlamaConfig, o: { dtype?: DType } = {}) {
    super();
    const b = { bias: c.mlpBias, dtype: o.dtype };
    this.gate_proj = this.registerModule('gate_proj', new Linear(c.hiddenSize, c.intermediateSize, b));
    this.up_proj = this.registerModule('up_proj', new Linear(c.hiddenSize, c.intermediateSize, b));
    this.down_proj = this.registerModule('down_proj', new Linear(c.intermediateSize, c.hiddenSize, b));
  }
  forward(x: Tensor): Tensor {
    const shape = x.shape;
    const one = shape.length === 3 && shape[0]! * shape[1]! === 1;
    const act = F.silu(projectWith(this.gate_proj, x, one)).mul(projectWith(this.up_proj, x, one));
    return projectWith(this.down_proj, act, one);
  }
}

export class LlamaDecoderLayer extends Module {
  readonly self_attn: LlamaAttention;
  readonly mlp: LlamaMLP;
  readonly input_layernorm: LlamaRMSNorm;
  readonly post_attention_layernorm: LlamaRMSNorm;
  constructor(c: LlamaConfig, o: { dtype?: DType } = {}, layerIdx = 0) {
    super();
    this.self_attn = this.registerModule('self_attn', new LlamaAttention(c, o, layerIdx));
    this.mlp = this.registerModule('mlp', new LlamaMLP(c, o));
    const norm = () => new LlamaRMSNorm(c.hiddenSize, c.rmsNormEps, o);
    this.input_layernorm = this.registerModule('input_layernorm', norm());
    this.post_attention_layernorm = this.registerModule('post_attention_layernorm', norm());
  }
  /** Pre-norm residual block: h + attn(norm(h)), then + mlp(norm(.)). */
  forward(h: Tensor, ctx: LlamaLayerContext): { hidden: Tensor; present?: KeyValue } {
    const a = run(this.self_attn, run(this.input_layernorm, h), ctx);
    const x = h.add(a.hidden);
    return { hidden: x.add(run(this.mlp, run(this.post_attention_layernorm, x))), present: a.present };
  }
}
