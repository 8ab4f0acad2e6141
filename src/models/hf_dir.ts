// Models from and to Hugging Face model directories: config.json's model_type picks the class
// (llama / mistral / qwen2 / baichuan -> LlamaForCausalLM, gpt2 -> GPT2LMHeadModel, bert -> BERT), the
// weights stream in one tensor at a time, straight into the requested dtype.
import { ArgumentError, CheckpointError } from '../errors.ts';
import {
  type HfDir,
  type HfLoadResult,
  loadHfWeights,
  readHfDir,
  type WriteHfDirOptions,
  type WriteHfDirResult,
  writeHfDir,
} from '../io/index.ts';
import type { Module } from '../nn/index.ts';
import { type DType, isDType, type Tensor } from '../tensor/index.ts';
import type { BertConfig, GPT2Config, HFConfigJSON } from './_hf_config.ts';
import { setMeta } from './_registry.ts';
import { BertForSequenceClassification, BertModel, hfBertKey } from './bert.ts';
import { BertForMaskedLM } from './bert_heads.ts';
import { GPT2LMHeadModel } from './gpt2.ts';
import { LlamaForCausalLM } from './llama.ts';
import { llamaConfigJson } from './llama_config.ts';

export interface FromHfDirOptions {
  /** parameters' dtype: 'float32' by default (as from_pretrained), 'auto' = config.json's torch_dtype */
  dtype?: DType | 'auto';
  /** every weight must match (default true) */
  strict?: boolean;
}

export interface HfModel<M extends Module = Module> {
  model: M;
  dir: HfDir;
  load: HfLoadResult;
}

const LLAMA_TYPES = new Set(['llama', 'mistral', 'qwen2', 'baichuan']);

/** Baichuan's W_pack [3h, h]: q, k and v projections stacked on the output dim (its forward splits them so). */
function splitWPack(key: string, t: Tensor): [string, Tensor][] | undefined {
  if (!key.endsWith('.self_attn.W_pack.weight')) return undefined;
  const base = key.slice(0, -'W_pack.weight'.length);
  const [q, k, v] = t.chunk(3, 0) as [Tensor, Tensor, Tensor];
  return [
    [`${base}q_proj.weight`, q],
    [`${base}k_proj.weight`, k],
    [`${base}v_proj.weight`, v],
  ];
}

function dtypeOf(d: HfDir, want: FromHfDirOptions['dtype']): DType {
  if (want === undefined) return 'float32';
  if (want !== 'auto') {
    if (!isDType(want))
      throw new ArgumentError(`unknown dtype '${String(want)}'`, "use 'float32', 'bfloat16' or 'auto'");
    return want;
  }
  const t = d.config.torch_dtype;
  if (t === undefined || t === null) return 'float32';
  if (typeof t === 'string' && isDType(t)) return t;
  throw new CheckpointError(d.dir, `config.json torch_dtype ${JSON.stringify(t)} is not a dtype graft knows`);
}

/**
 * Builds the model a Hugging Face directory describes and loads its weights (safetensors, sharded
 * or not, or pytorch_model.bin): one tensor in memory at a time, converted to `dtype` on load.
 */
export function loadHfModel(dirPath: string, o: FromHfDirOptions = {}): HfModel {
  const d = readHfDir(dirPath);
  const config = d.config as HFConfigJSON;
  const type = String(config.model_type ?? '');
  const dtype = dtypeOf(d, o.dtype);
  const strict = o.strict ?? true;
  let model: Module;
  let load: HfLoadResult;
  if (LLAMA_TYPES.has(type)) {
    const m = LlamaForCausalLM.fromConfig(config, { dtype, init: false });
    load = loadHfWeights(m, d, {
      strict,
      basePrefix: 'model',
      // some exports saved the rotary inverse frequencies; here they come from the config
      mapKey: (k) => (k.endsWith('.rotary_emb.inv_freq') ? undefined : k),
      splitTensor: type === 'baichuan' ? splitWPack : undefined,
    });
    setMeta(m, m.meta());
    model = m;
  } else if (type === 'gpt2') {
    const m = GPT2LMHeadModel.fromConfig(config).to(dtype);
    load = loadHfWeights(m, d, {
      strict,
      basePrefix: 'transformer',
      // the causal-mask buffers older transformers saved
      mapKey: (k) => (k.endsWith('.attn.bias') || k.endsWith('.attn.masked_bias') ? undefined : k),
    });
    setMeta(m, m.meta());
    model = m;
  } else if (type === 'bert' && isBertMaskedLM(config)) {
    const m = BertForMaskedLM.fromConfig(config).to(dtype);
    load = loadHfWeights(m, d, {
      strict,
      basePrefix: 'bert',
      // as BertForMaskedLM: a pretraining checkpoint's pooler and next-sentence head are ignored
      mapKey: (k) =>
        k.endsWith('embeddings.position_ids') || k.startsWith('bert.pooler.') || k.startsWith('cls.seq_relationship.')
          ? undefined
          : hfBertKey(k),
    });
    setMeta(m, m.meta());
    model = m;
  } else if (type === 'bert') {
    const archs = Array.isArray(config.architectures) ? config.architectures : [];
    const seqCls = archs.includes('BertForSequenceClassification');
    const m = (seqCls ? BertForSequenceClassification.fromConfig(config) : BertModel.fromConfig(config)).to(dtype);
    load = loadHfWeights(m, d, {
      // a pre-training checkpoint (bert-base-uncased) carries MLM / NSP heads BertModel has no place for
      strict: strict && seqCls,
      basePrefix: seqCls ? 'bert' : undefined,
      mapKey: (k) => {
        if (k.endsWith('embeddings.position_ids')) return undefined;
        return hfBertKey(!seqCls && k.startsWith('bert.') ? k.slice(5) : k);
      },
    });
    if (!seqCls && load.missing.length && strict)
      throw new CheckpointError(
        d.dir,
        `weights do not match BertModel: missing ${load.missing.slice(0, 5).join(', ')}`,
      );
    model = m;
  } else
    throw new CheckpointError(
      d.dir,
      `config.json model_type '${type}' is not one graft builds`,
      'supported: llama, mistral, qwen2, baichuan (7B), gpt2, bert',
    );
  model.eval();
  return { model, dir: d, load };
}

