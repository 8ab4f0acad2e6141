// BERT (BertModel, BertForSequenceClassification) with transformers' module tree, names and maths.
import { ArgumentError, ShapeError } from '../errors.ts';
import {
  Dropout,
  Embedding,
  GELU,
  LayerNorm,
  Linear,
  Module,
  ModuleList,
  ReLU,
  type StateDictLike,
  Tanh,
} from '../nn/index.ts';
import {
  arange,
  binaryCrossEntropyWithLogits,
  crossEntropy,
  F,
  mseLoss,
  type Tensor,
  tidy,
  zeros,
} from '../tensor/index.ts';
import { type BertConfig, type HFConfigJSON, parseBertConfig } from './_hf_config.ts';
import { type ModelMeta, prefixRange, registerModel, setMeta } from './_registry.ts';
import {
  extendedAttentionMask,
  type HiddenAct,
  hfInitWeights,
  mergeHeads,
  splitHeads,
  withoutKeys,
} from './_transformer.ts';

export type { BertConfig } from './_hf_config.ts';

/** Model inputs by transformers' names in camelCase; all but inputIds optional. */
export interface BertInputs {
  /** [B, L] int64 token ids */
  inputIds: Tensor;
  /** [B, L] 1 = token, 0 = padding */
  attentionMask?: Tensor;
  /** [B, L] segment ids; zeros when omitted */
  tokenTypeIds?: Tensor;
  /** [B, L] or [1, L]; 0..L-1 when omitted */
  positionIds?: Tensor;
  /** [B] class ids (int64), [B] targets (regression) or [B, numLabels] multi-hot (multi-label) */
  labels?: Tensor;
}
export type BertOptions = Omit<BertInputs, 'inputIds'>;

export interface BertModelOutput {
  lastHiddenState: Tensor;
  /** tanh(dense(hidden[:, 0])); undefined without a pooling layer */
  poolerOutput: Tensor | undefined;
}

export interface SequenceClassifierOutput {
  logits: Tensor;
  loss: Tensor | undefined;
}

const inputsOf = (x: Tensor | BertInputs, o: BertOptions): BertInputs =>
  'inputIds' in x ? { ...x, ...o } : { inputIds: x, ...o };

