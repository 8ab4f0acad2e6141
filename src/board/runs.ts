// The run folders under the board's folder and what each one's state is. A run folder is one that
// graft train wrote: it holds metrics.jsonl, recipe.yaml or a run lock. Folders are found by a
// walk that never follows symbolic links (the board shows nothing outside its folder) and stops
// at a run folder (its checkpoints/ and export/ are not runs).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { METRICS_FILE, type MetricsRecord, REPORT_FILE, type RunRecord, splitScalars } from '../report/index.ts';
// run_lock.ts itself, not train/index.ts: the board reads lock files and must not load libtorch
import { LOCK_FILE, lockIsLive, type RunLockInfo } from '../train/run_lock.ts';
import { type LineWarning, MetricsTail } from './tail.ts';

export const RECIPE_FILE = 'recipe.yaml';

/** running: a live process holds the lock; finished: ended (or stopped early); failed: ended with an error; interrupted: stopped by a signal, or its process is gone without an end. */
export type RunStatus = 'running' | 'finished' | 'failed' | 'interrupted' | 'unknown';

/** One run as the board lists it. */
export interface RunSummary {
  /** the folder relative to the board's folder, '/'-separated ('.' when the board's folder is the run) */
  id: string;
  status: RunStatus;
  /** why: the error, the stop reason, the lock holder */
  statusNote?: string;
  model?: string;
  /** first phase .. current phase */
  phase?: string;
  /** epochs finished, and the run's total when known */
  epochsDone: number;
  epochs?: number;
  step: number;
  /** the last step record's loss */
  loss?: number;
  /** the last epoch record's eval (else train) metrics: loss and scalars */
  latest?: Record<string, number>;
  /** seconds since the epoch: the run's start and the last change of its metrics */
  started?: number;
  updated?: number;
  hasReport: boolean;
  hasRecipe: boolean;
  /** lines of metrics.jsonl that are not records (the first MAX_WARNINGS of them) */
  warnings: LineWarning[];
  warningCount: number;
}

const MAX_WARNINGS = 20;

const SKIP = new Set(['node_modules', 'checkpoints', 'export', '__pycache__']);
const MAX_DEPTH = 4;

/** Whether DIR holds a run (or the start of one). */
export function isRunFolder(dir: string): boolean {
  return [METRICS_FILE, RECIPE_FILE, LOCK_FILE].some((f) => existsSync(join(dir, f)));
}

/** The ids of the run folders under `root` (sorted), without following links. */
export function findRuns(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (isRunFolder(dir)) {
      const rel = relative(root, dir).split(sep).join('/');
      out.push(rel === '' ? '.' : rel);
      return;
    }
    if (depth >= MAX_DEPTH) return;
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // unreadable: not listed
    }
    for (const e of entries)
      if (e.isDirectory() && !e.name.startsWith('.') && !SKIP.has(e.name)) walk(join(dir, e.name), depth + 1);
  };
  walk(root, 0);
  return out.sort();
}

function readLock(dir: string): RunLockInfo | undefined {
  try {
    const v = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as RunLockInfo;
    return typeof v.pid === 'number' && typeof v.host === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The status from the lock and the last run event of metrics.jsonl. */
export function runStatus(dir: string, records: MetricsRecord[]): { status: RunStatus; note?: string } {
  const lock = readLock(dir);
  if (lock && lockIsLive(lock)) return { status: 'running', note: `pid ${lock.pid} on ${lock.host}` };
  let last: RunRecord | undefined;
  for (const r of records) if (r.type === 'run' && r.event !== 'note') last = r;
  if (!last) return { status: records.length ? 'interrupted' : 'unknown' };
  switch (last.event) {
    case 'end':
      return { status: 'finished' };
    case 'error':
      return { status: 'failed', ...(last.message ? { note: last.message } : {}) };
    case 'stopped':
      // a signal stops a run as 'interrupted (SIGINT)'; early stopping ends it
      return /^interrupted\b/.test(last.message ?? '')
        ? { status: 'interrupted', note: last.message! }
        : { status: 'finished', note: last.message ?? 'stopped early' };
    default:
      // started or resumed, and no process holds the folder: it died without writing its end
      return { status: 'interrupted', note: 'the process ended without finishing the run (killed?)' };
  }
}

/** The board's row for a run folder from its records (read elsewhere: the tail keeps them). */
export function summarize(root: string, id: string, records: MetricsRecord[], warnings: LineWarning[]): RunSummary {
  const dir = join(root, id);
  const { status, note } = runStatus(dir, records);
  const s: RunSummary = {
    id,
    status,
    ...(note ? { statusNote: note } : {}),
    epochsDone: 0,
    step: 0,
    hasReport: existsSync(join(dir, REPORT_FILE)),
    hasRecipe: existsSync(join(dir, RECIPE_FILE)),
    warnings: warnings.slice(0, MAX_WARNINGS),
    warningCount: warnings.length,
  };
  const phases: string[] = [];
  for (const r of records) {
    if (r.type === 'run') {
      s.started ??= r.time;
      if (typeof r.info?.model === 'string') s.model = r.info.model;
      if (typeof r.info?.epochs === 'number') s.epochs = r.info.epochs;
      continue;
    }
    s.step = Math.max(s.step, r.step);
    if (r.phase !== undefined && !phases.includes(r.phase)) phases.push(r.phase);
    if (r.type === 'step' && Number.isFinite(r.loss)) s.loss = r.loss;
    if (r.type === 'epoch') {
      s.epochsDone = r.epoch + 1;
      const split = r.eval ?? r.train;
      const latest: Record<string, number> = {};
      const prefix = r.eval ? 'eval' : 'train';
      if (typeof split?.loss === 'number') latest[`${prefix}.loss`] = split.loss;
      for (const [k, v] of splitScalars(split)) latest[`${prefix}.${k}`] = v;
      s.latest = latest;
    }
  }
  if (phases.length) s.phase = phases.join(' → ');
  const st = statSync(join(dir, METRICS_FILE), { throwIfNoEntry: false });
  if (st) s.updated = st.mtimeMs / 1000;
  return s;
}

/** Keeps each run's records, reading only what was appended since the last look. */
export class RunCache {
  readonly root: string;
  #runs = new Map<string, { tail: MetricsTail; records: MetricsRecord[]; warnings: LineWarning[] }>();

  constructor(root: string) {
    this.root = root;
  }

  /** The run's records and bad lines, brought up to date. */
  get(id: string): { records: MetricsRecord[]; warnings: LineWarning[] } {
    let e = this.#runs.get(id);
    if (!e) {
      e = { tail: new MetricsTail(join(this.root, id, METRICS_FILE)), records: [], warnings: [] };
      this.#runs.set(id, e);
    }
    const c = e.tail.readAll();
    if (c.reset) [e.records, e.warnings] = [[], []];
    e.records.push(...c.records);
    e.warnings.push(...c.warnings);
    return { records: e.records, warnings: e.warnings };
  }

  /** Every run under the folder, summarized. */
  list(): RunSummary[] {
    const ids = findRuns(this.root);
    for (const id of this.#runs.keys()) if (!ids.includes(id)) this.#runs.delete(id);
    return ids.map((id) => {
      const { records, warnings } = this.get(id);
      return summarize(this.root, id, records, warnings);
    });
  }
}
