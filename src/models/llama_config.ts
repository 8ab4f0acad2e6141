// Llama-family config.json (LlamaConfig, MistralConfig, Qwen2Config) -> one typed, checked config.
import { ArgumentError } from '../errors.ts';
import type { HFConfigJSON } from './_hf_config.ts';
import { bool, fail, num, optInt, parseRopeScaling, type RopeScaling, ropeScalingJson } from './llama_rope_config.ts';

export type { RopeScaling } from './llama_rope_config.ts';

export type LlamaModelType = 'llama' | 'mistral' | 'qwen2';

export interface LlamaConfig {
  modelType: LlamaModelType;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  /** bias on q_proj / k_proj / v_proj (Qwen2 always, Llama with attention_bias) */
  qkvBias: boolean;
  /** bias on o_proj (Llama with attention_bias) */
  oBias: boolean;
  mlpBias: boolean;
  /** keys this many positions back or further are masked, in the layers slidingLayers marks */
  slidingWindow: number | undefined;
  /** per layer: whether slidingWindow applies (Mistral: all; Qwen2 with use_sliding_window: from max_window_layers on) */
  slidingLayers: boolean[];
  attentionDropout: number;
  tieWordEmbeddings: boolean;
  initializerRange: number;
  padTokenId: number | undefined;
  bosTokenId: number | undefined;
  /** one or several end-of-sequence ids (Llama 3 lists several) */
  eosTokenId: number[];
  /** the config.json this was parsed from, kept so a directory written back keeps every key */
  raw: HFConfigJSON;
}

// transformers' defaults per model_type (configuration_{llama,mistral,qwen2}.py)
const DEFAULTS: Record<LlamaModelType, HFConfigJSON> = {
  llama: {
    vocab_size: 32000,
    hidden_size: 4096,
    intermediate_size: 11008,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    max_position_embeddings: 2048,
    rms_norm_eps: 1e-6,
    bos_token_id: 1,
    eos_token_id: 2,
  },
  mistral: {
    vocab_size: 32000,
    hidden_size: 4096,
    intermediate_size: 14336,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    max_position_embeddings: 4096 * 32,
    rms_norm_eps: 1e-6,
    sliding_window: 4096,
    bos_token_id: 1,
    eos_token_id: 2,
  },
  qwen2: {
    vocab_size: 151936,
    hidden_size: 4096,
    intermediate_size: 22016,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    num_key_value_heads: 32,
    max_position_embeddings: 32768,
    rms_norm_eps: 1e-6,
  },
};

/**
 * model_type values read as Llama-family models. Baichuan (7B) is Llama with q/k/v fused into one
 * W_pack weight, which loading splits: it becomes a 'llama' model (and is written back as one).
 */
const MODEL_TYPES: Record<string, LlamaModelType> = {
  llama: 'llama',
  mistral: 'mistral',
  qwen2: 'qwen2',
  baichuan: 'llama',
};

/**
 * Which layers use a sliding window, as transformers decides: Mistral all (when sliding_window is set);
 * Qwen2 only with use_sliding_window, the layers from max_window_layers on (or as layer_types lists them).
 */
function slidingWindows(
  modelType: LlamaModelType,
  c: HFConfigJSON,
  layers: number,
): { slidingWindow: number | undefined; slidingLayers: boolean[] } {
  const none = { slidingWindow: undefined, slidingLayers: Array<boolean>(layers).fill(false) };
  if (modelType === 'llama') return none;
  if (modelType === 'qwen2' && !bool(c, 'use_sliding_window', false)) return none;
  const window = optInt(c, 'sliding_window');
  if (window === undefined) return none;
  if (window < 1) fail('sliding_window', window, 'an integer >= 1');
  if (modelType === 'mistral') return { slidingWindow: window, slidingLayers: Array<boolean>(layers).fill(true) };
  const types = c.layer_types;
  if (types !== undefined && types !== null) {
    if (
      !Array.isArray(types) ||
      types.length !== layers ||
      types.some((t) => t !== 'sliding_attention' && t !== 'full_attention')
    )
      fail('layer_types', types, `${layers} entries of 'sliding_attention' / 'full_attention'`);
    return { slidingWindow: window, slidingLayers: types.map((t) => t === 'sliding_attention') };
  }
  const from = c.max_window_layers === undefined ? 28 : num(c, 'max_window_layers', { int: true, min: 0 });
  return { slidingWindow: window, slidingLayers: Array.from({ length: layers }, (_, i) => i >= from) };
}

function eosIds(v: unknown): number[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const x of list) if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) fail('eos_token_id', v, 'ids');
  return list as number[];
}

/**
 * transformers' Llama / Mistral / Qwen2 config: model_type picks the defaults and the bias layout
 * (Qwen2 has q/k/v biases and no others, Mistral none, Llama all four with attention_bias).
 */
