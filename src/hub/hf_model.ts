// A Hugging Face model repository's weights, picked as transformers' from_pretrained picks them:
// model.safetensors, then the sharded model.safetensors.index.json (every shard it names), then
// pytorch_model.bin and its index. config.json comes along when the repository has one. All files
// are fetched at the commit the first answer named, so shards never mix revisions.
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { hfHubCache, hubOffline } from './env.ts';
import { HubError, HubNotFoundError, HubOfflineError } from './errors.ts';
import { cachedCommit, checkRepo, type HfOptions, hfCachedFile, hfDownload, hfKnownMissing, repoFolder } from './hf.ts';

/** Weight files in the order they are preferred. */
export const HF_WEIGHT_FILES = [
  'model.safetensors',
  'model.safetensors.index.json',
  'pytorch_model.bin',
  'pytorch_model.bin.index.json',
] as const;

export interface HfModelFiles {
  repo: string;
  commit: string;
  /** the snapshot folder (config.json, weights, shards) */
  dir: string;
  /** the weights file, or the shard index */
  weights: string;
  /** every file fetched, relative to dir */
  files: string[];
}

/** The shard files an index names (unique, in order). */
export function shardsOf(indexFile: string): string[] {
  let wm: unknown;
  try {
    wm = (JSON.parse(readFileSync(indexFile, 'utf8')) as { weight_map?: unknown }).weight_map;
  } catch (e) {
    throw new HubError(
      'GRAFT_HUB_CORRUPT',
      indexFile,
      `${indexFile}: not a JSON shard index (${(e as Error).message})`,
    );
  }
  if (!wm || typeof wm !== 'object') throw new HubError('GRAFT_HUB_CORRUPT', indexFile, `${indexFile}: no weight_map`);
  const shards = [...new Set(Object.values(wm as Record<string, unknown>))];
  for (const s of shards)
    if (typeof s !== 'string' || s === '' || s.startsWith('/') || s.split('/').includes('..'))
      throw new HubError('GRAFT_HUB_CORRUPT', indexFile, `${indexFile}: unsafe shard name ${JSON.stringify(s)}`);
  return shards as string[];
}

const commitOf = (repo: string, cacheDir: string, pointer: string): string =>
  relative(join(repoFolder(repo, cacheDir), 'snapshots'), pointer).split(/[\\/]/)[0]!;

/** What the cache already has for the repository at the revision (no network), or undefined. */
export function hfModelCached(
  repo: string,
  o: Pick<HfOptions, 'revision' | 'cacheDir'> = {},
): HfModelFiles | undefined {
  const cacheDir = o.cacheDir ?? hfHubCache();
  checkRepo(repo, o.revision);
  const commit = cachedCommit(repo, o.revision, cacheDir);
  if (!commit) return undefined;
  const at = { revision: commit, cacheDir };
  for (const name of HF_WEIGHT_FILES) {
    const weights = hfCachedFile(repo, name, at);
    if (!weights) continue;
    const shards = name.endsWith('.index.json') ? shardsOf(weights) : [];
    if (!shards.every((s) => hfCachedFile(repo, s, at))) continue;
    const files = [name, ...shards];
    if (hfCachedFile(repo, 'config.json', at)) files.unshift('config.json');
    return { repo, commit, dir: dirname(weights), weights, files };
  }
  return undefined;
}

export interface HfModelOptions extends HfOptions {
  /** more files to fetch beside the weights when the repository has them (tokenizer files, ...) */
  extras?: readonly string[];
}

/** Downloads (or finds in the cache) a model repository's config and weights (and `extras`). */
export async function hfModelDownload(repo: string, o: HfModelOptions = {}): Promise<HfModelFiles> {
  const cacheDir = o.cacheDir ?? hfHubCache();
  const revision = o.revision ?? 'main';
  if (o.offline ?? hubOffline()) {
    const hit = hfModelCached(repo, { revision, cacheDir });
    if (hit) return hit;
    throw new HubOfflineError(
      repo,
      `offline (HF_HUB_OFFLINE) and the cache ${repoFolder(repo, cacheDir)} has no complete weights of ${repo} at '${revision}'`,
      'download them once with the network on (unset HF_HUB_OFFLINE)',
    );
  }
  const { extras = [], ...rest } = o;
  const at: HfOptions = { ...rest, cacheDir, revision, offline: false };
  const files: string[] = [];
  const optional = async (name: string): Promise<string | undefined> => {
    try {
      return await hfDownload(repo, name, at);
    } catch (e) {
      if (e instanceof HubNotFoundError && e.missing === 'file') return undefined;
      throw e;
    }
  };
  // the first answer pins the commit for every later file
  const pin = (pointer: string) => {
    at.revision = commitOf(repo, cacheDir, pointer);
  };
  const config = await optional('config.json');
  if (config) {
    pin(config);
    files.push('config.json');
  }
  for (const name of HF_WEIGHT_FILES) {
    if (at.revision !== revision && hfKnownMissing(repo, name, at)) continue;
    const weights = await optional(name);
    if (!weights) continue;
    pin(weights);
    files.push(name);
    if (name.endsWith('.index.json'))
      for (const shard of shardsOf(weights)) {
        await hfDownload(repo, shard, at);
        files.push(shard);
      }
    for (const extra of extras) if (!hfKnownMissing(repo, extra, at) && (await optional(extra))) files.push(extra);
    return { repo, commit: at.revision!, dir: dirname(weights), weights, files };
  }
  throw new HubNotFoundError(
    repo,
    `${repo} at '${revision}' has none of ${HF_WEIGHT_FILES.join(', ')}`,
    'the repository has no PyTorch weights graft can read (safetensors or pytorch_model.bin)',
    'file',
  );
}
