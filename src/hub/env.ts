// Where the caches are and which servers to ask, read from the environment the way the publishers'
// own libraries read it: torch.hub (TORCH_HOME), huggingface_hub (HF_HOME, HF_HUB_CACHE,
// HF_ENDPOINT, HF_HUB_OFFLINE, HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT, HF_TOKEN,
// HF_HUB_DISABLE_PROGRESS_BARS). GRAFT_TORCHVISION_URL moves torchvision's download server (a
// mirror, or a local test server).
import { homedir } from 'node:os';
import { join } from 'node:path';

const env = (name: string): string | undefined => {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
};

/** huggingface_hub's _is_true: 1, ON, YES, TRUE in any case. */
export const isTrue = (v: string | undefined): boolean =>
  v !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(v.toUpperCase());

const expand = (p: string): string => (p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p);
const xdgCache = (): string => expand(env('XDG_CACHE_HOME') ?? join(homedir(), '.cache'));

/** torch.hub's _get_torch_home: $TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch. */
export const torchHome = (): string => expand(env('TORCH_HOME') ?? join(xdgCache(), 'torch'));

/** Where torch.hub.load_state_dict_from_url keeps checkpoints: $TORCH_HOME/hub/checkpoints. */
export const torchCheckpointsDir = (): string => join(torchHome(), 'hub', 'checkpoints');

/** huggingface_hub's HF_HOME: $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export const hfHome = (): string => expand(env('HF_HOME') ?? join(xdgCache(), 'huggingface'));

/** huggingface_hub's HF_HUB_CACHE (older name HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub. */
export const hfHubCache = (): string =>
  expand(env('HF_HUB_CACHE') ?? env('HUGGINGFACE_HUB_CACHE') ?? join(hfHome(), 'hub'));

/** The Hub's address: $HF_ENDPOINT (a mirror, a local server) or https://huggingface.co. */
export const hfEndpoint = (): string => (env('HF_ENDPOINT') ?? 'https://huggingface.co').replace(/\/+$/, '');

/** torchvision's download server (download.pytorch.org/models), or $GRAFT_TORCHVISION_URL. */
export const torchvisionBase = (): string =>
  (env('GRAFT_TORCHVISION_URL') ?? 'https://download.pytorch.org/models').replace(/\/+$/, '');

/** HF_HUB_OFFLINE=1: no network at all, files come from the caches (torch's and Hugging Face's). */
export const hubOffline = (): boolean => isTrue(env('HF_HUB_OFFLINE'));

const seconds = (name: string, fallback: number): number => {
  const v = Number(env(name));
  return Number.isFinite(v) && v > 0 ? v * 1000 : fallback;
};

/** The metadata request's limit (HF_HUB_ETAG_TIMEOUT, default 10 s), in ms. */
export const metadataTimeoutMs = (): number => seconds('HF_HUB_ETAG_TIMEOUT', 10_000);

/** How long a download may stall without a byte (HF_HUB_DOWNLOAD_TIMEOUT, default 10 s), in ms. */
export const downloadTimeoutMs = (): number => seconds('HF_HUB_DOWNLOAD_TIMEOUT', 10_000);

/** A Hugging Face token for gated or private repositories (HF_TOKEN), if set. */
export const hfToken = (): string | undefined => env('HF_TOKEN');

/** HF_HUB_DISABLE_PROGRESS_BARS=1 silences the download progress on stderr. */
export const progressDisabled = (): boolean => isTrue(env('HF_HUB_DISABLE_PROGRESS_BARS'));
