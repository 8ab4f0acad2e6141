// Llama-family decoders (LlamaForCausalLM, and Mistral / Qwen2 through their configs) with
// transformers' module tree, parameter names and eager-attention maths.
import { ArgumentError, ShapeError } from '../errors.ts';
import { Embedding, init, Linear, Module, ModuleList, type StateDictLike } from '../nn/index.ts';
import { arange, cat, type DType, F, matmul, type Tensor, tidy } from '../tensor/index.ts';
import type { HFConfigJSON } from './_hf_config.ts';
import { type ModelMeta, prefixRange, registerModel, setMeta } from './_registry.ts';
import { hfInitWeights } from './_transformer.ts';
import { causalLMLoss } from './gpt2.ts';
import { type LlamaConfig, parseLlamaConfig } from './llama_config.ts';
import {
  applyRotary,
  LlamaRMSNorm,
  llamaAttentionMask,
  type RopeTables,
  repeatKv,
  ropeInvFreq,
  ropeTables,
} from './llama_layers.ts';

export type { LlamaConfig, LlamaModelType, RopeScaling } from './llama_config.ts';

/** One layer's cached (key, value), each [B, kvHeads, S, headDim], after rotary (HF's legacy cache). */
export type KeyValue = [Tensor, Tensor];

export interface LlamaOptions {
  /** [B, S] 1 = token, 0 = padding; S = cached + new tokens when decoding with a cache */
  attentionMask?: Tensor;
  /** [B, L] or [1, L]; past..past+L-1 when omitted */
  positionIds?: Tensor;
  /** the cache a previous call returned (one [key, value] per layer) */
  pastKeyValues?: KeyValue[];
  /** return the cache (the past extended by these tokens) */
  useCache?: boolean;
  /** [B, L] next-token targets aligned with inputIds (shifted inside the loss); -100 is ignored */
  labels?: Tensor;
}

/** Construction options: the parameters' dtype (build straight in bfloat16 to load a big model) and HF init. */
export interface LlamaBuildOptions {
  dtype?: DType;
  /** transformers' _init_weights (default true); off when weights are loaded right after */
  init?: boolean;
}

export interface LlamaLayerContext {
  rope: RopeTables;
  mask: Tensor | undefined;
  past?: KeyValue;
  useCache?: boolean;
}

export class LlamaAttention extends Module {
  readonly config: LlamaConfig;
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  constructor(c: LlamaConfig, o: { dtype?: DType } = {}) {
    super();
    this.config = c;
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

  /** h [B, L, E] -> [B, L, E]; with useCache also the (past + new) keys and values. */
  forward(h: Tensor, ctx: LlamaLayerContext): { hidden: Tensor; present?: KeyValue } {
    const c = this.config;
    return tidy(() => {
      const [b, L] = h.shape as [number, number];
      const heads = (x: Tensor) => x.view(b, L, -1, c.headDim).transpose(1, 2);
      const q = applyRotary(heads(this.q_proj.call(h)), ctx.rope);
      let k = applyRotary(heads(this.k_proj.call(h)), ctx.rope);
      let v = heads(this.v_proj.call(h));
      if (ctx.past) {
        k = cat([ctx.past[0], k], 2);
        v = cat([ctx.past[1], v], 2);
      }
      const rep = c.numAttentionHeads / c.numKeyValueHeads;
      let w = matmul(q, repeatKv(k, rep).transpose(2, 3)).mul(c.headDim ** -0.5);
      if (ctx.mask) w = w.add(ctx.mask);
      // softmax in float32 as transformers does, back to the activations' dtype
      w = w.dtype === 'float32' ? w.softmax(-1) : w.to('float32').softmax(-1).to(q.dtype);
      if (this.training && c.attentionDropout > 0) w = F.dropout(w, c.attentionDropout, true);
      const out = matmul(w, repeatKv(v, rep)).transpose(1, 2).contiguous().reshape(b, L, -1);
      const hidden = this.o_proj.call(out);
      return ctx.useCache ? { hidden, present: [k, v] as KeyValue } : { hidden };
    });
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
    return tidy(() => this.down_proj.call(F.silu(this.gate_proj.call(x)).mul(this.up_proj.call(x))));
  }
}

export class LlamaDecoderLayer extends Module {
  readonly self_attn: LlamaAttention;
  readonly mlp: LlamaMLP;
  readonly input_layernorm: LlamaRMSNorm;
  readonly post_attention_layernorm: LlamaRMSNorm;
  constructor(c: LlamaConfig, o: { dtype?: DType } = {}) {
    super();
    this.self_attn = this.registerModule('self_attn', new LlamaAttention(c, o));
    this.mlp = this.registerModule('mlp', new LlamaMLP(c, o));
    const norm = () => new LlamaRMSNorm(c.hiddenSize, c.rmsNormEps, o);
    this.input_layernorm = this.registerModule('input_layernorm', norm());
    this.post_attention_layernorm = this.registerModule('post_attention_layernorm', norm());
  }
  /** Pre-norm residual block: h + attn(norm(h)), then + mlp(norm(.)). */
  forward(h: Tensor, ctx: LlamaLayerContext): { hidden: Tensor; present?: KeyValue } {
    return tidy(() => {
      const a = this.self_attn.call(this.input_layernorm.call(h), ctx);
      const x = h.add(a.hidden);
      return { hidden: x.add(this.mlp.call(this.post_attention_layernorm.call(x))), present: a.present };
    });
  }
}

/** Cached key/value length of a past cache (0 when there is none). */
export const pastLength = (past: KeyValue[] | undefined): number => (past?.length ? past[0]![0].size(2) : 0);

/** embed_tokens, layers.N, norm (HF's LlamaModel); the rotary frequencies are not state. */
export class LlamaModel extends Module {
  readonly config: LlamaConfig;
  readonly embed_tokens: Embedding;
  readonly layers: ModuleList<LlamaDecoderLayer>;
  readonly norm: LlamaRMSNorm;
  /** inv_freq per device, float32 whatever the weights' dtype (as from_pretrained keeps it) */
  readonly #invFreq = new Map<string, Tensor>();

