// Metrics records: the plain data the trainer appends to metrics.jsonl and the report reads.
// One JSON object per line; `type` says which kind. Numbers only, never tensors.
import { readFileSync } from 'node:fs';
import { ArgumentError } from '../errors.ts';

/** Classification metrics of one pass over a split, from accumulated confusion counts. */
export interface SplitMetrics {
  loss: number;
  /** items seen */
  items?: number;
  accuracy?: number;
  top5?: number;
  macroF1?: number;
  /** recall of each class (null: no item of that class was seen) */
  perClassAccuracy?: (number | null)[];
}

interface Base {
  /** seconds since the epoch (Date.now() / 1000) */
  time: number;
  /** the fine-tuning phase running, when phases are used */
  phase?: string;
  /** epoch index, 0-based (the progress line shows it 1-based) */
  epoch: number;
  /** optimizer steps taken so far, over the whole run */
  step: number;
}

/** Written every `logEvery` optimizer steps: means over the steps since the last one. */
export interface StepRecord extends Base {
  type: 'step';
  loss: number;
  /** learning rate of every param group, in group order */
  lr: number[];
  /** group names (param_groups[i].name) where given */
  groups?: (string | null)[];
  /** training items per second over the interval */
  throughput?: number;
  /** total gradient norm before clipping, when clipping by norm */
  gradNorm?: number;
  /** GradScaler's scale under fp16 */
  scale?: number;
}

/** Written after every epoch's validation. */
export interface EpochRecord extends Base {
  type: 'epoch';
  train: SplitMetrics;
  eval?: SplitMetrics;
  lr: number[];
  groups?: (string | null)[];
  throughput?: number;
  /** wall-clock seconds of the epoch (training and validation) */
  seconds?: number;
  /** this epoch is the best so far by the monitored metric */
  best?: boolean;
}

/** Run events: start, resume, end, stop, error; `info` carries the run's description. */
export interface RunRecord {
  type: 'run';
  time: number;
  event: 'start' | 'resume' | 'note' | 'end' | 'stopped' | 'error';
  epoch?: number;
  step?: number;
  message?: string;
  info?: RunInfo;
}

export interface RunInfo {
  model?: string;
  numClasses?: number;
  classNames?: string[];
  epochs?: number;
  seed?: number;
  device?: string;
  amp?: string;
  [key: string]: unknown;
}

export type MetricsRecord = StepRecord | EpochRecord | RunRecord;

/** Parses metrics.jsonl text; a bad line is an error naming its number (a torn last line is skipped). */
export function parseMetrics(text: string, file = 'metrics.jsonl'): MetricsRecord[] {
  const lines = text.split('\n');
  const out: MetricsRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      // a process killed mid-append leaves a torn last line: not an error
      if (i === lines.length - 1) return;
      throw new ArgumentError(`${file}:${i + 1}: not JSON (${(e as Error).message})`);
    }
    if (rec === null || typeof rec !== 'object' || typeof (rec as { type?: unknown }).type !== 'string')
      throw new ArgumentError(`${file}:${i + 1}: expected an object with a 'type'`);
    out.push(rec as MetricsRecord);
  });
  return out;
}

export function readMetrics(path: string): MetricsRecord[] {
  return parseMetrics(readFileSync(path, 'utf8'), path);
}

/** A compact JSON line: non-finite numbers become null (JSON has no NaN). */
export function formatRecord(rec: MetricsRecord): string {
  return JSON.stringify(rec, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
}
