// BERT's masked-LM head with transformers' names (BertForMaskedLM): bert (no pooler) + cls.predictions
// = transform (dense, act, LayerNorm) -> decoder, whose weight is the word embeddings' Parameter
// and whose bias is cls.predictions.bias (both tied, as transformers ties them), so a checkpoint
// saved by save_pretrained (tied copies dropped) or an older pytorch_model.bin (copies kept) loads.
import { ArgumentError, ShapeError } from '../errors.ts';
import { LayerNorm, Linear, Module, type Parameter, type StateDictLike } from '../nn/index.ts';
import { crossEntropy, fromArray, type Tensor, tidy, zeros } from '../tensor/index.ts';
import { type BertConfig, type HFConfigJSON, parseBertConfig } from './_hf_config.ts';
import type { ModelMeta } from './_registry.ts';
import { hfInitWeights } from './_transformer.ts';
import { type BertInputs, BertModel, type BertOptions, groupsOf, hfBertStateDict, inputsOf } from './bert.ts';
import { actModule } from './bert_layers.ts';

/** What BertForMaskedLM.forward returns (transformers' MaskedLMOutput). */
export interface MaskedLMOutput {
  /** [B, L, vocab] prediction scores */
  logits: Tensor;
  /** mean cross-entropy over the labels that are not -100; undefined without labels */
  loss: Tensor | undefined;
}

/** dense -> act -> LayerNorm (transformers' BertPredictionHeadTransform). */
export class BertPredictionHeadTransform extends Module {
  readonly dense: Linear;
  readonly transform_act_fn: Module;
  readonly LayerNorm: LayerNorm;
  constructor(c: BertConfig) {
    super();
    this.dense = this.registerModule('dense', new Linear(c.hiddenSize, c.hiddenSize));
    this.transform_act_fn = this.registerModule('transform_act_fn', actModule(c.hiddenAct));
    this.LayerNorm = this.registerModule('LayerNorm', new LayerNorm(c.hiddenSize, { eps: c.layerNormEps }));
  }
  forward(h: Tensor): Tensor {
    return tidy(() => this.LayerNorm.call(this.transform_act_fn.call(this.dense.call(h))));
  }
}

/** transform -> decoder (vocabulary scores); decoder.bias is this module's `bias` Parameter. */
export class BertLMPredictionHead extends Module {
  readonly transform: BertPredictionHeadTransform;
  readonly decoder: Linear;
  readonly bias: Parameter;
  constructor(c: BertConfig) {
    super();
    this.bias = this.registerParameter('bias', zeros([c.vocabSize]));
    this.transform = this.registerModule('transform', new BertPredictionHeadTransform(c));
    this.decoder = this.registerModule('decoder', new Linear(c.hiddenSize, c.vocabSize, { bias: false }));
    // transformers' `self.decoder.bias = self.bias`: one Parameter under both names
    this.decoder.bias = this.decoder.registerParameter('bias', this.bias);
  }
  forward(h: Tensor): Tensor {
    return tidy(() => this.decoder.call(this.transform.call(h)));
  }
}

/** transformers' BertOnlyMLMHead: the `cls` module of BertForMaskedLM. */
export class BertOnlyMLMHead extends Module {
  readonly predictions: BertLMPredictionHead;
  constructor(c: BertConfig) {
    super();
    this.predictions = this.registerModule('predictions', new BertLMPredictionHead(c));
  }
  forward(h: Tensor): Tensor {
    return this.predictions.call(h);
  }
}

/** Masked-LM loss: mean cross-entropy over the positions whose label is not -100 (0 when there are none). */
export function maskedLMLoss(logits: Tensor, labels: Tensor, ignoreIndex = -100): Tensor {
  const V = logits.size(-1);
  if (labels.numel() * V !== logits.numel())
    throw new ShapeError(`labels [${labels.shape}] do not match the logits [${logits.shape}]`);
  return tidy(() => {
    const onDevice = labels.device === logits.device ? labels : labels.to({ device: logits.device });
    const target = onDevice.reshape(-1).to('int64');
    const x = logits.reshape(-1, V);
    const sum = crossEntropy(x.dtype === 'float32' ? x : x.float(), target, { ignoreIndex, reduction: 'sum' });
    return sum.div(target.ne(ignoreIndex).sum().clamp(1));
  });
}

/** bert (without pooler) + cls, the masked-LM pretraining model (HF's BertForMaskedLM). */
export class BertForMaskedLM extends Module {
  readonly config: BertConfig;
  readonly bert: BertModel;
  readonly cls: BertOnlyMLMHead;

  constructor(config: BertConfig) {
    super();
    this.config = config;
    this.bert = this.registerModule('bert', new BertModel(config, { addPoolingLayer: false }));
    this.cls = this.registerModule('cls', new BertOnlyMLMHead(config));
    hfInitWeights(this.cls, config.initializerRange);
    this.tieWeights();
  }

