// `graft train RECIPE --nproc N`: starts N worker processes with torchrun's environment contract
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT), prefixes
// each line they print with its rank, forwards stop signals once, and fails fast: when one worker
// dies the others are stopped and the launcher exits non-zero naming the rank. Nothing here loads
// libtorch: the launcher only watches processes.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism, constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ArgumentError, GraftError } from '../errors.ts';

/** A launch or worker failure: which rank, and how it ended. */
export class LaunchError extends GraftError {
  constructor(message: string, hint?: string) {
    super('GRAFT_LAUNCH', message, hint);
  }
}

export interface LaunchOptions {
  /** worker processes on this machine */
  nproc: number;
  /** machines taking part (default 1) */
  nnodes?: number;
  /** this machine's index among them (default 0) */
  nodeRank?: number;
  /** rank 0's machine, 'HOST:PORT' (needed with several machines; default 127.0.0.1 and a free port) */
  master?: string;
  /** the worker's arguments: the graft command line without the launcher's flags */
  args: string[];
  /** the program and arguments before `args` (default: this node running graft's bin/graft.mjs) */
  command?: string[];
  /** extra environment for every worker */
  env?: Record<string, string>;
  /** where prefixed lines go (default process.stdout / process.stderr) */
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
  /** how long the others get to stop after one fails or a signal arrives twice (default 10 s) */
  graceMs?: number;
  /** rank 0's stdout unprefixed (it prints a machine-readable result: `graft train --json`) */
  plainStdout?: boolean;
}

export interface Master {
  host: string;
  port: number;
}

/** 'HOST:PORT' (IPv6 in brackets: '[::1]:29500') as {host, port}. */
export function parseMaster(s: string): Master {
  const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(s.trim());
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || !(port >= 1 && port <= 65535))
    throw new ArgumentError(`--master needs HOST:PORT, got '${s}'`, 'for example --master 10.0.0.1:29500');
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** A TCP port free on this machine now (the OS picks it; rank 0's store binds it a moment later). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The torchrun variables for one worker. */
export function workerEnv(
  o: { nproc: number; nnodes: number; nodeRank: number; master: Master },
  localRank: number,
): Record<string, string> {
  return {
    RANK: String(o.nodeRank * o.nproc + localRank),
    WORLD_SIZE: String(o.nnodes * o.nproc),
    LOCAL_RANK: String(localRank),
    LOCAL_WORLD_SIZE: String(o.nproc),
    GROUP_RANK: String(o.nodeRank),
    MASTER_ADDR: o.master.host,
    MASTER_PORT: String(o.master.port),
  };
}

const defaultCommand = (): string[] => [
  process.execPath,
  fileURLToPath(new URL('../../bin/graft.mjs', import.meta.url)),
];

/** Splits a stream into lines and hands each to `line` (a last unterminated line at the end). */
function lines(stream: NodeJS.ReadableStream | null, line: (s: string) => void): Promise<void> {
  return new Promise((resolve) => {
    if (!stream) return resolve();
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buf += d;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        // a progress bar's carriage returns: keep the last state of the line
        line(buf.slice(0, nl).split('\r').pop()!);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
      }
    });
    stream.on('end', () => {
      if (buf) line(buf);
      resolve();
    });
  });
}

const STOP = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** How a worker ended, in words. */
const ending = (code: number | null, signal: NodeJS.Signals | null): string =>
  signal ? `was killed by ${signal}` : `exited with code ${code}`;

/**
 * Runs the workers until all have ended; resolves to the exit code for the launcher: 0 when every
 * worker exited 0, else the first failure's (128 + signal for a killed worker). A failure is
 * printed naming the rank; the other workers get SIGTERM (then SIGKILL after graceMs).
 */
