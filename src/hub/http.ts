// One HTTP(S) request on node:http/https with the redirect policy the Hub clients use: downloads
// follow every redirect (the Hub sends files to its CDN), metadata requests follow only relative
// ones (a renamed repository) and report an absolute Location as the file's download address.
// The timeout limits the wait for the answer's headers; download.ts times the body's bytes.
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { HubError, HubTimeoutError } from './errors.ts';

export interface RequestOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** ms without an answer or a byte before the request fails */
  timeoutMs: number;
  /** 'all' (downloads), 'relative' (metadata: absolute redirects are returned, not followed) */
  redirects: 'all' | 'relative';
}

export interface Response {
  res: IncomingMessage;
  /** the address that answered (after redirects) */
  url: string;
  /** an absolute redirect not followed ('relative' policy): where the file is */
  location?: string;
}

const MAX_REDIRECTS = 10;
const AGENT = 'graft-tune (+https://www.npmjs.com/package/graft-tune)';

export const header = (res: IncomingMessage, name: string): string | undefined => {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};

/** Sends one request, following redirects per the policy; the caller reads or discards the body. */
export async function request(url: string, o: RequestOptions): Promise<Response> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await once(current, o);
    const status = res.statusCode ?? 0;
    const loc = header(res, 'location');
    if (status < 300 || status >= 400 || status === 304 || !loc) return { res, url: current };
    res.resume();
    const relative = !/^[a-z][a-z0-9+.-]*:/i.test(loc);
    const next = new URL(loc, current).toString();
    if (o.redirects === 'relative' && !relative) return { res, url: current, location: next };
    current = next;
  }
  throw new HubError('GRAFT_HUB_HTTP', url, `${url}: more than ${MAX_REDIRECTS} redirects`);
}

function once(url: string, o: RequestOptions): Promise<IncomingMessage> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new HubError('GRAFT_HUB', url, `not a URL: ${url}`);
  }
  const lib = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
  if (!lib) throw new HubError('GRAFT_HUB', url, `${url}: only http and https URLs can be downloaded`);
  return new Promise((resolve, reject) => {
    const req = lib.request(u, {
      method: o.method ?? 'GET',
      headers: { 'user-agent': AGENT, 'accept-encoding': 'identity', ...o.headers },
    });
    req.setTimeout(o.timeoutMs, () =>
      req.destroy(
        new HubTimeoutError(
          url,
          `${url}: no answer in ${o.timeoutMs / 1000} s`,
          'check the network, or raise HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT (seconds); HF_HUB_OFFLINE=1 uses the cache only',
        ),
      ),
    );
    req.on('response', (res) => {
      // the body's reader keeps its own stall timer (download.ts): the socket limit ends here
      req.setTimeout(0);
      resolve(res);
    });
    req.on('error', (e) => reject(networkError(url, e)));
    req.end();
  });
}

/** A socket-level failure as a coded error (timeouts keep their own class). */
export function networkError(url: string, e: unknown): HubError {
  if (e instanceof HubError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  return new HubError(
    'GRAFT_HUB_NETWORK',
    url,
    `${url}: ${(e as Error).message ?? String(e)}${code ? ` (${code})` : ''}`,
    'check the network connection (or set HF_HUB_OFFLINE=1 to use the cache only)',
  );
}