  static fromConfig(json: HFConfigJSON = {}): BertForMaskedLM {
    return new BertForMaskedLM(parseBertConfig(json));
  }

  /** True while the decoder's weight is the word embeddings' Parameter. */
  get tied(): boolean {
    return this.cls.predictions.decoder.weight === this.bert.embeddings.word_embeddings.weight;
  }

  /** Points cls.predictions.decoder.weight at bert.embeddings.word_embeddings.weight (transformers' tie_weights). */
  tieWeights(): void {
    const decoder = this.cls.predictions.decoder;
    const own = decoder.weight;
    const emb = this.bert.embeddings.word_embeddings.weight;
    if (own === emb) return;
    if (own.shape[0] !== emb.shape[0] || own.shape[1] !== emb.shape[1])
      throw new ShapeError(`cannot tie the decoder [${own.shape}] to the word embeddings [${emb.shape}]`);
    decoder.registerParameter('weight', emb);
    own.dispose();
  }

  forward(input: Tensor | BertInputs, o: BertOptions = {}): MaskedLMOutput {
    const x = inputsOf(input, o);
    return tidy(() => {
      const { lastHiddenState } = this.bert.call(x);
      const logits = this.cls.call(lastHiddenState);
      return { logits, loss: x.labels ? maskedLMLoss(logits, x.labels) : undefined };
    });
  }

  /**
   * The same loss as forward's, with the vocabulary scores computed only where a label is not -100
   * (about 15 % of the tokens): the decoder, often the largest matrix product of a small BERT, then
   * costs that share. A training shortcut; forward keeps transformers' full logits.
   */
  maskedLoss(input: Tensor | BertInputs, o: BertOptions = {}): Tensor {
    const x = inputsOf(input, o);
    if (!x.labels) throw new ArgumentError('maskedLoss needs labels', 'pass labels: -100 where no token is predicted');
    const labels = x.labels;
    return tidy(() => {
      const h = this.bert.call(x).lastHiddenState;
      const H = h.size(-1);
      const flat = labels.reshape(-1).to('int64');
      const picked: number[] = [];
      flat.data().forEach((v, i) => {
        if (Number(v) !== -100) picked.push(i);
      });
      if (!picked.length) return h.sum().mul(0);
      const at = fromArray(BigInt64Array.from(picked, BigInt), [picked.length]).to({ device: h.device });
      const logits = this.cls.call(h.reshape(-1, H).indexSelect(0, at));
      const target = flat.to({ device: h.device }).indexSelect(0, at);
      return crossEntropy(logits.dtype === 'float32' ? logits : logits.float(), target);
    });
  }

  /**
   * Loads transformers' layouts: save_pretrained's (tied copies dropped: the decoder comes from the
   * word embeddings, decoder.bias from cls.predictions.bias), older pytorch_model.bin files (copies
   * kept, LayerNorm gamma / beta) and pretraining checkpoints (bert.pooler and the next-sentence
   * head cls.seq_relationship are left out, as BertForMaskedLM ignores them).
   */
  override loadStateDict(sd: StateDictLike, opts: { strict?: boolean } = {}) {
    const src = hfBertStateDict(sd);
    for (const k of [...src.keys()])
      if (k.startsWith('bert.pooler.') || k.startsWith('cls.seq_relationship.')) src.delete(k);
    const emb = src.get('bert.embeddings.word_embeddings.weight') ?? src.get('cls.predictions.decoder.weight');
    if (emb && this.tied) {
      src.set('bert.embeddings.word_embeddings.weight', emb);
      src.set('cls.predictions.decoder.weight', emb);
    }
    const bias = src.get('cls.predictions.bias') ?? src.get('cls.predictions.decoder.bias');
    if (bias) {
      src.set('cls.predictions.bias', bias);
      src.set('cls.predictions.decoder.bias', bias);
    }
    return super.loadStateDict(src, opts);
  }

  /** Registry metadata: groups embeddings, encoder.layer.0..N-1, head (cls). */
  meta(): ModelMeta {
    return bertMaskedLMMeta(this.config);
  }
}

/** Registry metadata of BertForMaskedLM: groups embeddings, encoder.layer.0..N-1, head (cls). */
export function bertMaskedLMMeta(c: BertConfig): ModelMeta {
  return {
    name: 'bert-masked-lm',
    family: 'bert',
    task: 'masked-lm',
    classifier: ['cls'],
    // the decoder's weight is the word embeddings' Parameter, so it counts in the embeddings group
    groups: groupsOf(c, 'bert.', ['cls']),
    numClasses: c.vocabSize,
    source: 'transformers BertForMaskedLM',
  };
}
