// A run folder's report from its files: metrics.jsonl (and load-report.json when the run loaded a
// checkpoint) -> report.html. Used at the end of a run, during a long one, and by `graft report`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError } from '../errors.ts';
import { type ReportOptions, writeReport } from './html.ts';
import { type LoadSummary, parseLoadSummary } from './load.ts';
import { readMetrics } from './records.ts';

export const METRICS_FILE = 'metrics.jsonl';
export const REPORT_FILE = 'report.html';
export const LOAD_REPORT_FILE = 'load-report.json';

/** load-report.json if present and readable (a report is still written without it). */
export function readLoadSummary(path: string): LoadSummary | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return parseLoadSummary(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return undefined; // a torn or foreign file: the report goes without the load section
  }
}

export interface RunReportOptions extends ReportOptions {
  /** where metrics.jsonl is (default RUN_DIR/metrics.jsonl) */
  metricsPath?: string;
  /** where to write (default RUN_DIR/report.html) */
  out?: string;
}

/** Renders RUN_DIR's report.html from its metrics.jsonl; returns the path written. */
export async function writeRunReport(runDir: string, o: RunReportOptions = {}): Promise<string> {
  const metrics = o.metricsPath ?? join(runDir, METRICS_FILE);
  if (!existsSync(metrics))
    throw new ArgumentError(
      `${metrics}: no metrics.jsonl, so no report to render`,
      'give the folder a graft run wrote (graft train --out DIR)',
    );
  const out = o.out ?? join(runDir, REPORT_FILE);
  const load = o.load ?? readLoadSummary(join(runDir, LOAD_REPORT_FILE));
  await writeReport(out, readMetrics(metrics), { ...o, ...(load ? { load } : {}) });
  return out;
}
