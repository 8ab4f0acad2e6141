// BERT (BertModel, BertForSequenceClassification) with transformers' module tree, names and maths;
// the building blocks are in bert_layers.ts, the masked-LM head (BertForMaskedLM) in bert_heads.ts.
import { ArgumentError } from '../errors.ts';
import { Dropout, Linear, Module, type StateDictLike } from '../nn/index.ts';
import { binaryCrossEntropyWithLogits, crossEntropy, mseLoss, type Tensor, tidy } from '../tensor/index.ts';
import { type BertConfig, type HFConfigJSON, parseBertConfig } from './_hf_config.ts';
import { type ModelMeta, prefixRange, registerModel, setMeta } from './_registry.ts';
import { extendedAttentionMask, hfInitWeights, withoutKeys } from './_transformer.ts';
import { BertEmbeddings, BertEncoder, BertPooler } from './bert_layers.ts';

export type { BertConfig } from './_hf_config.ts';
export {
  actModule,
  BertAttention,
  BertEmbeddings,
  BertEncoder,
  BertIntermediate,
  BertLayer,
  BertPooler,
  BertResidualOutput,
  BertSelfAttention,
} from './bert_layers.ts';

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

export const inputsOf = (x: Tensor | BertInputs, o: BertOptions): BertInputs =>
  'inputIds' in x ? { ...x, ...o } : { inputIds: x, ...o };

// transformers drops these on load: buffers saved by older versions
export const legacyBertKey = (k: string): boolean =>
  k === 'embeddings.position_ids' || k.endsWith('.embeddings.position_ids');

/** transformers' renames of old TF-converted names (bert-base-uncased's files): LayerNorm.gamma / beta. */
export function hfBertKey(k: string): string {
  if (k.endsWith('LayerNorm.gamma')) return `${k.slice(0, -5)}weight`;
  if (k.endsWith('LayerNorm.beta')) return `${k.slice(0, -4)}bias`;
  return k;
}

/** A copy of a transformers BERT state dict in today's names: legacy buffers dropped, gamma / beta renamed. */
export function hfBertStateDict(sd: StateDictLike): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [k, v] of withoutKeys(sd, legacyBertKey)) out.set(hfBertKey(k), v);
  return out;
}

export function groupsOf(c: BertConfig, prefix: string, head: string[]): ModelMeta['groups'] {
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
    return super.loadStateDict(hfBertStateDict(sd), opts);
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
    return super.loadStateDict(hfBertStateDict(sd), opts);
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
