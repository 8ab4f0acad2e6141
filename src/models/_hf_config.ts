// Hugging Face config.json objects (snake_case, as saved by transformers) -> typed, checked configs.
import { ArgumentError } from '../errors.ts';

/** A config.json as parsed JSON; unknown keys are ignored as transformers does. */
export type HFConfigJSON = Record<string, unknown>;

export interface BertConfig {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  /** dropout before the classifier; hiddenDropoutProb when unset (HF's classifier_dropout=None) */
  classifierDropout: number | undefined;
  layerNormEps: number;
  hiddenAct: 'gelu' | 'gelu_new' | 'relu' | 'tanh';
  padTokenId: number;
  initializerRange: number;
  numLabels: number;
  problemType: 'regression' | 'single_label_classification' | 'multi_label_classification' | undefined;
}

export interface GPT2Config {
  vocabSize: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nPositions: number;
  /** MLP width; 4 * nEmbd when unset */
  nInner: number;
  layerNormEpsilon: number;
  residPdrop: number;
  embdPdrop: number;
  attnPdrop: number;
  activationFunction: 'gelu_new' | 'gelu' | 'relu' | 'tanh';
  initializerRange: number;
  scaleAttnWeights: boolean;
  scaleAttnByInverseLayerIdx: boolean;
  tieWordEmbeddings: boolean;
}

const ACTS = ['gelu', 'gelu_new', 'relu', 'tanh'] as const;
const PROBLEMS = ['regression', 'single_label_classification', 'multi_label_classification'] as const;

class Reader {
  constructor(
    private readonly c: HFConfigJSON,
    private readonly model: string,
  ) {}
  private bad(key: string, v: unknown, want: string): never {
    throw new ArgumentError(`${this.model} config: ${key} = ${JSON.stringify(v)}, expected ${want}`);
  }
  int(key: string, dflt?: number, min = 1): number {
    const v = this.c[key] ?? dflt;
    if (v === undefined) throw new ArgumentError(`${this.model} config: ${key} is required`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.bad(key, v, `an integer >= ${min}`);
    return v;
  }
  prob(key: string, dflt: number): number {
    const v = this.c[key] ?? dflt;
    if (typeof v !== 'number' || v < 0 || v >= 1) this.bad(key, v, 'a probability in [0, 1)');
    return v;
  }
  pos(key: string, dflt: number): number {
    const v = this.c[key] ?? dflt;
    if (typeof v !== 'number' || !(v > 0)) this.bad(key, v, 'a positive number');
    return v;
  }
  bool(key: string, dflt: boolean): boolean {
    const v = this.c[key] ?? dflt;
    if (typeof v !== 'boolean') this.bad(key, v, 'true or false');
    return v;
  }
  oneOf<T extends string>(key: string, values: readonly T[], dflt: T | undefined): T | undefined {
    const v = this.c[key] ?? dflt;
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !values.includes(v as T)) this.bad(key, v, `one of ${values.join(', ')}`);
    return v as T;
  }
  /** num_labels, or the size of id2label as PretrainedConfig derives it; 2 by default */
  numLabels(): number {
    const id2label = this.c.id2label;
    const fromMap = id2label && typeof id2label === 'object' ? Object.keys(id2label).length : undefined;
    return this.int('num_labels', fromMap ?? 2);
  }
}

function heads(model: string, hidden: number, n: number): void {
  if (hidden % n !== 0)
    throw new ArgumentError(
      `${model} config: hidden size ${hidden} is not a multiple of the number of attention heads ${n}`,
    );
}

/** transformers' BertConfig defaults (bert-base-uncased sizes) for every key not given. */
export function parseBertConfig(c: HFConfigJSON = {}): BertConfig {
  const r = new Reader(c, 'bert');
  const cd = c.classifier_dropout;
  const cfg: BertConfig = {
    vocabSize: r.int('vocab_size', 30522),
    hiddenSize: r.int('hidden_size', 768),
    numHiddenLayers: r.int('num_hidden_layers', 12, 0),
    numAttentionHeads: r.int('num_attention_heads', 12),
    intermediateSize: r.int('intermediate_size', 3072),
    maxPositionEmbeddings: r.int('max_position_embeddings', 512),
    typeVocabSize: r.int('type_vocab_size', 2),
    hiddenDropoutProb: r.prob('hidden_dropout_prob', 0.1),
    attentionProbsDropoutProb: r.prob('attention_probs_dropout_prob', 0.1),
    classifierDropout: cd === undefined || cd === null ? undefined : r.prob('classifier_dropout', 0),
    layerNormEps: r.pos('layer_norm_eps', 1e-12),
    hiddenAct: r.oneOf('hidden_act', ACTS, 'gelu')!,
    padTokenId: r.int('pad_token_id', 0, 0),
    initializerRange: r.pos('initializer_range', 0.02),
    numLabels: r.numLabels(),
    problemType: r.oneOf('problem_type', PROBLEMS, undefined),
  };
  const pet = c.position_embedding_type;
  if (pet !== undefined && pet !== 'absolute')
    throw new ArgumentError(`bert config: position_embedding_type '${String(pet)}' is not supported`, "use 'absolute'");
  heads('bert', cfg.hiddenSize, cfg.numAttentionHeads);
  return cfg;
}

/** transformers' GPT2Config defaults (gpt2 124M sizes) for every key not given. */
export function parseGPT2Config(c: HFConfigJSON = {}): GPT2Config {
  const r = new Reader(c, 'gpt2');
  const nEmbd = r.int('n_embd', 768);
  const inner = c.n_inner;
  const cfg: GPT2Config = {
    vocabSize: r.int('vocab_size', 50257),
    nEmbd,
    nLayer: r.int('n_layer', 12, 0),
    nHead: r.int('n_head', 12),
    nPositions: r.int('n_positions', 1024),
    nInner: inner === undefined || inner === null ? 4 * nEmbd : r.int('n_inner'),
    layerNormEpsilon: r.pos('layer_norm_epsilon', 1e-5),
    residPdrop: r.prob('resid_pdrop', 0.1),
    embdPdrop: r.prob('embd_pdrop', 0.1),
    attnPdrop: r.prob('attn_pdrop', 0.1),
    activationFunction: r.oneOf('activation_function', ACTS, 'gelu_new')!,
    initializerRange: r.pos('initializer_range', 0.02),
    scaleAttnWeights: r.bool('scale_attn_weights', true),
    scaleAttnByInverseLayerIdx: r.bool('scale_attn_by_inverse_layer_idx', false),
    tieWordEmbeddings: r.bool('tie_word_embeddings', true),
  };
  if (c.add_cross_attention === true)
    throw new ArgumentError('gpt2 config: add_cross_attention is not supported', 'use a decoder-only config');
  heads('gpt2', cfg.nEmbd, cfg.nHead);
  return cfg;
}
