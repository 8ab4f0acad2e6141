// Weight names -> files on this machine. torchvision:<TAG> is the model card's file on
// torchvision's server (kept where torch.hub keeps it), timm:<name> the Hub repository timm/<name>,
// hf:org/name[@rev] a Hub repository, a URL its file. fetchWeights downloads what is missing;
// cachedWeights answers from the caches alone (no network), for code that cannot wait.
import { ArgumentError } from '../errors.ts';
import {
  type HfModelFiles,
  hfModelCached,
  hfModelDownload,
  parseWeightsRef,
  torchHubCached,
  torchHubDownload,
  torchvisionBase,
  type WeightsRef,
} from '../hub/index.ts';
import { HF_TOKENIZER_FILES } from '../io/index.ts';
import { getMeta } from './_registry.ts';
import { findWeights, timmArchitecture, type WeightsCard, weightsCards, weightsOf } from './weights.ts';

export interface WeightsOptions {
  /** cache only, no network (default: HF_HUB_OFFLINE) */
  offline?: boolean;
  /** download progress on stderr (default true) */
  progress?: boolean;
  /** ms without an answer or a byte before a download fails */
  timeoutMs?: number;
}

export interface ResolvedWeights {
  /** the name as given */
  ref: string;
  /** the file to load: a .pth / .safetensors, or a shard index */
  path: string;
  /** a Hugging Face repository's snapshot folder (config.json beside the weights) */
  dir?: string;
  /** the model card entry, when the weights have one */
  card?: WeightsCard;
  /** one line for logs and load reports */
  describe: string;
}

type Where =
  | { kind: 'url'; url: string; checkHash: boolean; card?: WeightsCard }
  | { kind: 'hf'; repo: string; revision?: string; card?: WeightsCard };

function where(model: string, ref: WeightsRef, text: string): Where {
  getMeta(model); // an unknown model fails here, listing the registry
  if (ref.kind === 'url') return { kind: 'url', url: ref.url, checkHash: false };
  if (ref.kind === 'hf') return { kind: 'hf', repo: ref.repo, ...(ref.revision ? { revision: ref.revision } : {}) };
  if (ref.kind === 'torchvision') {
    const card = findWeights(model, 'torchvision', ref.tag);
    if (!card) throw unknown(model, text, 'torchvision');
    // torchvision checks the sha256 prefix its file names carry (check_hash=True)
    return { kind: 'url', url: `${torchvisionBase()}/${card.file}`, checkHash: true, card };
  }
  const arch = ref.name.split('.')[0]!;
  const target = timmArchitecture(arch);
  if (target !== model)
    throw new ArgumentError(
      `${text}: timm's ${arch} ${target ? `loads into ${target}, not ${model}` : 'has no graft architecture'}`,
      `timm weights with a model card: ${listTimm().join(', ') || 'none'}`,
    );
  const card = findWeights(model, 'timm', ref.name);
  if (!ref.name.includes('.') && !card) throw unknown(model, text, 'timm');
  return { kind: 'hf', repo: card ? card.file : `timm/${ref.name}`, ...(card ? { card } : {}) };
}

const listTimm = (): string[] =>
  weightsCards().flatMap(([, cards]) => cards.filter((c) => c.source === 'timm').map((c) => `timm:${c.tag}`));

function unknown(model: string, text: string, source: string): ArgumentError {
  const have = weightsOf(model).filter((c) => c.source === source);
  return new ArgumentError(
    `${model} has no ${source} weights '${text}'`,
    have.length
      ? `${model} has ${have.map((c) => `${source}:${c.tag}`).join(', ')}${source === 'torchvision' ? ' (or torchvision:DEFAULT)' : ''}`
      : `${source} weights exist for: ${modelsWith(source).join(', ')}`,
  );
}

const modelsWith = (source: string): string[] =>
  weightsCards()
    .filter(([, cards]) => cards.some((c) => c.source === source))
    .map(([m]) => m);

function parse(text: string): WeightsRef {
  const ref = parseWeightsRef(text);
  if (!ref)
    throw new ArgumentError(
      `'${text}' is not a weights name`,
      'torchvision:IMAGENET1K_V1, timm:<name>, hf:org/name[@revision] or an http(s) URL',
    );
  return ref;
}

const fromHf = (text: string, w: Extract<Where, { kind: 'hf' }>, f: HfModelFiles): ResolvedWeights => ({
  ref: text,
  path: f.weights,
  dir: f.dir,
  ...(w.card ? { card: w.card } : {}),
  describe: `${text} (${f.repo} at ${f.commit.slice(0, 10)}, ${f.files.filter((n) => n !== 'config.json').join(', ')})`,
});

const fromUrl = (text: string, w: Extract<Where, { kind: 'url' }>, path: string): ResolvedWeights => ({
  ref: text,
  path,
  ...(w.card ? { card: w.card } : {}),
  describe: w.card ? `${text} (${w.card.file}, ${w.card.licence})` : text,
});

/** The weights' local file, downloading it into torch's or Hugging Face's cache when missing. */
export async function fetchWeights(model: string, text: string, o: WeightsOptions = {}): Promise<ResolvedWeights> {
  const w = where(model, parse(text), text);
  const net = {
    ...(o.offline !== undefined ? { offline: o.offline } : {}),
    ...(o.progress !== undefined ? { progress: o.progress } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
  };
  if (w.kind === 'url') return fromUrl(text, w, await torchHubDownload(w.url, { checkHash: w.checkHash, ...net }));
  // a repository named by hf: may be a language model: its tokenizer comes along (as from_pretrained's)
  const extras = w.card ? [] : [...HF_TOKENIZER_FILES, 'generation_config.json'];
  const files = await hfModelDownload(w.repo, { ...(w.revision ? { revision: w.revision } : {}), ...net, extras });
  return fromHf(text, w, files);
}

/** The weights' local file if the caches have it (no network), else undefined. */
export function cachedWeights(model: string, text: string): ResolvedWeights | undefined {
  const w = where(model, parse(text), text);
  if (w.kind === 'url') {
    const path = torchHubCached(w.url);
    return path ? fromUrl(text, w, path) : undefined;
  }
  const files = hfModelCached(w.repo, w.revision ? { revision: w.revision } : {});
  return files ? fromHf(text, w, files) : undefined;
}
