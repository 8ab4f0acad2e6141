// A local stand-in for the publishers' servers on 127.0.0.1 (node:http), serving files in their
// layouts: torchvision's download.pytorch.org/models/<file>, and the Hugging Face Hub's
// /<repo>/resolve/<revision>/<file> (HEAD answers X-Repo-Commit and ETag / X-Linked-Etag, LFS files
// redirect to a CDN path on the same server, git files are served directly). Range requests,
// dropped connections, stalls, wrong bytes and renamed repositories are switched on per test.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Served {
  bytes: Buffer;
  /** close the connection after this many body bytes, for the first `dropTimes` GETs */
  dropAfter?: number;
  dropTimes?: number;
  /** answer GETs with a 200 full body even when a Range is asked (a server without ranges) */
  noRanges?: boolean;
  /** send the headers, then this many bytes, then nothing (a stalled download) */
  stallAfter?: number;
}

export interface HfRepo {
  /** commit hash -> files */
  commits: Record<string, Record<string, Buffer>>;
  /** branch or tag -> commit */
  refs: Record<string, string>;
  /** files served through the CDN redirect with X-Linked-Etag = sha256 (others: git files, ETag = blob id) */
  lfs?: (file: string) => boolean;
}

export interface Logged {
  method: string;
  url: string;
  range?: string;
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
export const gitSha1 = (b: Buffer) =>
  createHash('sha1')
    .update(Buffer.concat([Buffer.from(`blob ${b.length}\0`), b]))
    .digest('hex');

export class TestServer {
  readonly files = new Map<string, Served>();
  readonly repos = new Map<string, HfRepo>();
  /** old repo id -> new (answered with a relative 307, as the Hub does for renamed repositories) */
  readonly renamed = new Map<string, string>();
  /** path -> (absolute) redirect target path */
  readonly redirects = new Map<string, string>();
  /** never answer requests under this path prefix */
  hangPrefix?: string;
  /** CDN blobs, by sha256 */
  private readonly cdn = new Map<string, Served>();
  readonly log: Logged[] = [];
  private server = http.createServer((req, res) => this.handle(req, res));
  private sockets = new Set<import('node:net').Socket>();
  url = '';

  async start(): Promise<this> {
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** requests whose path starts with the prefix */
  requests(prefix: string, method?: string): Logged[] {
    return this.log.filter((l) => l.url.startsWith(prefix) && (!method || l.method === method));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = decodeURI(req.url ?? '/');
    this.log.push({ method: req.method ?? 'GET', url, ...(req.headers.range ? { range: req.headers.range } : {}) });
    if (this.hangPrefix && url.startsWith(this.hangPrefix)) return; // never answers
    const redirect = this.redirects.get(url);
    if (redirect) {
      res.writeHead(302, { location: redirect.startsWith('/') ? `${this.url}${redirect}` : redirect }).end();
      return;
    }
    const file = this.files.get(url);
    const blob = url.startsWith('/cdn/') ? this.cdn.get(url.slice(5)) : undefined;
    const m = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    if (file) this.send(req, res, file, { etag: `"${sha256(file.bytes)}"` });
    else if (blob) this.send(req, res, blob, {});
    else if (m) this.resolve(req, res, m[1]!, decodeURIComponent(m[2]!), m[3]!);
    else res.writeHead(404).end('not found');
  }

  private resolve(req: http.IncomingMessage, res: http.ServerResponse, id: string, rev: string, path: string) {
    const to = this.renamed.get(id);
    if (to) {
      res.writeHead(307, { location: `/${to}/resolve/${encodeURIComponent(rev)}/${path}` }).end();
      return;
    }
    const repo = this.repos.get(id);
    if (!repo) {
      res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end();
      return;
    }
    const commit = repo.commits[rev] ? rev : repo.refs[rev];
    if (!commit) {
      res.writeHead(404, { 'x-error-code': 'RevisionNotFound' }).end();
      return;
    }
    const bytes = repo.commits[commit]![path];
    if (!bytes) {
      res.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': commit }).end();
      return;
    }
    if (repo.lfs?.(path) ?? path.endsWith('.safetensors')) {
      const sha = sha256(bytes);
      if (!this.cdn.has(sha)) this.cdn.set(sha, { bytes });
      res
        .writeHead(302, {
          location: `${this.url}/cdn/${sha}`,
          'x-repo-commit': commit,
          'x-linked-etag': `"${sha}"`,
          'x-linked-size': String(bytes.length),
          etag: '"not-the-sha"',
        })
        .end();
      return;
    }
    this.send(req, res, { bytes }, { etag: `"${gitSha1(bytes)}"`, 'x-repo-commit': commit });
  }

  /** Overrides what the CDN serves for a blob (wrong bytes, drops, stalls). */
  cdnServe(sha: string, served: Served): void {
    this.cdn.set(sha, served);
  }

  private send(req: http.IncomingMessage, res: http.ServerResponse, f: Served, headers: Record<string, string>) {
    const total = f.bytes.length;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range && !f.noRanges ? Number(range[1]) : 0;
    if (start > 0 && start >= total) {
      res.writeHead(416, { 'content-range': `bytes */${total}` }).end();
      return;
    }
    const body = f.bytes.subarray(start);
    res.writeHead(start > 0 ? 206 : 200, {
      ...headers,
      'accept-ranges': 'bytes',
      'content-length': String(body.length),
      ...(start > 0 ? { 'content-range': `bytes ${start}-${total - 1}/${total}` } : {}),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (f.stallAfter !== undefined) {
      res.write(body.subarray(0, f.stallAfter));
      return; // and nothing more
    }
    if (f.dropAfter !== undefined && (f.dropTimes ?? 1) > 0) {
      f.dropTimes = (f.dropTimes ?? 1) - 1;
      res.write(body.subarray(0, f.dropAfter), () => res.socket?.destroy());
      return;
    }
    res.end(body);
  }
}
