// Llama-family decoders (LlamaForCausalLM, and Mistral / Qwen2 through their configs) with
// transformers' module tree, parameter names and eager-attention maths.
import { ArgumentError, ShapeError } from '../errors.ts';
import { Embedding, init, Linear, Module, ModuleList, type StateDictLike } from '../nn/index.ts';
import { arange, type DType, type Tensor } from '../tensor/index.ts';
import type { HFConfigJSON } from './_hf_config.ts';
import { type ModelMeta, prefixRange, registerModel, setMeta } from './_registry.ts';
import { hfInitWeights } from './_transformer.ts';
import { causalLMLoss } from './gpt2.ts';
import { type KeyValue, LlamaDecoderLayer, type LlamaLayerContext, projectWith } from './llama_blocks.ts';
import { LlamaKVCache } from './llama_cache.ts';
import { type LlamaConfig, parseLlamaConfig } from './llama_config.ts';
import { LlamaRMSNorm, llamaAttentionMask } from './llama_layers.ts';
import { LlamaRotary } from './llama_rope.ts';

export {
  type KeyValue,
  LlamaAttention,
  LlamaDecoderLayer,
  type LlamaLayerContext,
  LlamaMLP,
} from './llama_blocks.ts';
export type { LlamaConfig, LlamaModelType, RopeScaling } from './llama_config.ts';

export interface LlamaOptions {
  /** [B, S] 1 = token, 0 = padding; S = cached + new tokens when decoding with a cache */
  attentionMask?: Tensor;
  /** [B, L] or [1, L]; past..past+L-1 when omitted */
  positionIds?: Tensor;
  /** the cache a previous call returned (one [key, value] per layer) */
  pastKeyValues?: KeyValue[];
  /** return the cache (the past extended by these tokens) */
  useCache?: boolean;
  /**
   * a cache written in place: holds the past, and this call adds its tokens to it (instead of
   * pastKeyValues / useCache; what generate() uses)
   */
  cache?: LlamaKVCache;
  /** [B, L] next-token targets aligned with inputIds (shifted inside the loss); -100 is ignored */
  labels?: Tensor;
  /** logits for the last n positions only (transformers' logits_to_keep; generation needs 1) */
  logitsToKeep?: number;
}

/** Construction options: the parameters' dtype (build straight in bfloat16 to load a big model) and HF init. */
export interface LlamaBuildOptions {
  dtype?: DType;
  /** transformers' _init_weights (default true); off when weights are loaded right after */
  init?: boolean;
}

/** Cached key/value length of a past cache (0 when there is none). */
export const pastLength = (past: KeyValue[] | undefined): number => (past?.length ? past[0]![0].size(2) : 0);

