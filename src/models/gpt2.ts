// GPT-2 (GPT2Model, GPT2LMHeadModel) with transformers' module tree, names, Conv1D layout and tied head.
import { ArgumentError, ShapeError } from '../errors.ts';
import {
  Dropout,
  Embedding,
  GELU,
  init,
  LayerNorm,
  Linear,
  Module,
  ModuleList,
  type Parameter,
  ReLU,
  type StateDictLike,
  Tanh,
} from '../nn/index.ts';
import { addmm, arange, cat, crossEntropy, empty, F, type Tensor, tidy, zeros } from '../tensor/index.ts';
import { type GPT2Config, type HFConfigJSON, parseGPT2Config } from './_hf_config.ts';
import { type ModelMeta, prefixRange, registerModel, setMeta } from './_registry.ts';
import {
  causalAdditiveMask,
  extendedAttentionMask,
  type HiddenAct,
  hfInitWeights,
  mergeHeads,
  splitHeads,
  withoutKeys,
} from './_transformer.ts';

export type { GPT2Config } from './_hf_config.ts';

export interface GPT2Inputs {
  /** [B, L] int64 token ids */
  inputIds: Tensor;
  /** [B, L] 1 = token, 0 = padding */
  attentionMask?: Tensor;
  /** [B, L]; embedded with wte, as transformers does */
  tokenTypeIds?: Tensor;
  /** [B, L] or [1, L]; 0..L-1 when omitted */
  positionIds?: Tensor;
  /** [B, L] next-token targets, aligned with inputIds (shifted inside); -100 is ignored */
  labels?: Tensor;
  /** the cache a previous call returned: one [key, value] per block, each [B, H, S, D] */
  pastKeyValues?: [Tensor, Tensor][];
  /** return the cache (the past extended by these tokens) */
  useCache?: boolean;
}
export type GPT2Options = Omit<GPT2Inputs, 'inputIds'>;

export interface CausalLMOutput {
  logits: Tensor;
  loss: Tensor | undefined;
  pastKeyValues?: [Tensor, Tensor][];
}

const inputsOf = (x: Tensor | GPT2Inputs, o: GPT2Options): GPT2Inputs =>
  'inputIds' in x ? { ...x, ...o } : { inputIds: x, ...o };

/** transformers' Conv1D: y = x W + b with weight stored [in, out] (transposed vs Linear). */
export class Conv1D extends Module {
  readonly nf: number;
  readonly nx: number;
  weight: Parameter;
  bias: Parameter;
  constructor(nf: number, nx: number) {
    super();
    this.nf = nf;
    this.nx = nx;
    this.weight = this.registerParameter('weight', init.normal_(empty([nx, nf]), 0, 0.02));
    this.bias = this.registerParameter('bias', zeros([nf]));
  }
  forward(x: Tensor): Tensor {
    const shape = x.shape;
    return tidy(() => addmm(this.bias, x.reshape(-1, this.nx), this.weight).view([...shape.slice(0, -1), this.nf]));
  }
  override extraRepr(): string {
    return `nf=${this.nf}, nx=${this.nx}`;
  }
}

function actModule(name: HiddenAct): Module {
  if (name === 'gelu_new') return new GELU('tanh');
  if (name === 'gelu') return new GELU();
  if (name === 'relu') return new ReLU();
  return new Tanh();
}

export class GPT2Attention extends Module {
  readonly nHead: number;
  readonly embedDim: number;
  readonly c_attn: Conv1D;
  readonly c_proj: Conv1D;
  readonly attn_dropout: Dropout;
  readonly resid_dropout: Dropout;
  /** multiplies q so that SDPA's 1/sqrt(d) becomes the configured scaling */
  readonly #qScale: number;

  constructor(c: GPT2Config, layerIdx: number) {
    super();
    this.nHead = c.nHead;
    this.embedDim = c.nEmbd;
    // no causal-mask buffers: older transformers saved attn.bias / attn.masked_bias, loading drops them
    this.c_attn = this.registerModule('c_attn', new Conv1D(3 * c.nEmbd, c.nEmbd));
    this.c_proj = this.registerModule('c_proj', new Conv1D(c.nEmbd, c.nEmbd));
    this.attn_dropout = this.registerModule('attn_dropout', new Dropout(c.attnPdrop));
    this.resid_dropout = this.registerModule('resid_dropout', new Dropout(c.residPdrop));
    const headDim = c.nEmbd / c.nHead;
    this.#qScale = (c.scaleAttnWeights ? 1 : Math.sqrt(headDim)) / (c.scaleAttnByInverseLayerIdx ? layerIdx + 1 : 1);
  }

