// Pretrained weights from where their publishers keep them: torchvision's download server,
// Hugging Face Hub repositories (timm's weights live there too), any URL. Files land in the
// publishers' own cache layouts (torch.hub's $TORCH_HOME, huggingface_hub's $HF_HOME), so graft
// and Python share one cache; downloads resume, are checked against the publisher's sha256, and
// HF_HUB_OFFLINE=1 works from the cache.
export { type Downloaded, type DownloadOptions, downloadFile, type Expected } from './download.ts';
export {
  downloadTimeoutMs,
  hfEndpoint,
  hfHome,
  hfHubCache,
  hubOffline,
  metadataTimeoutMs,
  torchCheckpointsDir,
  torchHome,
  torchvisionBase,
} from './env.ts';
export { HubCorruptError, HubError, HubNotFoundError, HubOfflineError, HubTimeoutError } from './errors.ts';
export {
  cachedCommit,
  checkRepo,
  type HfOptions,
  hfCachedFile,
  hfDownload,
  hfKnownMissing,
  repoFolder,
} from './hf.ts';
export {
  HF_WEIGHT_FILES,
  type HfModelFiles,
  type HfModelOptions,
  hfModelCached,
  hfModelDownload,
  shardsOf,
} from './hf_model.ts';
export { formatBytes } from './progress.ts';
export { formatWeightsRef, isWeightsRef, parseWeightsRef, type WeightsRef } from './ref.ts';
export { hashPrefix, type TorchHubOptions, torchHubCached, torchHubDownload, torchHubPath } from './torch_hub.ts';
