// The board's HTTP server (node:http): the page, the run list, each run's records, recipe diffs,
// reports, and a Server-Sent Events stream that pushes metrics.jsonl lines as the runs append
// them. Read-only: GET only, nothing outside the board's folder, only the files the board names
// (a run's report.html and recipe.yaml), only runs the folder walk found. On a loopback address
// it also refuses requests whose Host is not a loopback name (a web page elsewhere cannot reach
// it through DNS rebinding).
import { existsSync, type FSWatcher, readFileSync, realpathSync, statSync, watch } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join, resolve, sep } from 'node:path';
import { ArgumentError, GraftError } from '../errors.ts';
import { METRICS_FILE, REPORT_FILE } from '../report/index.ts';
import { BOARD_JS } from './client.ts';
import { BOARD_CSS, boardPage } from './page.ts';
import { diffRecipes } from './recipe_diff.ts';
import { findRuns, RECIPE_FILE, RunCache, type RunSummary } from './runs.ts';
import { MetricsTail } from './tail.ts';

export interface BoardOptions {
  /** the folder whose run folders the board shows */
  dir: string;
  /** default 127.0.0.1 */
  host?: string;
  /** default 0: any free port */
  port?: number;
  /** serve on a non-loopback address (anyone who can reach it sees the runs) */
  allowRemote?: boolean;
  /** how often files are checked when no change notification came (ms, default 1000) */
  pollMs?: number;
}

export interface Board {
  url: string;
  host: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** Whether a host name or address is this machine only. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** An answer to a request: sent by the handler's caller. */
interface Reply {
  status: number;
  type: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}
const json = (v: unknown, status = 200): Reply => ({
  status,
  type: 'application/json; charset=utf-8',
  body: JSON.stringify(v),
});
const text = (status: number, body: string): Reply => ({ status, type: 'text/plain; charset=utf-8', body });

/** A request refused: its status and why (JSON {error}). */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A board's request handler and its clean-up (open event streams); the server is the caller's. */
export function boardHandler(o: { dir: string; pollMs?: number; checkHost: boolean }) {
  const root = resolve(o.dir);
  const realRoot = realpathSync(root);
  const pollMs = o.pollMs ?? 1000;
  const cache = new RunCache(root);
  const streams = new Set<() => void>();
  const title = basename(root);

  /** The run ids asked for, each one a run the walk found (else a Refusal). */
  function runsOf(url: URL, min: number): string[] {
    const ids = url.searchParams.getAll('run');
    if (ids.length < min) throw new Refusal(400, `give ${min > 1 ? `${min} or more runs` : 'a run'}: ?run=ID`);
    const known = findRuns(root);
    const bad = ids.find((id) => !known.includes(id));
    if (bad !== undefined) throw new Refusal(404, `no run '${bad}' in ${title}`);
    return ids;
  }

  /** A file of a run folder, after checking it resolves inside the board's folder (no link out). */
  function runFile(id: string, name: string): string | undefined {
    const p = join(root, id, name);
    if (!existsSync(p) || !statSync(p).isFile()) return undefined;
    const real = realpathSync(p);
    return real.startsWith(realRoot + sep) ? real : undefined;
  }

  function stream(_req: IncomingMessage, res: ServerResponse, ids: string[]): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
      ...SECURITY_HEADERS,
    });
    const emit = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    // a run asked for is followed once the folder walk finds it: a bookmarked run may start later,
    // and an id that never names a run folder (../elsewhere) is never read
    const tails = new Map<string, { tail: MetricsTail; first: boolean }>();
    const watchers: FSWatcher[] = [];
    let lastList = '';
    const tick = () => {
      try {
        update();
      } catch (e) {
        // a folder that vanished mid-walk, a permission: the stream goes on, the page says why
        emit('problem', { message: (e as Error).message });
      }
    };
    const update = () => {
      const runs = cache.list();
      const list = JSON.stringify(runs);
      if (list !== lastList) {
        lastList = list;
        res.write(`event: runs\ndata: ${list}\n\n`);
      }
      for (const id of ids)
        if (!tails.has(id) && runs.some((r) => r.id === id)) {
          tails.set(id, { tail: new MetricsTail(join(root, id, METRICS_FILE)), first: true });
          try {
            // change notifications make updates immediate; polling covers file systems without them
            watchers.push(watch(join(root, id), soon).on('error', () => {}));
          } catch {
            // no inotify (or out of watches): polling alone
          }
        }
      for (const [id, t] of tails) {
        const c = t.tail.readAll();
        if (t.first || c.reset || c.records.length || c.warnings.length)
          emit('metrics', { run: id, records: c.records, warnings: c.warnings, reset: t.first || c.reset });
        t.first = false;
      }
    };
    let pending: NodeJS.Timeout | undefined;
    const soon = () => {
      pending ??= setTimeout(() => {
        pending = undefined;
        tick();
      }, 30);
    };
    const poll = setInterval(tick, pollMs);
    const ping = setInterval(() => res.write(': ping\n\n'), 15000);
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearInterval(poll);
      clearInterval(ping);
      clearTimeout(pending);
      for (const w of watchers) w.close();
      streams.delete(stop);
      res.end();
    };
    streams.add(stop);
    res.on('close', stop); // the browser went away (or the server is closing)
    tick();
  }

  /** The reply to a request, or undefined when an event stream took the response over. */
  function route(req: IncomingMessage, res: ServerResponse): Reply | undefined {
    if (req.method !== 'GET') return { ...text(405, 'only GET\n'), headers: { allow: 'GET' } };
    if (o.checkHost && !isLoopback((req.headers.host ?? '').replace(/:\d+$/, '')))
      return text(403, 'the board answers on its loopback address only\n');
    const url = new URL(req.url ?? '/', 'http://board');
    switch (url.pathname) {
      case '/':
        return {
          status: 200,
          type: 'text/html; charset=utf-8',
          body: boardPage(title),
          headers: { 'content-security-policy': PAGE_CSP },
        };
      case '/board.js':
        return { status: 200, type: 'text/javascript; charset=utf-8', body: BOARD_JS };
      case '/board.css':
        return { status: 200, type: 'text/css; charset=utf-8', body: BOARD_CSS };
      case '/api/runs':
        return json({ title, runs: cache.list() satisfies RunSummary[] });
      case '/api/metrics':
        return json(cache.get(runsOf(url, 1)[0]!));
      case '/api/recipe': {
        const id = runsOf(url, 1)[0]!;
        const f = runFile(id, RECIPE_FILE);
        if (!f) throw new Refusal(404, `run '${id}' has no ${RECIPE_FILE}`);
        return { status: 200, type: 'text/plain; charset=utf-8', body: readFileSync(f) };
      }
      case '/api/compare': {
        const ids = runsOf(url, 2);
        const texts = ids.map((id) => {
          const f = runFile(id, RECIPE_FILE);
          return f ? readFileSync(f, 'utf8') : undefined;
        });
        const missing = ids.filter((_, i) => texts[i] === undefined);
        try {
          return json({ runs: ids, missing, rows: diffRecipes(texts) });
        } catch (e) {
          return json({ runs: ids, missing, rows: [], error: `a recipe is not YAML: ${(e as Error).message}` });
        }
      }
      case '/api/stream':
        stream(req, res, url.searchParams.getAll('run'));
        return undefined;
      case '/report': {
        const id = runsOf(url, 1)[0]!;
        const f = runFile(id, REPORT_FILE);
        if (!f) throw new Refusal(404, `run '${id}' has no ${REPORT_FILE} yet (graft report renders one)`);
        return { status: 200, type: 'text/html; charset=utf-8', body: readFileSync(f) };
      }
      default:
        throw new Refusal(404, 'not found');
    }
  }

  return {
    handle(req: IncomingMessage, res: ServerResponse): void {
      let reply: Reply | undefined;
      try {
        reply = route(req, res);
      } catch (e) {
        // a refusal, or a file that went away between the check and the read: an answer, not a crash
        if (res.headersSent) {
          res.end();
          return;
        }
        reply = json({ error: (e as Error).message }, e instanceof Refusal ? e.status : 500);
      }
      if (!reply) return;
      res.writeHead(reply.status, { 'content-type': reply.type, ...SECURITY_HEADERS, ...reply.headers });
      res.end(reply.body);
    },
    /** ends the open event streams (a server's close() waits for them otherwise) */
    closeStreams() {
      for (const stop of [...streams]) stop();
    },
  };
}