  constructor(config: LlamaConfig, o: LlamaBuildOptions = {}) {
    super();
    const c = config;
    this.config = c;
    const pad = c.padTokenId !== undefined && c.padTokenId < c.vocabSize ? c.padTokenId : undefined;
    const f = { dtype: o.dtype };
    this.embed_tokens = this.registerModule(
      'embed_tokens',
      new Embedding(c.vocabSize, c.hiddenSize, { paddingIdx: pad, ...f }),
    );
    const layers = Array.from({ length: c.numHiddenLayers }, () => new LlamaDecoderLayer(c, f));
    this.layers = this.registerModule('layers', new ModuleList(layers));
    this.norm = this.registerModule('norm', new LlamaRMSNorm(c.hiddenSize, c.rmsNormEps, f));
    if (o.init !== false) hfInitWeights(this, c.initializerRange);
  }

  invFreq(device: string): Tensor {
    let t = this.#invFreq.get(device);
    if (!t) {
      t = ropeInvFreq(this.config).to({ device }).keep();
      this.#invFreq.set(device, t);
    }
    return t;
  }

  /** The final hidden states [B, L, E] (after norm), and the extended cache with useCache. */
  forward(inputIds: Tensor, o: LlamaOptions = {}): { lastHiddenState: Tensor; pastKeyValues?: KeyValue[] } {
    if (inputIds.ndim !== 2) throw new ShapeError(`inputIds must be [batch, seq], got [${inputIds.shape}]`);
    const past = o.pastKeyValues;
    if (past && past.length !== this.layers.length)
      throw new ArgumentError(`pastKeyValues has ${past.length} layers, the model ${this.layers.length}`);
    const L = inputIds.size(1);
    const pastLen = pastLength(past);
    const c = this.config;
    return tidy(() => {
      let h = this.embed_tokens.call(inputIds);
      const device = h.device;
      const pos = o.positionIds ?? arange(pastLen, pastLen + L, 1, { dtype: 'int64', device }).unsqueeze(0);
      const rope = ropeTables(this.invFreq(device), pos, h.dtype);
      const mask = llamaAttentionMask(L, pastLen, h.dtype, device, {
        attentionMask: o.attentionMask,
        slidingWindow: c.slidingWindow,
      });
      const presents: KeyValue[] = [];
      let i = 0;
      for (const layer of this.layers) {
        const r = layer.call(h, { rope, mask, past: past?.[i++], useCache: o.useCache });
        h = r.hidden;
        if (r.present) presents.push(r.present);
      }
      const lastHiddenState = this.norm.call(h);
      return o.useCache ? { lastHiddenState, pastKeyValues: presents } : { lastHiddenState };
    });
  }

  override dispose(): void {
    for (const t of this.#invFreq.values()) t.dispose();
    this.#invFreq.clear();
    super.dispose();
  }
}

export interface LlamaCausalLMOutput {
  logits: Tensor;
  loss: Tensor | undefined;
  pastKeyValues?: KeyValue[];
}

/** model + lm_head (bias-free; tie_word_embeddings makes its weight embed_tokens' Parameter). */
export class LlamaForCausalLM extends Module {
  readonly config: LlamaConfig;
  readonly model: LlamaModel;
  lm_head: Linear;

  constructor(config: LlamaConfig, o: LlamaBuildOptions = {}) {
    super();
    this.config = config;
    this.model = this.registerModule('model', new LlamaModel(config, { dtype: o.dtype, init: false }));
    this.lm_head = this.registerModule(
      'lm_head',
      new Linear(config.hiddenSize, config.vocabSize, { bias: false, dtype: o.dtype }),
    );
    if (o.init !== false) hfInitWeights(this, config.initializerRange);
    if (config.tieWordEmbeddings) this.tieWeights();
  }

  static fromConfig(json: HFConfigJSON = {}, o: LlamaBuildOptions = {}): LlamaForCausalLM {
    return new LlamaForCausalLM(parseLlamaConfig(json), o);
  }

  /** True while lm_head.weight is model.embed_tokens.weight. */
  get tied(): boolean {
    return this.lm_head.weight === this.model.embed_tokens.weight;
  }

