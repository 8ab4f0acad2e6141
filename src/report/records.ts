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
  /** causal-LM runs: exp(loss), the loss averaged over predicted tokens */
  perplexity?: number;
  /** recall of each class (null: no item of that class was seen) */
  perClassAccuracy?: (number | null)[];
  /** confusion counts, confusion[actual][predicted] (written for up to CONFUSION_MAX_CLASSES classes) */
  confusion?: number[][];
  /** the most frequent mistakes, most first (written instead of `confusion` for more classes) */
  confused?: { actual: number; predicted: number; count: number }[];
}

/** Learning rates from a step on: `step` is the 0-based index of the optimizer step (steps taken before it). */
export interface LrChange {
  step: number;
  /** learning rate of every param group, in group order */
  lr: number[];
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
  /** learning rate of every param group at the epoch's first optimizer step */
  lr: number[];
  /**
   * The learning rates of every optimizer step of the epoch, stored where they change: entry i holds
   * from its step up to the next entry's (the last up to the record's `step`).
   */
  lrSteps?: LrChange[];
  /** training samples skipped this epoch by onBadSample: 'skip' */
  skipped?: number;
  /** validation samples skipped this epoch by onBadSample: 'skip' */
  evalSkipped?: number;
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

const rank = (k: string): number => (k === 'accuracy' ? 0 : /^top\d+$/.test(k) ? 1 : k === 'macroF1' ? 2 : 3);

/**
 * A split's scalar metrics besides the loss, by their name in metrics.jsonl and the metric names
 * (`eval.accuracy`, `eval.top5`, `eval.macroF1`, ...): accuracy first, then top-k, macro-F1, others.
 */
export function splitScalars(m: SplitMetrics | undefined): [string, number][] {
  if (!m) return [];
  return Object.entries(m)
    .filter((e): e is [string, number] => typeof e[1] === 'number' && e[0] !== 'loss' && e[0] !== 'items')
    .sort((a, b) => rank(a[0]) - rank(b[0]));
}

/** A value of a record by metric name ('eval.accuracy', 'train.loss'), if it has it. */
export function metricOf(e: EpochRecord, name: string): number | undefined {
  const dot = name.indexOf('.');
  const split = name.slice(0, dot);
  const m = split === 'train' ? e.train : split === 'eval' ? e.eval : undefined;
  const v = (m as Record<string, unknown> | undefined)?.[name.slice(dot + 1)];
  return typeof v === 'number' ? v : undefined;
}

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
