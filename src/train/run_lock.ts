// One run per run folder: a lock file (OUT/graft.lock: pid, host, start time) taken before anything
// in the folder changes and removed when the run ends. A lock whose process is gone (killed, the
// machine rebooted) is stale and taken over. Also the guard against training over a finished run:
// a folder that already holds a run needs `resume` (continue it) or `overwrite` (replace it).
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { TrainError } from './errors.ts';

export const LOCK_FILE = 'graft.lock';

/** What the lock file records about the run that holds the folder. */
export interface RunLockInfo {
  pid: number;
  host: string;
  /** when the lock was taken (ISO time) */
  started: string;
  /** the process's start time in clock ticks since boot (Linux), to tell a reused pid apart */
  procStart?: number;
  command: string;
}

/** Linux: field 22 of /proc/PID/stat (the process start time); undefined elsewhere or when gone. */
function procStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may hold spaces: count fields after it
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(rest[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the process a lock names is still running (on this host; other hosts count as alive). */
export function lockIsLive(info: RunLockInfo): boolean {
  if (info.host !== hostname()) return true;
  if (!pidAlive(info.pid)) return false;
  // the pid is in use: by the same process unless its start time differs (the pid was reused)
  if (info.procStart !== undefined) {
    const now = procStartTime(info.pid);
    if (now !== undefined && now !== info.procStart) return false;
  }
  return true;
}

function readLock(path: string): RunLockInfo | undefined {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as RunLockInfo;
    return typeof v.pid === 'number' && typeof v.host === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

const describe = (i: RunLockInfo) => `pid ${i.pid} on ${i.host}, started ${i.started}: ${i.command}`;

function lockedError(dir: string, path: string, held: RunLockInfo): TrainError {
  return new TrainError(
    'GRAFT_RUN_LOCKED',
    `${dir} is in use by another run (${describe(held)})`,
    {},
    held.host === hostname()
      ? 'wait for it to finish or stop it (Ctrl-C, kill PID); then resume with --resume'
      : `if no run is going on ${held.host}, delete ${path}`,
  );
}

/** Refuses DIR when a live run holds its lock (read-only: for checks before a run is built). */
export function assertUnlocked(dir: string): void {
  const path = join(dir, LOCK_FILE);
  const held = existsSync(path) ? readLock(path) : undefined;
  if (held && lockIsLive(held)) throw lockedError(dir, path, held);
}

/** A held run-folder lock; release() removes the file (also done at process exit). */
export class RunLock {
  readonly path: string;
  readonly info: RunLockInfo;
  #released = false;
  readonly #onExit = () => this.release();

  constructor(path: string, info: RunLockInfo) {
    this.path = path;
    this.info = info;
    process.once('exit', this.#onExit);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    process.off('exit', this.#onExit);
    // only our own lock: never one another run took over
    const cur = readLock(this.path);
    if (cur && cur.pid === this.info.pid && cur.started === this.info.started) {
      try {
        unlinkSync(this.path);
      } catch {
        // already gone
      }
    }
  }
}

/**
 * Takes DIR's lock (creating DIR). Throws a TrainError (GRAFT_RUN_LOCKED) naming the live run that
 * holds it; a stale lock (its process gone) is replaced.
 */
export function acquireRunLock(dir: string, command = process.argv.slice(1).join(' ')): RunLock {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const info: RunLockInfo = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    ...(procStartTime(process.pid) !== undefined ? { procStart: procStartTime(process.pid) } : {}),
    command: command.slice(0, 500),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new TrainError('GRAFT_RUN_LOCKED', `${dir}: cannot create the run lock: ${(e as Error).message}`);
      const held = readLock(path);
      if (held === undefined) {
        // a lock being written this instant, or the remains of a crash while writing it
        const st = statSync(path, { throwIfNoEntry: false });
        if (!st) continue;
        if (Date.now() - st.mtimeMs < 5000) {
          if (attempt < 2) continue;
          throw new TrainError('GRAFT_RUN_LOCKED', `${dir} is being locked by another run right now`);
        }
      } else if (lockIsLive(held)) throw lockedError(dir, path, held);
      // stale: its process is gone. Take it over (re-read first: another run may have just done so)
      const again = readLock(path);
      if (again && held && (again.pid !== held.pid || again.started !== held.started)) continue;
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(info));
    } finally {
      closeSync(fd);
    }
    return new RunLock(path, info);
  }
  throw new TrainError('GRAFT_RUN_LOCKED', `${dir}: could not take the run lock (other runs keep taking it)`);
}

/** The files a run writes in its folder (what --overwrite replaces); anything else is left alone. */
export const RUN_FILES = [
  'recipe.yaml',
  'metrics.jsonl',
  'report.html',
  'model.safetensors',
  'config.json',
  'load-report.json',
  'checkpoints',
  'metrics.csv',
] as const;

/** TensorBoard's event files (events.out.tfevents.*): a run's too when they sit in its folder. */
export const EVENT_FILE_PREFIX = 'events.out.tfevents.';

/** Whether DIR holds (part of) a run: a checkpoint, metrics or a recipe. */
export function hasRun(dir: string): boolean {
  return ['checkpoints', 'metrics.jsonl', 'recipe.yaml'].some((f) => existsSync(join(dir, f)));
}

/**
 * The overwrite guard: a folder holding a run is refused unless the call resumes it or overwrites
 * it (both at once is an error too). Read-only: nothing is changed here.
 */
export function checkRunFolder(dir: string, o: { resume?: boolean; overwrite?: boolean }): void {
  if (o.resume && o.overwrite)
    throw new TrainError('GRAFT_RUN_EXISTS', 'resume and overwrite exclude each other', {}, 'give one of them');
  if (!o.resume && !o.overwrite && hasRun(dir))
    throw new TrainError(
      'GRAFT_RUN_EXISTS',
      `${dir} already holds a run`,
      {},
      'continue it with --resume (API: resume: true), replace it with --overwrite (API: overwrite: true), or choose another --out',
    );
}

/** Removes the run files of DIR (for overwrite: done once the new run has started). */
export function clearRunFiles(dir: string): void {
  for (const f of RUN_FILES) rmSync(join(dir, f), { recursive: true, force: true });
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) if (f.startsWith(EVENT_FILE_PREFIX)) rmSync(join(dir, f), { force: true });
}
