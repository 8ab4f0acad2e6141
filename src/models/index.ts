// graft's model zoo: import for the registry (models.create / list) and the architectures.
import './resnet.ts';
import './mobilenet_v2.ts';
import './efficientnet.ts';
import './alexnet.ts';
import './vgg.ts';
import './cifar_net.ts';
import './bert.ts';
import './gpt2.ts';
import './llama.ts';

export { Conv2dNormActivation, makeDivisible, SqueezeExcitation, StochasticDepth } from './_blocks.ts';
export type { BertConfig, GPT2Config, HFConfigJSON } from './_hf_config.ts';
export { parseBertConfig, parseGPT2Config } from './_hf_config.ts';
export * from './_registry.ts';
export { extendedAttentionMask } from './_transformer.ts';
export { AlexNet, alexnet } from './alexnet.ts';
export {
  BertForSequenceClassification,
  type BertInputs,
  BertModel,
  type BertModelOutput,
  type SequenceClassifierOutput,
} from './bert.ts';
export {
  BertForMaskedLM,
  BertLMPredictionHead,
  BertOnlyMLMHead,
  BertPredictionHeadTransform,
  type MaskedLMOutput,
  maskedLMLoss,
} from './bert_heads.ts';
export { CifarNet, cifarNet } from './cifar_net.ts';
export { EfficientNet, efficientnetB0, MBConv } from './efficientnet.ts';
export { type GenerateOptions, generate } from './generate.ts';
export {
  type ProcessOptions,
  processScores,
  repetitionPenalty,
  topKFilter,
  topPFilter,
} from './generate_processors.ts';
export { type CausalLMOutput, Conv1D, causalLMLoss, type GPT2Inputs, GPT2LMHeadModel, GPT2Model } from './gpt2.ts';
export { type FromHfDirOptions, fromHfDir, type HfModel, hfConfigOf, loadHfModel, toHfDir } from './hf_dir.ts';
export {
  type KeyValue,
  LlamaAttention,
  type LlamaBuildOptions,
  type LlamaCausalLMOutput,
  type LlamaConfig,
  LlamaDecoderLayer,
  LlamaForCausalLM,
  type LlamaLayerContext,
  LlamaMLP,
  LlamaModel,
  type LlamaOptions,
  llama,
  llamaMeta,
  pastLength,
  type RopeScaling,
} from './llama.ts';
export { type FusedQkv, LlamaKVCache } from './llama_cache.ts';
export { llamaConfigJson, parseLlamaConfig } from './llama_config.ts';
export { LlamaRMSNorm, llamaAttentionMask, ropeInvFreq } from './llama_layers.ts';
export { applyRotary, LlamaRotary, type RopeTables, ropeParameters } from './llama_rope.ts';
export { InvertedResidual, MobileNetV2, mobilenetV2 } from './mobilenet_v2.ts';
export {
  type PretrainedByName,
  type PretrainedOptions,
  type PretrainedReport,
  pretrained,
  pretrainedSources,
  useKerasConventions,
} from './pretrained.ts';
export { BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50 } from './resnet.ts';
export { VGG, vgg16, vgg16Bn } from './vgg.ts';
export {
  findWeights,
  registerWeights,
  timmArchitecture,
  type WeightsCard,
  weightsCards,
  weightsMarkdown,
  weightsName,
  weightsOf,
} from './weights.ts';
export { cachedWeights, fetchWeights, type ResolvedWeights, type WeightsOptions } from './weights_fetch.ts';
