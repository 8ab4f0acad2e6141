// torch.hub.load_state_dict_from_url's cache: $TORCH_HOME/hub/checkpoints/<file name>. A file there
// is used as it is (no network); a missing one is downloaded, and, as check_hash=True does, its
// sha256 must start with the hex digits of the name's first `-<hex>.` (resnet18-f37072fd.pth).
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type Downloaded, downloadFile } from './download.ts';
import { hubOffline, torchCheckpointsDir } from './env.ts';
import { HubError, HubOfflineError } from './errors.ts';

export interface TorchHubOptions {
  /** default $TORCH_HOME/hub/checkpoints */
  modelDir?: string;
  /** the name to keep it under (default: the URL's last path part) */
  fileName?: string;
  /** check the sha256 prefix in the file name (default true, as torchvision's weights do) */
  checkHash?: boolean;
  /** use the cache only (default $HF_HUB_OFFLINE) */
  offline?: boolean;
  timeoutMs?: number;
  progress?: boolean;
}

/** torch.hub's HASH_REGEX: the first `-<hex>.` in the name. */
export function hashPrefix(fileName: string): string | undefined {
  return /-([a-f0-9]*)\./.exec(fileName)?.[1];
}

function fileNameOf(url: string, o: TorchHubOptions): string {
  let name = o.fileName;
  if (!name) {
    try {
      name = basename(decodeURIComponent(new URL(url).pathname));
    } catch {
      throw new HubError('GRAFT_HUB', url, `not a URL: ${url}`);
    }
  }
  if (!name || name === '.' || name === '..' || name.includes('/') || name.includes('\\'))
    throw new HubError('GRAFT_HUB', url, `${url}: no file name to keep it under`, 'give the URL of a file');
  return name;
}

/** Where torch.hub keeps the URL's file; the path exists only when it was downloaded. */
export function torchHubPath(url: string, o: Pick<TorchHubOptions, 'modelDir' | 'fileName'> = {}): string {
  return join(o.modelDir ?? torchCheckpointsDir(), fileNameOf(url, o));
}

/** The cached file, or undefined (no network). */
export function torchHubCached(
  url: string,
  o: Pick<TorchHubOptions, 'modelDir' | 'fileName'> = {},
): string | undefined {
  const p = torchHubPath(url, o);
  return existsSync(p) ? p : undefined;
}

/** load_state_dict_from_url's download step: the cached file's path, downloading it when missing. */
export async function torchHubDownload(url: string, o: TorchHubOptions = {}): Promise<string> {
  const dest = torchHubPath(url, o);
  if (existsSync(dest)) return dest;
  if (o.offline ?? hubOffline())
    throw new HubOfflineError(
      url,
      `offline (HF_HUB_OFFLINE) and ${basename(dest)} is not in the cache ${join(dest, '..')}`,
      `download it once with the network on, or copy it there from ${url}`,
    );
  const prefix = o.checkHash === false ? undefined : hashPrefix(basename(dest));
  const done: Downloaded = await downloadFile(url, dest, {
    ...(prefix ? { expected: { sha256Prefix: prefix } } : {}),
    ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.progress === false ? { progress: false } : {}),
  });
  return done.path;
}