/** A masked-LM directory (architectures BertForMaskedLM, as bert-base-uncased's config.json says). */
function isBertMaskedLM(config: HFConfigJSON): boolean {
  return Array.isArray(config.architectures) && config.architectures.includes('BertForMaskedLM');
}

/** models.fromHfDir(dir, {dtype}): the model alone (see loadHfModel for the directory and load report). */
export function fromHfDir(dir: string, o: FromHfDirOptions = {}): Module {
  return loadHfModel(dir, o).model;
}

/** config.json of a graft model in transformers' keys. */
export function hfConfigOf(model: Module): HFConfigJSON {
  if (model instanceof LlamaForCausalLM) return llamaConfigJson(model.config);
  if (model instanceof GPT2LMHeadModel) return gpt2ConfigJson(model.config);
  if (model instanceof BertForMaskedLM)
    return { ...bertConfigJson(model.config, false), architectures: ['BertForMaskedLM'], tie_word_embeddings: true };
  if (model instanceof BertForSequenceClassification) return bertConfigJson(model.config, true);
  if (model instanceof BertModel) return bertConfigJson(model.config, false);
  throw new ArgumentError(
    `${model.constructor.name} has no Hugging Face config`,
    'write Llama, Mistral, Qwen2, GPT-2 or BERT models, or call io.writeHfDir with your own config',
  );
}

/** Writes a model as a Hugging Face directory (config.json + safetensors, tokenizer files copied). */
export function toHfDir(
  model: Module,
  dir: string,
  o: Omit<WriteHfDirOptions, 'config' | 'model' | 'stateDict'> & { config?: HFConfigJSON } = {},
): WriteHfDirResult {
  return writeHfDir(dir, { ...o, config: { ...hfConfigOf(model), ...o.config }, model });
}

function gpt2ConfigJson(c: GPT2Config): HFConfigJSON {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: c.vocabSize,
    n_embd: c.nEmbd,
    n_layer: c.nLayer,
    n_head: c.nHead,
    n_positions: c.nPositions,
    n_inner: c.nInner === 4 * c.nEmbd ? null : c.nInner,
    layer_norm_epsilon: c.layerNormEpsilon,
    resid_pdrop: c.residPdrop,
    embd_pdrop: c.embdPdrop,
    attn_pdrop: c.attnPdrop,
    activation_function: c.activationFunction,
    initializer_range: c.initializerRange,
    scale_attn_weights: c.scaleAttnWeights,
    scale_attn_by_inverse_layer_idx: c.scaleAttnByInverseLayerIdx,
    tie_word_embeddings: c.tieWordEmbeddings,
  };
}

function bertConfigJson(c: BertConfig, seqCls: boolean): HFConfigJSON {
  return {
    architectures: [seqCls ? 'BertForSequenceClassification' : 'BertModel'],
    model_type: 'bert',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    intermediate_size: c.intermediateSize,
    max_position_embeddings: c.maxPositionEmbeddings,
    type_vocab_size: c.typeVocabSize,
    hidden_dropout_prob: c.hiddenDropoutProb,
    attention_probs_dropout_prob: c.attentionProbsDropoutProb,
    classifier_dropout: c.classifierDropout ?? null,
    layer_norm_eps: c.layerNormEps,
    hidden_act: c.hiddenAct,
    pad_token_id: c.padTokenId,
    initializer_range: c.initializerRange,
    position_embedding_type: 'absolute',
    ...(seqCls ? labelMaps(c) : {}),
  };
}

/** PretrainedConfig saves num_labels as id2label / label2id (LABEL_i by default). */
function labelMaps(c: BertConfig): HFConfigJSON {
  const names = Array.from({ length: c.numLabels }, (_, i) => `LABEL_${i}`);
  return {
    id2label: Object.fromEntries(names.map((n, i) => [String(i), n])),
    label2id: Object.fromEntries(names.map((n, i) => [n, i])),
    ...(c.problemType ? { problem_type: c.problemType } : {}),
  };
}