  /** h [B, L, E]; padMask: the additive extended mask [B, 1, 1, L] */
  forward(h: Tensor, padMask?: Tensor): Tensor {
    return this.attend(h, padMask).out;
  }

  /** forward with a KV cache: past [key, value] of earlier tokens; present is past + these tokens. */
  attend(h: Tensor, padMask?: Tensor, past?: [Tensor, Tensor]): { out: Tensor; present: [Tensor, Tensor] } {
    return tidy(() => {
      const [q0, k0, v0] = this.c_attn.call(h).split(this.embedDim, 2) as [Tensor, Tensor, Tensor];
      let q = splitHeads(q0, this.nHead);
      if (this.#qScale !== 1) q = q.mul(this.#qScale);
      let k = splitHeads(k0, this.nHead);
      let v = splitHeads(v0, this.nHead);
      if (past) {
        k = cat([past[0], k], 2);
        v = cat([past[1], v], 2);
      }
      const p = this.training ? this.attn_dropout.p : 0;
      const o = { dropoutP: p, training: this.training };
      const L = q.size(-2);
      const S = k.size(-2);
      let a: Tensor;
      if (padMask || L !== S) {
        // causal (0 / finfo.min) + padding, like transformers' where(bias, w, min) + attention_mask;
        // with a cache the L new queries sit at the end of the S keys (SDPA's isCausal aligns top-left)
        const causal = causalAdditiveMask(L, S, q.dtype, q.device);
        const mask = padMask ? causal.add(padMask) : causal;
        a = F.scaledDotProductAttention(q, k, v, { ...o, attnMask: mask });
      } else a = F.scaledDotProductAttention(q, k, v, { ...o, isCausal: true });
      return { out: this.resid_dropout.call(this.c_proj.call(mergeHeads(a))), present: [k, v] as [Tensor, Tensor] };
    });
  }
}

export class GPT2MLP extends Module {
  readonly c_fc: Conv1D;
  readonly c_proj: Conv1D;
  readonly act: Module;
  readonly dropout: Dropout;
  constructor(c: GPT2Config) {
    super();
    this.c_fc = this.registerModule('c_fc', new Conv1D(c.nInner, c.nEmbd));
    this.c_proj = this.registerModule('c_proj', new Conv1D(c.nEmbd, c.nInner));
    this.act = this.registerModule('act', actModule(c.activationFunction));
    this.dropout = this.registerModule('dropout', new Dropout(c.residPdrop));
  }
  forward(h: Tensor): Tensor {
    return tidy(() => this.dropout.call(this.c_proj.call(this.act.call(this.c_fc.call(h)))));
  }
}

export class GPT2Block extends Module {
  readonly ln_1: LayerNorm;
  readonly attn: GPT2Attention;
  readonly ln_2: LayerNorm;
  readonly mlp: GPT2MLP;
  constructor(c: GPT2Config, layerIdx: number) {
    super();
    this.ln_1 = this.registerModule('ln_1', new LayerNorm(c.nEmbd, { eps: c.layerNormEpsilon }));
    this.attn = this.registerModule('attn', new GPT2Attention(c, layerIdx));
    this.ln_2 = this.registerModule('ln_2', new LayerNorm(c.nEmbd, { eps: c.layerNormEpsilon }));
    this.mlp = this.registerModule('mlp', new GPT2MLP(c));
  }
  forward(h: Tensor, padMask?: Tensor): Tensor {
    return this.attend(h, padMask).hidden;
  }

  /** forward with a KV cache (see GPT2Attention.attend). */
  attend(h: Tensor, padMask?: Tensor, past?: [Tensor, Tensor]): { hidden: Tensor; present: [Tensor, Tensor] } {
    return tidy(() => {
      const a = this.attn.attend(this.ln_1.call(h), padMask, past);
      const x = a.out.add(h);
      return { hidden: x.add(this.mlp.call(this.ln_2.call(x))), present: a.present };
    });
  }
}

/** PreTrainedModel._init_weights for GPT-2: N(0, range), and N(0, range / sqrt(2 n_layer)) for c_proj weights. */
function gpt2Init(model: Module, c: GPT2Config): void {
  hfInitWeights(model, c.initializerRange);
  for (const m of model.modules())
    if (m instanceof Conv1D) {
      init.normal_(m.weight, 0, c.initializerRange);
      init.zeros_(m.bias);
    }
  for (const [name, p] of model.namedParameters())
    if (name.endsWith('c_proj.weight')) init.normal_(p, 0, c.initializerRange / Math.sqrt(2 * c.nLayer));
}

// buffers older transformers saved (the causal mask and its fill value); never part of this model
const legacyGPT2Key = (k: string): boolean => k.endsWith('.attn.bias') || k.endsWith('.attn.masked_bias');

/** wte, wpe, drop, h.N, ln_f (HF's GPT2Model). */
export class GPT2Model extends Module {
  readonly config: GPT2Config;
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly drop: Dropout;
  readonly h: ModuleList<GPT2Block>;
  readonly ln_f: LayerNorm;