  /** Points lm_head.weight at model.embed_tokens.weight (transformers' tie_weights). */
  tieWeights(): void {
    const own = this.lm_head.weight;
    const emb = this.model.embed_tokens.weight;
    if (own === emb) return;
    if (this.lm_head.outFeatures !== emb.size(0) || this.lm_head.inFeatures !== emb.size(1))
      throw new ShapeError(`cannot tie lm_head [${own.shape}] to embed_tokens [${emb.shape}]`);
    this.lm_head.registerParameter('weight', emb);
    own.dispose();
  }

  /**
   * logits [B, L, vocab] (+ the mean next-token loss with labels, + the cache with useCache).
   * The final hidden states are cast to lm_head's dtype, so a float32 head over a bf16 body works.
   */
  forward(inputIds: Tensor, o: LlamaOptions = {}): LlamaCausalLMOutput {
    return tidy(() => {
      const out = this.model.call(inputIds, o);
      const w = this.lm_head.weight;
      const h = out.lastHiddenState.dtype === w.dtype ? out.lastHiddenState : out.lastHiddenState.to(w.dtype);
      const logits = this.lm_head.call(h);
      const loss = o.labels ? causalLMLoss(logits, o.labels) : undefined;
      return out.pastKeyValues ? { logits, loss, pastKeyValues: out.pastKeyValues } : { logits, loss };
    });
  }

  /** With tied weights a state dict without lm_head.weight (save_pretrained's) is complete. */
  override loadStateDict(sd: StateDictLike, opts: { strict?: boolean } = {}) {
    const src = new Map(sd instanceof Map ? sd : Object.entries(sd));
    // rotary inverse frequencies some exports saved as a buffer: derived from the config here
    for (const k of [...src.keys()]) if (k.endsWith('.rotary_emb.inv_freq')) src.delete(k);
    if (this.tied) {
      const emb = src.get('model.embed_tokens.weight') ?? src.get('lm_head.weight');
      if (emb) {
        src.set('model.embed_tokens.weight', emb);
        src.set('lm_head.weight', emb);
      }
    }
    return super.loadStateDict(src, opts);
  }

  meta(): ModelMeta {
    return llamaMeta(this.config);
  }
}

/** Registry metadata: embeddings, layers.0..N-1, head (norm + lm_head). */
export function llamaMeta(c: LlamaConfig): ModelMeta {
  return {
    name: c.modelType,
    family: 'llama',
    task: 'causal-lm',
    classifier: ['lm_head'],
    // a tied lm_head.weight is embed_tokens' Parameter, so it counts in the embeddings group
    groups: [
      { name: 'embeddings', match: ['model.embed_tokens'] },
      ...prefixRange('model.layers', 0, c.numHiddenLayers - 1).map((p) => ({ name: p.slice(6), match: [p] })),
      { name: 'head', match: ['model.norm', 'lm_head'] },
    ],
    numClasses: c.vocabSize,
    source: `transformers ${{ llama: 'Llama', mistral: 'Mistral', qwen2: 'Qwen2' }[c.modelType]}ForCausalLM`,
  };
}

/** models.llama(config): a LlamaForCausalLM from a config.json object (Llama, Mistral or Qwen2). */
export function llama(config: HFConfigJSON = {}): LlamaForCausalLM {
  const model = LlamaForCausalLM.fromConfig(config);
  setMeta(model, model.meta());
  return model;
}

for (const modelType of ['llama', 'mistral', 'qwen2'] as const) {
  const sizes = parseLlamaConfig({ model_type: modelType, num_hidden_layers: 0 });
  registerModel({
    // transformers' default sizes; options.config (a config.json object) changes them
    meta: llamaMeta(sizes),
    options: ['config'],
    create(opts) {
      const json = (opts.config as HFConfigJSON | undefined) ?? {};
      const config = parseLlamaConfig({ ...json, model_type: json.model_type ?? modelType });
      // numClasses is the vocabulary (a saved run's config.json records it); anything else is a mistake
      if ((opts.numClasses !== undefined && opts.numClasses !== config.vocabSize) || opts.dropout !== undefined)
        throw new ArgumentError(
          `${modelType} takes its sizes and dropout from the config`,
          'pass config: { vocab_size, hidden_size, num_hidden_layers, attention_dropout, ... }',
        );
      if (config.modelType !== modelType)
        throw new ArgumentError(`model '${modelType}' got a config with model_type '${config.modelType}'`);
      const model = new LlamaForCausalLM(config);
      setMeta(model, model.meta());
      return model;
    },
    resetClassifier(model, n) {
      if (!(model instanceof LlamaForCausalLM))
        throw new ArgumentError(`resetClassifier: expected a LlamaForCausalLM, got ${model.constructor.name}`);
      // a head of another width cannot stay tied to embed_tokens: a separate, HF-initialised Linear
      const old = model.lm_head;
      const head = new Linear(model.config.hiddenSize, n, {
        bias: false,
        dtype: old.weight.dtype,
        device: old.weight.device,
      });
      init.normal_(head.weight, 0, model.config.initializerRange);
      head.train(old.training);
      model.registerModule('lm_head', head);
    },
  });
}