export function parseLlamaConfig(json: HFConfigJSON = {}): LlamaConfig {
  const typeName = json.model_type ?? 'llama';
  const modelType = MODEL_TYPES[String(typeName)];
  if (!modelType)
    throw new ArgumentError(
      `llama config: model_type '${String(typeName)}' is not a Llama-family model`,
      `supported: ${Object.keys(MODEL_TYPES).join(', ')}`,
    );
  // pretraining_tp only splits matmuls into slices (the same sums): it is ignored, as the maths is one
  const c: HFConfigJSON = { rope_theta: 10000, initializer_range: 0.02, ...DEFAULTS[modelType] };
  if (typeName === 'baichuan' && json.hidden_size === 5120 && json.num_hidden_layers === 40)
    throw new ArgumentError(
      'llama config: Baichuan 13B models use ALiBi position biases, not rotary embeddings: not supported',
      'Baichuan 7B (rotary, W_pack) loads',
    );
  for (const [k, v] of Object.entries(json)) if (v !== undefined) c[k] = v;
  const heads = num(c, 'num_attention_heads', { int: true, min: 1 });
  const kvHeads = c.num_key_value_heads ?? heads;
  c.num_key_value_heads = kvHeads;
  const hidden = num(c, 'hidden_size', { int: true, min: 1 });
  const headDim = c.head_dim === undefined || c.head_dim === null ? hidden / heads : num(c, 'head_dim', { int: true });
  if (!Number.isInteger(headDim))
    throw new ArgumentError(
      `llama config: hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}`,
      'set head_dim, or use a head count that divides hidden_size',
    );
  if (headDim % 2 !== 0)
    throw new ArgumentError(`llama config: head_dim ${headDim} must be even for rotary embeddings`);
  const kv = num(c, 'num_key_value_heads', { int: true, min: 1 });
  if (heads % kv !== 0)
    throw new ArgumentError(
      `llama config: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kv}`,
    );
  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu')
    throw new ArgumentError(
      `llama config: hidden_act '${String(act)}' is not supported`,
      "Llama-family models use 'silu'",
    );
  const attentionBias = bool(c, 'attention_bias', false);
  const dropout = c.attention_dropout ?? 0;
  if (typeof dropout !== 'number' || dropout < 0 || dropout >= 1) fail('attention_dropout', dropout, 'a probability');
  return {
    modelType,
    vocabSize: num(c, 'vocab_size', { int: true, min: 1 }),
    hiddenSize: hidden,
    intermediateSize: num(c, 'intermediate_size', { int: true, min: 1 }),
    numHiddenLayers: num(c, 'num_hidden_layers', { int: true, min: 0 }),
    numAttentionHeads: heads,
    numKeyValueHeads: kv,
    headDim,
    maxPositionEmbeddings: num(c, 'max_position_embeddings', { int: true, min: 1 }),
    rmsNormEps: num(c, 'rms_norm_eps', { positive: true }),
    ropeTheta: num(c, 'rope_theta', { positive: true }),
    ropeScaling: parseRopeScaling(c.rope_scaling, c, headDim),
    qkvBias: modelType === 'qwen2' || (modelType === 'llama' && attentionBias),
    oBias: modelType === 'llama' && attentionBias,
    mlpBias: modelType === 'llama' && bool(c, 'mlp_bias', false),
    ...slidingWindows(modelType, c, num(c, 'num_hidden_layers', { int: true, min: 0 })),
    attentionDropout: dropout,
    tieWordEmbeddings: bool(c, 'tie_word_embeddings', false),
    initializerRange: num(c, 'initializer_range', { positive: true }),
    padTokenId: optInt(c, 'pad_token_id'),
    bosTokenId: optInt(c, 'bos_token_id'),
    eosTokenId: eosIds(c.eos_token_id),
    // a converted Baichuan drops auto_map: it pointed at Baichuan's own modelling code
    raw: Object.fromEntries(Object.entries({ ...json, model_type: modelType }).filter(([k]) => k !== 'auto_map')),
  };
}

/** The config.json transformers would write for this config (HF keys; the parsed source's extra keys kept). */
export function llamaConfigJson(c: LlamaConfig): HFConfigJSON {
  const arch = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM' }[c.modelType];
  const rope = ropeScalingJson(c.ropeScaling);
  const out: HFConfigJSON = {
    ...c.raw,
    architectures: [arch],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    hidden_act: 'silu',
    max_position_embeddings: c.maxPositionEmbeddings,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: rope,
    attention_dropout: c.attentionDropout,
    tie_word_embeddings: c.tieWordEmbeddings,
    initializer_range: c.initializerRange,
  };
  if (c.modelType === 'llama') {
    out.attention_bias = c.oBias;
    out.mlp_bias = c.mlpBias;
  }
  if (c.modelType === 'mistral') out.sliding_window = c.slidingWindow ?? null;
  if (c.padTokenId !== undefined) out.pad_token_id = c.padTokenId;
  if (c.bosTokenId !== undefined) out.bos_token_id = c.bosTokenId;
  if (c.eosTokenId.length) out.eos_token_id = c.eosTokenId.length === 1 ? c.eosTokenId[0] : c.eosTokenId;
  return out;
}