/** embed_tokens, layers.N, norm (HF's LlamaModel); the rotary frequencies are not state. */
export class LlamaModel extends Module {
  readonly config: LlamaConfig;
  readonly embed_tokens: Embedding;
  readonly layers: ModuleList<LlamaDecoderLayer>;
  readonly norm: LlamaRMSNorm;
  /** inv_freq and cos / sin tables per device, float32 whatever the weights' dtype (as from_pretrained keeps it) */
  readonly rotary: LlamaRotary;

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
    const layers = Array.from({ length: c.numHiddenLayers }, (_, i) => new LlamaDecoderLayer(c, f, i));
    this.layers = this.registerModule('layers', new ModuleList(layers));
    this.norm = this.registerModule('norm', new LlamaRMSNorm(c.hiddenSize, c.rmsNormEps, f));
    this.rotary = new LlamaRotary(c);
    if (o.init !== false) hfInitWeights(this, c.initializerRange);
  }

  /** The rotary inverse frequencies a forward on device uses now (float32). */
  invFreq(device: string): Tensor {
    return this.rotary.invFreq(device);
  }

  /**
   * The layers' shared inputs for L new tokens after `past` cached ones: rotary tables (of positionIds,
   * else past..past+L-1) and the masks (full and sliding-window, each only where some layer needs it).
   */
  layerContext(
    L: number,
    past: number,
    dtype: DType,
    device: string,
    o: { attentionMask?: Tensor; positionIds?: Tensor } = {},
  ): LlamaLayerContext {
    const c = this.config;
    const rope = this.rotary.tables(device, dtype, L, past, o.positionIds);
    const am = { attentionMask: o.attentionMask };
    const mask = c.slidingLayers.every((s) => s) ? undefined : llamaAttentionMask(L, past, dtype, device, am);
    const slidingMask = c.slidingLayers.some((s) => s)
      ? llamaAttentionMask(L, past, dtype, device, { ...am, slidingWindow: c.slidingWindow })
      : undefined;
    return { rope, mask, slidingMask };
  }

  /** The final hidden states [B, L, E] (after norm), and the extended cache with useCache. */
  forward(inputIds: Tensor, o: LlamaOptions = {}): { lastHiddenState: Tensor; pastKeyValues?: KeyValue[] } {
    if (inputIds.ndim !== 2) throw new ShapeError(`inputIds must be [batch, seq], got [${inputIds.shape}]`);
    const past = o.pastKeyValues;
    const cache = o.cache;
    if (past && cache) throw new ArgumentError('pass either pastKeyValues or cache, not both');
    if (past && past.length !== this.layers.length)
      throw new ArgumentError(`pastKeyValues has ${past.length} layers, the model ${this.layers.length}`);
    if (cache && cache.layers !== this.layers.length)
      throw new ArgumentError(`the cache has ${cache.layers} layers, the model ${this.layers.length}`);
    const L = inputIds.size(1);
    const pastLen = cache ? cache.length : pastLength(past);
    let h = this.embed_tokens.call(inputIds);
    const device = h.device;
    const ctx = this.layerContext(L, pastLen, h.dtype, device, o);
    ctx.useCache = o.useCache;
    if (cache) {
      ctx.cache = cache;
      ctx.cacheIndex = arange(pastLen, pastLen + L, 1, { dtype: 'int64', device });
    }
    const presents: KeyValue[] = [];
    let i = 0;
    for (const layer of this.layers) {
      const r = layer.call(h, past ? { ...ctx, past: past[i++] } : ctx);
      h = r.hidden;
      if (r.present) presents.push(r.present);
    }
    cache?.advance(L);
    const lastHiddenState = this.norm.call(h);
    return o.useCache && !cache ? { lastHiddenState, pastKeyValues: presents } : { lastHiddenState };
  }

  override dispose(): void {
    this.rotary.dispose();
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
    const keep = o.logitsToKeep;
    if (keep !== undefined && (!Number.isInteger(keep) || keep < 1))
      throw new ArgumentError(`logitsToKeep must be an integer >= 1, got ${keep}`);
    if (keep !== undefined && o.labels) throw new ArgumentError('logitsToKeep leaves out logits the loss needs');
    const out = this.model.call(inputIds, o);
    const w = this.lm_head.weight;
    let h = out.lastHiddenState;
    if (keep !== undefined && keep < h.size(1)) h = h.narrow(1, h.size(1) - keep, keep);
    if (h.dtype !== w.dtype) h = h.to(w.dtype);
    const [b, L] = h.shape as [number, number];
    const logits = b * L === 1 ? projectWith(this.lm_head, h, true) : this.lm_head.call(h);
    const loss = o.labels ? causalLMLoss(logits, o.labels) : undefined;
    return out.pastKeyValues ? { logits, loss, pastKeyValues: out.pastKeyValues } : { logits, loss };
  }

  /**
   * An empty in-place cache for this model (generate() makes one per call). fuseQkv: the forwards
   * using it project q/k/v with one matmul, from a copy of the weights made now.
   */
  newCache(capacity?: number, o: { fuseQkv?: boolean } = {}): LlamaKVCache {
    const fused = o.fuseQkv ? [...this.model.layers].map((l) => l.self_attn.fuseQkv()) : [];
    return new LlamaKVCache(this.config.numHiddenLayers, capacity, fused);
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
