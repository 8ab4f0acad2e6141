// BERT's building blocks with transformers' module names and maths: embeddings, self-attention,
// the residual outputs, the encoder layer stack and the pooler (bert.ts assembles them).
import { ShapeError } from '../errors.ts';
import { Dropout, Embedding, GELU, LayerNorm, Linear, Module, ModuleList, ReLU, Tanh } from '../nn/index.ts';
import { arange, F, type Tensor, tidy, zeros } from '../tensor/index.ts';
import type { BertConfig } from './_hf_config.ts';
import { type HiddenAct, mergeHeads, splitHeads } from './_transformer.ts';

/** transformers' ACT2FN for BERT's hidden_act. */
export function actModule(name: HiddenAct): Module {
  if (name === 'gelu') return new GELU();
  if (name === 'gelu_new') return new GELU('tanh');
  if (name === 'relu') return new ReLU();
  return new Tanh();
}

export class BertEmbeddings extends Module {
  readonly word_embeddings: Embedding;
  readonly position_embeddings: Embedding;
  readonly token_type_embeddings: Embedding;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;
  /** [1, max_position_embeddings]; non-persistent as in transformers >= 4.31 (older checkpoints carry it) */
  readonly position_ids: Tensor;
  readonly token_type_ids: Tensor;

  constructor(readonly config: BertConfig) {
    super();
    const c = config;
    this.word_embeddings = this.registerModule(
      'word_embeddings',
      new Embedding(c.vocabSize, c.hiddenSize, { paddingIdx: c.padTokenId }),
    );
    this.position_embeddings = this.registerModule(
      'position_embeddings',
      new Embedding(c.maxPositionEmbeddings, c.hiddenSize),
    );
    this.token_type_embeddings = this.registerModule(
      'token_type_embeddings',
      new Embedding(c.typeVocabSize, c.hiddenSize),
    );
    this.LayerNorm = this.registerModule('LayerNorm', new LayerNorm(c.hiddenSize, { eps: c.layerNormEps }));
    this.dropout = this.registerModule('dropout', new Dropout(c.hiddenDropoutProb));
    const pos = tidy(() => arange(c.maxPositionEmbeddings).unsqueeze(0));
    this.position_ids = this.registerBuffer('position_ids', pos, { persistent: false });
    this.token_type_ids = this.registerBuffer(
      'token_type_ids',
      zeros([1, c.maxPositionEmbeddings], { dtype: 'int64' }),
      {
        persistent: false,
      },
    );
  }

  forward(inputIds: Tensor, tokenTypeIds?: Tensor, positionIds?: Tensor): Tensor {
    const L = inputIds.size(-1);
    if (L > this.config.maxPositionEmbeddings)
      throw new ShapeError(
        `BERT input of ${L} tokens is longer than max_position_embeddings ${this.config.maxPositionEmbeddings}`,
        'truncate the sequences',
      );
    return tidy(() => {
      const pos = positionIds ?? this.position_ids.slice(1, 0, L);
      const types = tokenTypeIds ?? this.token_type_ids.slice(1, 0, L);
      let e = this.word_embeddings.call(inputIds).add(this.token_type_embeddings.call(types));
      e = e.add(this.position_embeddings.call(pos));
      return this.dropout.call(this.LayerNorm.call(e));
    });
  }
}

export class BertSelfAttention extends Module {
  readonly numAttentionHeads: number;
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly dropout: Dropout;

  constructor(c: BertConfig) {
    super();
    this.numAttentionHeads = c.numAttentionHeads;
    this.query = this.registerModule('query', new Linear(c.hiddenSize, c.hiddenSize));
    this.key = this.registerModule('key', new Linear(c.hiddenSize, c.hiddenSize));
    this.value = this.registerModule('value', new Linear(c.hiddenSize, c.hiddenSize));
    this.dropout = this.registerModule('dropout', new Dropout(c.attentionProbsDropoutProb));
  }