  constructor(config: GPT2Config, o: { init?: boolean } = {}) {
    super();
    const c = config;
    this.config = c;
    this.wte = this.registerModule('wte', new Embedding(c.vocabSize, c.nEmbd));
    this.wpe = this.registerModule('wpe', new Embedding(c.nPositions, c.nEmbd));
    this.drop = this.registerModule('drop', new Dropout(c.embdPdrop));
    const blocks = Array.from({ length: c.nLayer }, (_, i) => new GPT2Block(c, i));
    this.h = this.registerModule('h', new ModuleList(blocks));
    this.ln_f = this.registerModule('ln_f', new LayerNorm(c.nEmbd, { eps: c.layerNormEpsilon }));
    if (o.init !== false) gpt2Init(this, c);
  }

  static fromConfig(json: HFConfigJSON = {}): GPT2Model {
    return new GPT2Model(parseGPT2Config(json));
  }

  /** The final hidden states [B, L, E] (after ln_f), and the extended cache with useCache. */
  forward(
    input: Tensor | GPT2Inputs,
    o: GPT2Options = {},
  ): { lastHiddenState: Tensor; pastKeyValues?: [Tensor, Tensor][] } {
    const x = inputsOf(input, o);
    const [B, L] = x.inputIds.shape as [number, number];
    const past = x.pastKeyValues;
    if (past && past.length !== this.h.length)
      throw new ArgumentError(`pastKeyValues has ${past.length} blocks, the model ${this.h.length}`);
    const pastLen = past?.length ? past[0]![0].size(2) : 0;
    if (pastLen + L > this.config.nPositions)
      throw new ShapeError(
        `GPT-2 input of ${pastLen + L} tokens is longer than n_positions ${this.config.nPositions}`,
        'truncate the sequences',
      );
    return tidy(() => {
      const device = x.inputIds.device;
      const pos = x.positionIds ?? arange(pastLen, pastLen + L, 1, { device }).unsqueeze(0);
      let h = this.wte.call(x.inputIds).add(this.wpe.call(pos));
      if (x.tokenTypeIds) h = h.add(this.wte.call(x.tokenTypeIds));
      h = this.drop.call(h);
      const mask = x.attentionMask ? extendedAttentionMask(x.attentionMask.view(B, -1), h.dtype) : undefined;
      if (!past && !x.useCache) {
        for (const block of this.h) h = block.call(h, mask);
        return { lastHiddenState: this.ln_f.call(h) };
      }
      const presents: [Tensor, Tensor][] = [];
      let i = 0;
      for (const block of this.h) {
        const r = block.attend(h, mask, past?.[i++]);
        h = r.hidden;
        presents.push(r.present);
      }
      const lastHiddenState = this.ln_f.call(h);
      return x.useCache ? { lastHiddenState, pastKeyValues: presents } : { lastHiddenState };
    });
  }

  override loadStateDict(sd: StateDictLike, opts: { strict?: boolean } = {}) {
    return super.loadStateDict(withoutKeys(sd, legacyGPT2Key), opts);
  }
}

/** transformer + lm_head (bias-free, its weight the same Parameter as transformer.wte.weight). */
export class GPT2LMHeadModel extends Module {
  readonly config: GPT2Config;
  readonly transformer: GPT2Model;
  lm_head: Linear;

  constructor(config: GPT2Config) {
    super();
    this.config = config;
    this.transformer = this.registerModule('transformer', new GPT2Model(config, { init: false }));
    this.lm_head = this.registerModule('lm_head', new Linear(config.nEmbd, config.vocabSize, { bias: false }));
    gpt2Init(this, config);
    if (config.tieWordEmbeddings) this.tieWeights();
  }

  static fromConfig(json: HFConfigJSON = {}): GPT2LMHeadModel {
    return new GPT2LMHeadModel(parseGPT2Config(json));
  }

  /** True while lm_head.weight is transformer.wte.weight. */
  get tied(): boolean {
    return this.lm_head.weight === this.transformer.wte.weight;
  }