export async function launch(o: LaunchOptions): Promise<number> {
  const nnodes = o.nnodes ?? 1;
  const nodeRank = o.nodeRank ?? 0;
  if (!(Number.isInteger(o.nproc) && o.nproc >= 1))
    throw new ArgumentError(`--nproc needs an integer >= 1, got ${o.nproc}`);
  if (!(Number.isInteger(nnodes) && nnodes >= 1))
    throw new ArgumentError(`--nnodes needs an integer >= 1, got ${nnodes}`);
  if (!(Number.isInteger(nodeRank) && nodeRank >= 0 && nodeRank < nnodes))
    throw new ArgumentError(`--node-rank ${nodeRank} is outside 0..${nnodes - 1} (--nnodes ${nnodes})`);
  if (nnodes > 1 && !o.master)
    throw new ArgumentError(
      `--nnodes ${nnodes} needs --master HOST:PORT`,
      "the address of node 0, reachable from every machine (the same on each machine's command line)",
    );
  const master = o.master ? parseMaster(o.master) : { host: '127.0.0.1', port: await freePort() };
  const out = o.stdout ?? ((s: string) => process.stdout.write(`${s}\n`));
  const err = o.stderr ?? ((s: string) => process.stderr.write(`${s}\n`));
  const command = o.command ?? defaultCommand();
  const graceMs = o.graceMs ?? 10_000;
  // torchrun's default: one intra-op thread per worker unless told otherwise
  const threads = String(Math.max(1, Math.floor(availableParallelism() / o.nproc)));
  const width = String(nnodes * o.nproc - 1).length;

  const children: { rank: number; proc: ChildProcess; done: Promise<void> }[] = [];
  let failure: { rank: number; code: number } | undefined;
  let interrupted: number | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const alive = () => children.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null);
  const stopAll = (sig: NodeJS.Signals) => {
    for (const c of alive()) c.proc.kill(sig);
    killTimer ??= setTimeout(() => {
      for (const c of alive()) c.proc.kill('SIGKILL');
    }, graceMs);
    killTimer.unref();
  };
  let signalled = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signalled++;
    // the workers run in their own process groups: a terminal's Ctrl-C reaches them only from here,
    // once, so the first one stops them after a step with a checkpoint and a second quits at once
    for (const c of alive()) c.proc.kill(sig);
  };
  for (const s of STOP) process.on(s, onSignal);

  const exits: Promise<void>[] = [];
  try {
    for (let local = 0; local < o.nproc; local++) {
      const contract = workerEnv({ nproc: o.nproc, nnodes, nodeRank, master }, local);
      const env = {
        ...process.env,
        GRAFT_NUM_THREADS: process.env.GRAFT_NUM_THREADS ?? threads,
        ...contract,
        GRAFT_LAUNCHER_PID: String(process.pid),
        ...o.env,
      };
      const rank = Number(contract.RANK);
      const proc = spawn(command[0]!, [...command.slice(1), ...o.args], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      const tag = `[${String(rank).padStart(width)}]`;
      const streams = Promise.all([
        lines(proc.stdout, (l) => out(o.plainStdout && rank === 0 ? l : `${tag} ${l}`)),
        lines(proc.stderr, (l) => err(`${tag} ${l}`)),
      ]);
      const done = new Promise<void>((resolve) => {
        proc.on('error', (e) => {
          failure ??= { rank, code: 1 };
          err(`graft train: rank ${rank} could not start: ${e.message}`);
          stopAll('SIGTERM');
          resolve();
        });
        proc.on('exit', (code, signal) => {
          void streams.then(() => {
            if (code === 0) return resolve();
            // after a forwarded Ctrl-C / SIGTERM the workers stop with the signal's exit code
            if (signalled && (code === 130 || code === 143)) {
              interrupted ??= code;
              return resolve();
            }
            if (!failure) {
              failure = { rank, code: signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 1) };
              err(`graft train: rank ${rank} ${ending(code, signal)}; stopping the other ${alive().length} worker(s)`);
              stopAll('SIGTERM');
            }
            resolve();
          });
        });
      });
      children.push({ rank, proc, done });
      exits.push(done);
    }
    await Promise.all(exits);
  } finally {
    for (const s of STOP) process.off(s, onSignal);
    if (killTimer) clearTimeout(killTimer);
    for (const c of alive()) c.proc.kill('SIGKILL');
  }
  return failure?.code ?? interrupted ?? 0;
}

const LAUNCHER_FLAGS = ['--nproc', '--nnodes', '--node-rank', '--master'];

/** A command line without the launcher's own flags (`--nproc 2`, `--master=h:p`, ...): what each worker runs. */
export function launcherArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (LAUNCHER_FLAGS.includes(a)) i++;
    else if (!LAUNCHER_FLAGS.some((f) => a.startsWith(`${f}=`))) out.push(a);
  }
  return out;
}

/**
 * In a worker the launcher started: exits when the launcher is gone (killed with -9, it could not
 * stop its workers, which run in their own process groups). Checked once a second.
 */
export function exitWithLauncher(env: Record<string, string | undefined> = process.env): void {
  const pid = Number(env.GRAFT_LAUNCHER_PID);
  if (!(pid > 0)) return;
  setInterval(() => {
    if (process.ppid === pid) return;
    process.stderr.write(`graft: the launcher (pid ${pid}) is gone; this worker stops\n`);
    process.exit(1);
  }, 1000).unref();
}