  /** h [B, L, H]; mask: the additive extended mask [B, 1, 1, L] */
  forward(h: Tensor, mask?: Tensor): Tensor {
    return tidy(() => {
      const n = this.numAttentionHeads;
      const q = splitHeads(this.query.call(h), n);
      const k = splitHeads(this.key.call(h), n);
      const v = splitHeads(this.value.call(h), n);
      const p = this.training ? this.dropout.p : 0;
      return mergeHeads(F.scaledDotProductAttention(q, k, v, { attnMask: mask, dropoutP: p, training: this.training }));
    });
  }
}

/** dense -> dropout -> LayerNorm(x + residual): BertSelfOutput and BertOutput. */
export class BertResidualOutput extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;
  constructor(c: BertConfig, inFeatures: number) {
    super();
    this.dense = this.registerModule('dense', new Linear(inFeatures, c.hiddenSize));
    this.LayerNorm = this.registerModule('LayerNorm', new LayerNorm(c.hiddenSize, { eps: c.layerNormEps }));
    this.dropout = this.registerModule('dropout', new Dropout(c.hiddenDropoutProb));
  }
  forward(h: Tensor, residual: Tensor): Tensor {
    return tidy(() => this.LayerNorm.call(this.dropout.call(this.dense.call(h)).add(residual)));
  }
}

export class BertAttention extends Module {
  readonly self: BertSelfAttention;
  readonly output: BertResidualOutput;
  constructor(c: BertConfig) {
    super();
    this.self = this.registerModule('self', new BertSelfAttention(c));
    this.output = this.registerModule('output', new BertResidualOutput(c, c.hiddenSize));
  }
  forward(h: Tensor, mask?: Tensor): Tensor {
    return tidy(() => this.output.call(this.self.call(h, mask), h));
  }
}

export class BertIntermediate extends Module {
  readonly dense: Linear;
  readonly intermediate_act_fn: Module;
  constructor(c: BertConfig) {
    super();
    this.dense = this.registerModule('dense', new Linear(c.hiddenSize, c.intermediateSize));
    this.intermediate_act_fn = this.registerModule('intermediate_act_fn', actModule(c.hiddenAct));
  }
  forward(h: Tensor): Tensor {
    return tidy(() => this.intermediate_act_fn.call(this.dense.call(h)));
  }
}

export class BertLayer extends Module {
  readonly attention: BertAttention;
  readonly intermediate: BertIntermediate;
  readonly output: BertResidualOutput;
  constructor(c: BertConfig) {
    super();
    this.attention = this.registerModule('attention', new BertAttention(c));
    this.intermediate = this.registerModule('intermediate', new BertIntermediate(c));
    this.output = this.registerModule('output', new BertResidualOutput(c, c.intermediateSize));
  }
  forward(h: Tensor, mask?: Tensor): Tensor {
    return tidy(() => {
      const a = this.attention.call(h, mask);
      return this.output.call(this.intermediate.call(a), a);
    });
  }
}

export class BertEncoder extends Module {
  readonly layer: ModuleList<BertLayer>;
  constructor(c: BertConfig) {
    super();
    const layers = Array.from({ length: c.numHiddenLayers }, () => new BertLayer(c));
    this.layer = this.registerModule('layer', new ModuleList(layers));
  }
  forward(h: Tensor, mask?: Tensor): Tensor {
    return tidy(() => {
      for (const l of this.layer) h = l.call(h, mask);
      return h;
    });
  }
}

export class BertPooler extends Module {
  readonly dense: Linear;
  readonly activation: Tanh;
  constructor(c: BertConfig) {
    super();
    this.dense = this.registerModule('dense', new Linear(c.hiddenSize, c.hiddenSize));
    this.activation = this.registerModule('activation', new Tanh());
  }
  forward(h: Tensor): Tensor {
    return tidy(() => this.activation.call(this.dense.call(h.select(1, 0))));
  }
}
