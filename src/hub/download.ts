// One file from a URL into place: bytes go to `<dest>.incomplete` (what huggingface_hub names its
// partial blobs), a dropped connection (or an earlier run's partial file) resumes there with a
// Range request (a server that ignores it sends the whole file again: 200), the finished file is checked against the publisher's
// size / sha256 / git blob id and only then renamed into place. A file that fails the check is
// deleted: the cache never holds bytes that were not verified.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, renameSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { dirname } from 'node:path';
import { GraftError } from '../errors.ts';
import { removeQuietly } from '../util/write.ts';
import { downloadTimeoutMs } from './env.ts';
import { HubCorruptError, HubError, HubNotFoundError, HubTimeoutError } from './errors.ts';
import { header, networkError, request } from './http.ts';
import { progress } from './progress.ts';

export interface Expected {
  /** the whole sha256 hex digest (Hugging Face LFS files: their ETag) */
  sha256?: string;
  /** the digest's first hex digits (torch.hub: the `-<hex>.` in the file name) */
  sha256Prefix?: string;
  /** the git blob id (Hugging Face's ETag of files kept in git, not LFS) */
  gitSha1?: string;
  size?: number;
}

export interface DownloadOptions {
  expected?: Expected;
  headers?: Record<string, string>;
  /** ms without an answer or a byte before giving up (default HF_HUB_DOWNLOAD_TIMEOUT, 10 s) */
  timeoutMs?: number;
  /** resumes after a connection dropped mid-file (default 5) */
  retries?: number;
  /** progress on stderr (default true) */
  progress?: boolean;
  /** what the progress line calls the file (default: its name) */
  label?: string;
}

export interface Downloaded {
  path: string;
  size: number;
  sha256: string;
  /** bytes already in a partial file from an earlier attempt or run */
  resumedFrom: number;
  /** requests made (1 when nothing dropped) */
  attempts: number;
}

const sizeOf = (p: string): number => {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Downloads `url` to `dest` (verified, atomic); throws a HubError subclass, keeping a partial file to resume. */
export async function downloadFile(url: string, dest: string, o: DownloadOptions = {}): Promise<Downloaded> {
  const partial = `${dest}.incomplete`;
  const timeoutMs = o.timeoutMs ?? downloadTimeoutMs();
  const retries = o.retries ?? 5;
  const label = o.label ?? url.split('/').pop() ?? url;
  try {
    mkdirSync(dirname(dest), { recursive: true });
  } catch (e) {
    throw writeError(url, dirname(dest), e);
  }
  const resumedFrom = sizeOf(partial);
  let attempts = 0;
  for (;;) {
    attempts++;
    const have = sizeOf(partial);
    const headers: Record<string, string> = { ...o.headers };
    // the partial's name says which file it is (a content hash, or torch's hash-suffixed name)
    if (have > 0) headers.range = `bytes=${have}-`;
    let got = 0;
    try {
      const { res } = await request(url, { headers, timeoutMs, redirects: 'all' });
      const status = res.statusCode ?? 0;
      // the partial file already holds every byte: check it as it is
      if (status === 416 && have > 0) {
        res.resume();
        break;
      }
      if (status !== 200 && status !== 206) {
        res.resume();
        throw statusError(url, status);
      }
      let append = false;
      let total = Number(header(res, 'content-length') ?? Number.NaN);
      if (status === 206) {
        const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header(res, 'content-range') ?? '');
        if (!m || Number(m[1]) !== have) {
          // not the range asked for: start over rather than guess where the bytes belong
          res.resume();
          removeQuietly(partial);
          if (attempts > retries)
            throw new HubError('GRAFT_HUB_HTTP', url, `${url}: the server answers ranges wrongly`);
          continue;
        }
        append = true;
        total = m[2] === '*' ? Number.NaN : Number(m[2]);
      }
      const bar = progress(label, Number.isFinite(total) ? total : o.expected?.size, append ? have : 0, o.progress);
      let done = append ? have : 0;
      try {
        await writeBody(res, partial, append, timeoutMs, url, (n) => {
          got += n;
          done += n;
          bar.update(done);
        });
        if (Number.isFinite(total) && done !== total)
          throw networkError(url, new Error(`the connection ended at byte ${done} of ${total}`));
        bar.end(true);
      } catch (e) {
        bar.end(false);
        throw e;
      }
    } catch (e) {
      if (e instanceof GraftError && !(e instanceof HubError)) throw e; // the disk, not the network
      const err = e instanceof HubError ? e : networkError(url, e);
      const retryable = err.code === 'GRAFT_HUB_NETWORK' || err.code === 'GRAFT_HUB_TIMEOUT';
      // a drop after some progress resumes; a server that never answers fails at once
      if (retryable && got > 0 && attempts <= retries) {
        await sleep(Math.min(2000, 100 * attempts));
        continue;
      }
      throw err;
    }
    break;
  }
  const digest = await verify(url, partial, o.expected ?? {});
  renameSync(partial, dest);
  return { path: dest, size: sizeOf(dest), sha256: digest, resumedFrom, attempts };
}

