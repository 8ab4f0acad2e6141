// Hugging Face Hub files in huggingface_hub's cache layout, so graft and Python share one cache:
//   $HF_HUB_CACHE/models--<org>--<name>/blobs/<etag>                the bytes, named by ETag
//                                      /snapshots/<commit>/<file>   a relative symlink to the blob
//                                      /refs/<revision>             the commit a branch or tag was at
// As hf_hub_download: a HEAD on <endpoint>/<repo>/resolve/<revision>/<file> (relative redirects
// followed: a renamed repository) gives X-Repo-Commit and the ETag (X-Linked-Etag for LFS files:
// their sha256; git files: the blob id), and an absolute redirect says where to GET the bytes.
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { writeFileAtomic } from '../util/write.ts';
import { downloadFile } from './download.ts';
import { hfEndpoint, hfHubCache, hfToken, hubOffline, metadataTimeoutMs } from './env.ts';
import { HubError, HubNotFoundError, HubOfflineError } from './errors.ts';
import { header, request } from './http.ts';

export interface HfOptions {
  /** a branch, tag or commit (default 'main') */
  revision?: string;
  /** default $HF_ENDPOINT or https://huggingface.co */
  endpoint?: string;
  /** default $HF_HUB_CACHE ($HF_HOME/hub) */
  cacheDir?: string;
  /** use the cache only (default $HF_HUB_OFFLINE) */
  offline?: boolean;
  /** ms for the metadata request and for a stalled download */
  timeoutMs?: number;
  /** progress on stderr (default true) */
  progress?: boolean;
}

const COMMIT = /^[0-9a-f]{40}$/;

/** Checks a repository id ('org/name' or 'name') and a revision before they become paths. */
export function checkRepo(repo: string, revision = 'main'): void {
  if (!/^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/.test(repo) || repo.includes('--') || repo.includes('..'))
    throw new HubError('GRAFT_HUB', repo, `'${repo}' is not a Hugging Face repository id`, "write it as 'org/name'");
  if (
    revision === '' ||
    revision.split('/').some((p) => p === '' || p === '.' || p === '..') ||
    /[\s\\]/.test(revision)
  )
    throw new HubError('GRAFT_HUB', repo, `'${revision}' is not a revision`, 'give a branch, tag or commit hash');
}

/** The repository's folder in the cache: models--org--name. */
export const repoFolder = (repo: string, cacheDir = hfHubCache()): string =>
  join(cacheDir, `models--${repo.split('/').join('--')}`);

/** The commit a revision names in the cache (a commit hash as it is, refs/<revision> otherwise). */
export function cachedCommit(repo: string, revision = 'main', cacheDir = hfHubCache()): string | undefined {
  if (COMMIT.test(revision)) return revision;
  const ref = join(repoFolder(repo, cacheDir), 'refs', revision);
  return existsSync(ref) ? readFileSync(ref, 'utf8').trim() : undefined;
}

/** A file's path in the cache's snapshot for the revision, or undefined (no network). */
export function hfCachedFile(
  repo: string,
  file: string,
  o: Pick<HfOptions, 'revision' | 'cacheDir'> = {},
): string | undefined {
  const cacheDir = o.cacheDir ?? hfHubCache();
  checkRepo(repo, o.revision);
  const commit = cachedCommit(repo, o.revision, cacheDir);
  if (!commit) return undefined;
  const p = join(repoFolder(repo, cacheDir), 'snapshots', commit, file);
  return existsSync(p) ? p : undefined;
}

/** Whether the cache recorded that the file does not exist at the revision (huggingface_hub's .no_exist). */
export function hfKnownMissing(repo: string, file: string, o: Pick<HfOptions, 'revision' | 'cacheDir'> = {}): boolean {
  const cacheDir = o.cacheDir ?? hfHubCache();
  const commit = cachedCommit(repo, o.revision, cacheDir);
  return commit !== undefined && existsSync(join(repoFolder(repo, cacheDir), '.no_exist', commit, file));
}

const encodePath = (file: string) => file.split('/').map(encodeURIComponent).join('/');
const normalizeEtag = (e: string) => e.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');

/**
 * hf_hub_download: the file's path in the cache's snapshot (downloaded when missing). Offline, or
 * when the Hub cannot be reached, the cached snapshot answers; without one, HubOfflineError.
 */