  /** Points lm_head.weight at transformer.wte.weight (transformers' tie_weights). */
  tieWeights(): void {
    const own = this.lm_head.weight;
    if (own === this.transformer.wte.weight) return;
    const [vocab, e] = this.transformer.wte.weight.shape as [number, number];
    if (this.lm_head.outFeatures !== vocab || this.lm_head.inFeatures !== e)
      throw new ShapeError(
        `cannot tie lm_head [${this.lm_head.outFeatures}, ${this.lm_head.inFeatures}] to wte [${vocab}, ${e}]`,
      );
    this.lm_head.registerParameter('weight', this.transformer.wte.weight);
    own.dispose();
  }

  forward(input: Tensor | GPT2Inputs, o: GPT2Options = {}): CausalLMOutput {
    const x = inputsOf(input, o);
    return tidy(() => {
      const { lastHiddenState, pastKeyValues } = this.transformer.call(x);
      const logits = this.lm_head.call(lastHiddenState);
      const loss = x.labels ? causalLMLoss(logits, x.labels) : undefined;
      return pastKeyValues ? { logits, loss, pastKeyValues } : { logits, loss };
    });
  }

  /**
   * Drops the legacy mask buffers; with tied weights, wte is the source of truth as transformers
   * ties after loading, so a state dict saved without lm_head.weight (save_pretrained) is complete.
   */
  override loadStateDict(sd: StateDictLike, opts: { strict?: boolean } = {}) {
    const src = withoutKeys(sd, legacyGPT2Key);
    if (this.tied) {
      const wte = src.get('transformer.wte.weight') ?? src.get('lm_head.weight');
      if (wte) {
        src.set('transformer.wte.weight', wte);
        src.set('lm_head.weight', wte);
      }
    }
    return super.loadStateDict(src, opts);
  }

  /** Registry metadata: groups embeddings (wte, wpe), h.0..h.N-1, head (ln_f, lm_head). */
  meta(): ModelMeta {
    return gpt2Meta(this.config);
  }
}

/** transformers' causal-LM loss: logits[:, :-1] against labels[:, 1:], mean over labels != -100. */
export function causalLMLoss(logits: Tensor, labels: Tensor, ignoreIndex = -100): Tensor {
  const [B, L, V] = logits.shape as [number, number, number];
  if (labels.ndim !== 2 || labels.size(0) !== B || labels.size(1) !== L)
    throw new ShapeError(`labels [${labels.shape}] must match the logits' [batch, seq] = [${B}, ${L}]`);
  return tidy(() => {
    const shifted = logits.slice(1, 0, L - 1).reshape(-1, V);
    const target = labels.slice(1, 1).reshape(-1).to('int64');
    return crossEntropy(shifted.to('float32'), target, { ignoreIndex });
  });
}

export function gpt2Meta(c: GPT2Config): ModelMeta {
  return {
    name: 'gpt2',
    family: 'gpt2',
    task: 'causal-lm',
    classifier: ['lm_head'],
    // lm_head.weight is wte's Parameter while tied, so it counts in the embeddings group
    groups: [
      { name: 'embeddings', match: ['transformer.wte', 'transformer.wpe'] },
      ...prefixRange('transformer.h', 0, c.nLayer - 1).map((p) => ({
        name: p.slice('transformer.'.length),
        match: [p],
      })),
      { name: 'head', match: ['transformer.ln_f', 'lm_head'] },
    ],
    numClasses: c.vocabSize,
    source: 'transformers GPT2LMHeadModel',
  };
}

registerModel({
  // gpt2 (124M) sizes; options.config (a config.json object) changes them
  meta: gpt2Meta(parseGPT2Config()),
  options: ['config'],
  create(opts) {
    if (opts.numClasses !== undefined || opts.dropout !== undefined)
      throw new ArgumentError(
        'gpt2 takes its sizes and dropout from the config',
        'pass config: { vocab_size, resid_pdrop, embd_pdrop, attn_pdrop, ... }',
      );
    const model = GPT2LMHeadModel.fromConfig((opts.config as HFConfigJSON | undefined) ?? {});
    setMeta(model, model.meta());
    return model;
  },
  resetClassifier(model, n) {
    if (!(model instanceof GPT2LMHeadModel))
      throw new ArgumentError(`resetClassifier: expected a GPT2LMHeadModel, got ${model.constructor.name}`);
    // a new head of another width cannot stay tied to wte: it becomes a separate, HF-initialised Linear
    const old = model.lm_head;
    const head = new Linear(model.config.nEmbd, n, { bias: false, dtype: old.weight.dtype, device: old.weight.device });
    init.normal_(head.weight, 0, model.config.initializerRange);
    head.train(old.training);
    model.registerModule('lm_head', head);
  },
});
