// The data layer's public surface: datasets, transforms, samplers, the loader, tokenizers.
// Image decoding uses `sharp` (`npm install sharp`): its prebuilt libvips comes in the optional
// dependencies @img/sharp-<platform> and @img/sharp-libvips-<platform>, so no install script runs
// (npm 11's script approval does not matter). IDX and text data never load it.
export { Rng } from '../util/rng.ts';
export { trainByteLevelBpe } from './bpe_train.ts';
export {
  type CausalLMDataOptions,
  CausalLMDataset,
  causalLMDataset,
  causalLMFromRecords,
  IGNORE_INDEX,
  type LMExample,
  packExamples,
  predictedTokens,
  resolveChatTemplate,
  type TokenizeLMOptions,
  tokenizeRecord,
  truncateExamples,
} from './causal_lm.ts';
export {
  CHAT_TEMPLATES,
  type ChatMessage,
  type ChatPiece,
  type ChatTemplate,
  chatTemplate,
  instructionMessages,
} from './causal_lm_chat.ts';
export { type DocumentSplit, type LMFormat, type LMRecord, lmFiles, readLMRecords } from './causal_lm_sources.ts';
export {
  type BatchContext,
  type Dataset,
  type LoadedBatch,
  labelField,
  type RawField,
  type Subsettable,
  splitDataset,
} from './dataset.ts';
export { type BadSample, DataError, ImageTooLargeError, type OnBadSample, type SkippedSample } from './errors.ts';
export { expandGlob, imageInputs } from './files.ts';
export { type IdxArray, readIdx } from './idx.ts';
export {
  type DecodeOptions,
  decodeImage,
  type ImageJob,
  type ImageMode,
  loadImageBatch,
  loadSharp,
  MAX_IMAGE_PIXELS,
  readImage,
  sampleRng,
} from './image.ts';
export {
  IMG_EXTENSIONS,
  ImageDataset,
  type ImageDatasetOptions,
  type ImageSample,
  imageFolder,
  imageFolderSplits,
  imageManifest,
  type ManifestOptions,
  type SplitOptions,
} from './image_folder.ts';
export { type Batch, DataLoader, type DataLoaderOptions, SKIPPED_KEPT } from './loader.ts';
export { readTable, type Table } from './manifest.ts';
export {
  type MaskedLMDataOptions,
  MaskedLMDataset,
  type MaskingOptions,
  type MaskingSpec,
  MLM_IGNORE_INDEX,
  maskedLMDataset,
  maskTokens,
} from './masked_lm.ts';
export {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
  fashionMnist,
  ImageArrayDataset,
  idxDataset,
  MNIST_CLASSES,
  mnistFolder,
  TensorDataset,
} from './memory.ts';
export type { RawImage } from './pixels.ts';
export * as pixels from './pixels.ts';
export { WorkerError } from './pool.ts';
export {
  batchIndices,
  classBalancedSampler,
  classBalancedWeights,
  DistributedSampler,
  type DistributedSamplerOptions,
  RandomSampler,
  type Sampler,
  SequentialSampler,
  ShardSampler,
  SubsetRandomSampler,
  WeightedRandomSampler,
} from './sampler.ts';
export { TextDataset, type TextFileOptions, type TextSample, textDataset } from './text.ts';
export {
  type BatchEncodeOptions,
  byteLevelBpeJson,
  type EncodedBatch,
  type EncodeOptions,
  TextTokenizer,
  wordPieceJson,
} from './tokenizer.ts';
export {
  applyTransforms,
  checkTransforms,
  evalTransforms,
  type FloatImage,
  IMAGENET_MEAN,
  IMAGENET_STD,
  randomResizedCropParams,
  resizedSize,
  T,
  type Transform,
  trainTransforms,
} from './transforms.ts';
export { readUtf8File } from './utf8.ts';
export { defaultWarn, type WarnFn } from './warn.ts';
export { BERT_SPECIAL_TOKENS, type TrainWordPieceOptions, trainWordPiece, vocabTxt } from './wordpiece_train.ts';