export async function hfDownload(repo: string, file: string, o: HfOptions = {}): Promise<string> {
  const revision = o.revision ?? 'main';
  checkRepo(repo, revision);
  const cacheDir = o.cacheDir ?? hfHubCache();
  const folder = repoFolder(repo, cacheDir);
  const url = `${o.endpoint ?? hfEndpoint()}/${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(file)}`;
  const cached = () => hfCachedFile(repo, file, { revision, cacheDir });
  if (o.offline ?? hubOffline()) {
    const hit = cached();
    if (hit) return hit;
    throw new HubOfflineError(
      url,
      `offline (HF_HUB_OFFLINE) and ${repo}/${file} at '${revision}' is not in the cache ${folder}`,
      'download it once with the network on (unset HF_HUB_OFFLINE), or copy a Hugging Face cache there',
    );
  }
  const auth: Record<string, string> = hfToken() ? { authorization: `Bearer ${hfToken()}` } : {};
  let meta: Awaited<ReturnType<typeof request>>;
  try {
    meta = await request(url, {
      method: 'HEAD',
      headers: auth,
      timeoutMs: o.timeoutMs ?? metadataTimeoutMs(),
      redirects: 'relative',
    });
  } catch (e) {
    // the Hub cannot be reached: what the cache has for the revision will do (as huggingface_hub)
    const hit = cached();
    if (hit && e instanceof HubError && (e.code === 'GRAFT_HUB_NETWORK' || e.code === 'GRAFT_HUB_TIMEOUT')) {
      process.stderr.write(`graft: the Hub did not answer (${e.code}); using the cached ${repo}/${file}\n`);
      return hit;
    }
    throw e;
  }
  const { res } = meta;
  res.resume();
  const status = res.statusCode ?? 0;
  const commit = header(res, 'x-repo-commit');
  if (status === 404) {
    const what = header(res, 'x-error-code');
    if (what === 'EntryNotFound' && commit && COMMIT.test(commit)) {
      // remembered, so an offline run knows to look for the next candidate (huggingface_hub does the same)
      const marker = join(folder, '.no_exist', commit, file);
      mkdirSync(dirname(marker), { recursive: true });
      writeFileAtomic(marker, '');
      if (revision !== commit) writeRef(folder, revision, commit);
    }
    const reason =
      what === 'RepoNotFound'
        ? `no repository ${repo}`
        : what === 'RevisionNotFound'
          ? `${repo} has no revision '${revision}'`
          : `${repo} has no file ${file} at '${revision}'`;
    const missing = what === 'RepoNotFound' ? 'repository' : what === 'RevisionNotFound' ? 'revision' : 'file';
    throw new HubNotFoundError(
      url,
      `${url}: ${reason} (404)`,
      'check the repository id, revision and file name',
      missing,
    );
  }
  if (status === 401 || status === 403)
    throw new HubError(
      'GRAFT_HUB_HTTP',
      url,
      `${url}: access denied (${status}); the repository is gated, private or does not exist`,
      'set HF_TOKEN to a token that may read it',
    );
  if (status >= 400) throw new HubError('GRAFT_HUB_HTTP', url, `${url}: the Hub answered ${status}`, 'try again later');
  const etagRaw = header(res, 'x-linked-etag') ?? header(res, 'etag');
  if (!commit || !COMMIT.test(commit) || !etagRaw)
    throw new HubError(
      'GRAFT_HUB_HTTP',
      url,
      `${url}: the answer has no X-Repo-Commit / ETag`,
      'HF_ENDPOINT must point at a Hugging Face Hub (or a mirror that keeps its headers)',
    );
  const etag = normalizeEtag(etagRaw);
  if (!/^[\w.-]+$/.test(etag)) throw new HubError('GRAFT_HUB_HTTP', url, `${url}: unusable ETag ${etagRaw}`);
  const size = Number(header(res, 'x-linked-size') ?? header(res, 'content-length') ?? Number.NaN);
  if (revision !== commit) writeRef(folder, revision, commit);
  const pointer = join(folder, 'snapshots', commit, file);
  if (existsSync(pointer)) return pointer;
  const blob = join(folder, 'blobs', etag);
  if (!existsSync(blob)) {
    const expected = {
      ...(/^[0-9a-f]{64}$/.test(etag) ? { sha256: etag } : /^[0-9a-f]{40}$/.test(etag) ? { gitSha1: etag } : {}),
      ...(Number.isFinite(size) && size > 0 ? { size } : {}),
    };
    await downloadFile(meta.location ?? url, blob, {
      expected,
      headers: meta.location ? {} : auth,
      label: `${repo}/${file}`,
      ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
      ...(o.progress === false ? { progress: false } : {}),
    });
  }
  linkPointer(pointer, blob);
  return pointer;
}

function writeRef(folder: string, revision: string, commit: string): void {
  const ref = join(folder, 'refs', revision);
  if (existsSync(ref) && readFileSync(ref, 'utf8').trim() === commit) return;
  mkdirSync(dirname(ref), { recursive: true });
  writeFileAtomic(ref, commit);
}

/** snapshots/<commit>/<file> -> ../../blobs/<etag> (a copy where the file system has no symlinks). */
function linkPointer(pointer: string, blob: string): void {
  mkdirSync(dirname(pointer), { recursive: true });
  try {
    if (lstatSync(pointer, { throwIfNoEntry: false })) unlinkSync(pointer);
    symlinkSync(relative(dirname(pointer), blob), pointer);
  } catch {
    copyFileSync(blob, pointer);
  }
}