/** Serves the board for `o.dir`; resolves once it listens. */
export async function startBoard(o: BoardOptions): Promise<Board> {
  const host = o.host ?? '127.0.0.1';
  if (!existsSync(o.dir) || !statSync(o.dir).isDirectory())
    throw new ArgumentError(
      `no such folder: ${o.dir}`,
      'give the folder your runs are in (graft train --out DIR/NAME)',
    );
  const loopback = isLoopback(host);
  if (!loopback && !o.allowRemote)
    throw new ArgumentError(
      `${host} is not a loopback address: anyone who can reach it would see your runs`,
      'serve on 127.0.0.1 (the default), or pass --allow-remote (API: allowRemote: true) to mean it',
    );
  const h = boardHandler({ dir: o.dir, ...(o.pollMs ? { pollMs: o.pollMs } : {}), checkHost: loopback });
  const server = createServer(h.handle);
  await new Promise<void>((ok, ko) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      ko(
        e.code === 'EADDRINUSE'
          ? new GraftError(
              'GRAFT_BOARD_PORT',
              `port ${o.port} on ${host} is in use`,
              'give another --port, or 0 for any free one',
            )
          : new GraftError('GRAFT_BOARD_LISTEN', `cannot listen on ${host}:${o.port ?? 0}: ${e.message}`),
      ),
    );
    server.listen(o.port ?? 0, host, () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    host,
    port,
    server,
    close: () =>
      new Promise<void>((ok) => {
        h.closeStreams();
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}