function actModule(name: HiddenAct): Module {
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

// transformers drops these on load: buffers saved by older versions
const legacyBertKey = (k: string): boolean => k === 'embeddings.position_ids' || k.endsWith('.embeddings.position_ids');

function groupsOf(c: BertConfig, prefix: string, head: string[]): ModelMeta['groups'] {
  return [
    { name: 'embeddings', match: [`${prefix}embeddings`] },
    ...prefixRange(`${prefix}encoder.layer`, 0, c.numHiddenLayers - 1).map((p) => ({
      name: p.slice(prefix.length),
      match: [p],
    })),
    ...(head.length ? [{ name: 'head', match: head }] : []),
  ];
}

/** The bare encoder: embeddings, encoder.layer.N, pooler (HF's BertModel). */
export class BertModel extends Module {
  readonly config: BertConfig;
  readonly embeddings: BertEmbeddings;
  readonly encoder: BertEncoder;
  readonly pooler: BertPooler | undefined;

  constructor(config: BertConfig, o: { addPoolingLayer?: boolean } = {}) {
    super();
    this.config = config;
    this.embeddings = this.registerModule('embeddings', new BertEmbeddings(config));
    this.encoder = this.registerModule('encoder', new BertEncoder(config));
    this.pooler = this.registerModule('pooler', o.addPoolingLayer === false ? undefined : new BertPooler(config));
    hfInitWeights(this, config.initializerRange);
  }

  /** From a transformers config.json object (missing keys take bert-base-uncased's values). */
  static fromConfig(json: HFConfigJSON = {}, o: { addPoolingLayer?: boolean } = {}): BertModel {
    return new BertModel(parseBertConfig(json), o);
  }

  forward(input: Tensor | BertInputs, o: BertOptions = {}): BertModelOutput {
    const x = inputsOf(input, o);
    return tidy(() => {
      const h = this.embeddings.call(x.inputIds, x.tokenTypeIds, x.positionIds);
      const mask = x.attentionMask ? extendedAttentionMask(x.attentionMask, h.dtype) : undefined;
      const last = this.encoder.call(h, mask);
      return { lastHiddenState: last, poolerOutput: this.pooler?.call(last) };
    });
  }

  /** Accepts checkpoints from older transformers that saved embeddings.position_ids. */
  override loadStateDict(sd: StateDictLike, opts: { strict?: boolean } = {}) {
    return super.loadStateDict(withoutKeys(sd, legacyBertKey), opts);
  }

  /** Registry metadata: layer groups embeddings, encoder.layer.0..N-1, head (the pooler). */
  meta(): ModelMeta {
    return {
      name: 'bert-model',
      family: 'bert',
      task: 'feature-extraction',
      classifier: [],
      groups: groupsOf(this.config, '', this.pooler ? ['pooler'] : []),
      source: 'transformers BertModel',
    };
  }
}

/** bert + dropout + classifier, with HF's loss selection by problem type. */
export class BertForSequenceClassification extends Module {
  readonly config: BertConfig;
  readonly bert: BertModel;
  readonly dropout: Dropout;
  classifier: Linear;

  constructor(config: BertConfig) {
    super();
    this.config = config;
    this.bert = this.registerModule('bert', new BertModel(config));
    this.dropout = this.registerModule('dropout', new Dropout(config.classifierDropout ?? config.hiddenDropoutProb));
    this.classifier = this.registerModule('classifier', newClassifier(config, config.numLabels));
  }

  get numLabels(): number {
    return this.classifier.outFeatures;
  }

  static fromConfig(json: HFConfigJSON = {}): BertForSequenceClassification {
    return new BertForSequenceClassification(parseBertConfig(json));
  }

  forward(input: Tensor | BertInputs, o: BertOptions = {}): SequenceClassifierOutput {
    const x = inputsOf(input, o);
    return tidy(() => {
      const { poolerOutput } = this.bert.call(x);
      const logits = this.classifier.call(this.dropout.call(poolerOutput!));
      return { logits, loss: x.labels ? this.loss(logits, x.labels) : undefined };
    });
  }

  /** As transformers: problem_type from the config, else regression for 1 label, integer labels single-label. */
  loss(logits: Tensor, labels: Tensor): Tensor {
    const n = this.classifier.outFeatures;
    const problem =
      this.config.problemType ??
      (n === 1
        ? 'regression'
        : labels.dtype === 'int64' || labels.dtype === 'int32'
          ? 'single_label_classification'
          : 'multi_label_classification');
    return tidy(() => {
      if (problem === 'regression') {
        const y = labels.to(logits.dtype);
        return n === 1 ? mseLoss(logits.squeeze(), y.squeeze()) : mseLoss(logits, y);
      }
      if (problem === 'single_label_classification')
        return crossEntropy(logits.view(-1, n), labels.view(-1).to('int64'));
      return binaryCrossEntropyWithLogits(logits, labels.to(logits.dtype));
    });
  }

  /** A fresh classifier (HF init: N(0, initializer_range), zero bias) for numLabels outputs. */
  resetClassifier(numLabels: number): void {
    if (!Number.isInteger(numLabels) || numLabels < 1)
      throw new ArgumentError(`numLabels must be an integer >= 1, got ${numLabels}`);
    const old = this.classifier;
    const head = newClassifier(this.config, numLabels, old.weight.dtype, old.weight.device);
    head.train(old.training);
    this.registerModule('classifier', head);
  }

  override loadStateDict(sd: StateDictLike, opts: { strict?: boolean } = {}) {
    return super.loadStateDict(withoutKeys(sd, legacyBertKey), opts);
  }

  /** Registry metadata: groups embeddings, encoder.layer.0..N-1, head (pooler + classifier). */
  meta(): ModelMeta {
    return { ...bertSeqClsMeta(this.config), numClasses: this.numLabels };
  }
}

function newClassifier(c: BertConfig, n: number, dtype?: Tensor['dtype'], device?: string): Linear {
  const head = new Linear(c.hiddenSize, n, { dtype, device });
  hfInitWeights(head, c.initializerRange);
  return head;
}

export function bertSeqClsMeta(c: BertConfig): ModelMeta {
  return {
    name: 'bert-base-uncased',
    family: 'bert',
    task: 'sequence-classification',
    classifier: ['classifier'],
    groups: groupsOf(c, 'bert.', ['bert.pooler', 'classifier']),
    numClasses: c.numLabels,
    source: 'transformers BertForSequenceClassification',
  };
}

registerModel({
  // bert-base-uncased sizes; options.config (a config.json object) changes them
  meta: bertSeqClsMeta(parseBertConfig()),
  options: ['config'],
  create(opts) {
    const json: HFConfigJSON = { ...((opts.config as HFConfigJSON | undefined) ?? {}) };
    if (opts.numClasses !== undefined) json.num_labels = opts.numClasses;
    if (opts.dropout !== undefined) json.classifier_dropout = opts.dropout;
    const model = BertForSequenceClassification.fromConfig(json);
    setMeta(model, model.meta());
    return model;
  },
  resetClassifier(model, n) {
    if (!(model instanceof BertForSequenceClassification))
      throw new ArgumentError(
        `resetClassifier: expected a BertForSequenceClassification, got ${model.constructor.name}`,
      );
    model.resetClassifier(n);
  },
});