function writeError(url: string, path: string, e: unknown): HubError {
  const errno = (e as NodeJS.ErrnoException).code;
  return new HubError(
    errno === 'ENOSPC' || errno === 'EDQUOT' ? 'GRAFT_DISK_FULL' : 'GRAFT_HUB_WRITE',
    url,
    `cannot write ${path}: ${(e as Error).message}`,
    'free some disk space, or point TORCH_HOME / HF_HOME at a writable folder with room; a download resumes where it stopped',
  );
}

function statusError(url: string, status: number): HubError {
  if (status === 404)
    return new HubNotFoundError(
      url,
      `${url}: not found (404)`,
      'check the name, tag or revision (the model cards list the published ones: models.weightsOf(name))',
    );
  if (status === 401 || status === 403)
    return new HubError(
      'GRAFT_HUB_HTTP',
      url,
      `${url}: access denied (${status})`,
      'a gated or private repository needs HF_TOKEN set to a token that may read it',
    );
  return new HubError('GRAFT_HUB_HTTP', url, `${url}: the server answered ${status}`, 'try again later');
}

/**
 * Streams the body into the file. On a failure (a drop, a stall) what arrived is still flushed to
 * the file before the promise rejects, so the next attempt resumes after the last byte received.
 */
function writeBody(
  res: IncomingMessage,
  file: string,
  append: boolean,
  timeoutMs: number,
  url: string,
  onBytes: (n: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(file, { flags: append ? 'a' : 'w' });
    let timer: NodeJS.Timeout | undefined;
    let failure: Error | undefined;
    let ended = false;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () =>
          res.destroy(
            new HubTimeoutError(
              url,
              `${url}: no data for ${timeoutMs / 1000} s`,
              'the partial file is kept: run again to resume (HF_HUB_DOWNLOAD_TIMEOUT raises the limit, in seconds)',
            ),
          ),
        timeoutMs,
      );
    };
    const finish = (e?: Error) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      failure = e;
      out.end();
    };
    res.on('data', (chunk: Buffer) => {
      arm();
      onBytes(chunk.length);
      if (!out.write(chunk)) {
        res.pause();
        out.once('drain', () => res.resume());
      }
    });
    res.on('end', () => finish());
    res.on('error', (e) => finish(e));
    res.on('close', () => finish(res.complete ? undefined : new Error('the connection closed mid-file')));
    out.on('error', (e) => {
      clearTimeout(timer);
      res.destroy();
      reject(writeError(url, file, e));
    });
    out.on('finish', () => (failure ? reject(failure) : resolve()));
    arm();
  });
}

/** Checks size and digests; a mismatch deletes the file and throws HubCorruptError. Returns the sha256. */
async function verify(url: string, file: string, x: Expected): Promise<string> {
  const size = sizeOf(file);
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1').update(`blob ${size}\0`);
  for await (const chunk of createReadStream(file)) {
    sha256.update(chunk as Buffer);
    if (x.gitSha1) sha1.update(chunk as Buffer);
  }
  const digest = sha256.digest('hex');
  const fail = (what: string) => {
    removeQuietly(file);
    return new HubCorruptError(
      url,
      `${url}: ${what}; the download was deleted`,
      'try again; if it keeps failing the server or a proxy alters the file (report it to the publisher)',
    );
  };
  if (x.size !== undefined && size !== x.size) throw fail(`${size} bytes, the publisher says ${x.size}`);
  if (x.sha256 && digest !== x.sha256.toLowerCase()) throw fail(`sha256 ${digest}, expected ${x.sha256}`);
  if (x.sha256Prefix && !digest.startsWith(x.sha256Prefix.toLowerCase()))
    throw fail(`sha256 ${digest} does not start with ${x.sha256Prefix} (the hash in the file name)`);
  if (x.gitSha1) {
    const id = sha1.digest('hex');
    if (id !== x.gitSha1.toLowerCase()) throw fail(`git blob id ${id}, expected ${x.gitSha1}`);
  }
  return digest;
}
