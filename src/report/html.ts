// The HTML report: one self-contained file (inline CSS and SVG charts, no script, no network).
import { renameSync, writeFileSync } from 'node:fs';
import { buildCharts, phaseBoundaries } from './charts.ts';
import type { EpochRecord, MetricsRecord, RunInfo, RunRecord, SplitMetrics } from './records.ts';

export interface ReportOptions {
  title?: string;
  /** class names for the per-class table (default: from the run record, else indices) */
  classNames?: string[];
  /** extra key/value lines for the summary (recipe, command line, ...) */
  extra?: Record<string, string | number | boolean>;
}

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function num(v: unknown, digits = 4): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
  return v.toFixed(digits);
}
const pct = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? `${(v * 100).toFixed(2)}%` : '–');

function table(head: string[], rows: string[][]): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

function runInfo(records: MetricsRecord[]): { info: RunInfo; events: RunRecord[] } {
  const events = records.filter((r): r is RunRecord => r.type === 'run');
  const info: RunInfo = {};
  for (const e of events) Object.assign(info, e.info ?? {});
  return { info, events };
}

function summary(info: RunInfo, epochs: EpochRecord[], events: RunRecord[], extra: ReportOptions['extra']): string {
  const rows: string[][] = [];
  for (const [k, v] of Object.entries(info)) {
    if (k === 'classNames' || v === undefined || v === null || typeof v === 'object') continue;
    rows.push([k, String(v)]);
  }
  for (const [k, v] of Object.entries(extra ?? {})) rows.push([k, String(v)]);
  rows.push(['epochs run', String(epochs.length)]);
  const last = events[events.length - 1];
  if (last) rows.push(['status', last.message ? `${last.event}: ${last.message}` : last.event]);
  const best = epochs.filter((e) => e.best).pop();
  if (best)
    rows.push([
      'best epoch',
      `${best.epoch + 1} (eval loss ${num(best.eval?.loss)}, accuracy ${pct(best.eval?.accuracy)})`,
    ]);
  return table(['', ''], rows);
}

function epochTable(epochs: EpochRecord[]): string {
  const rows = epochs.map((e) => [
    String(e.epoch + 1),
    e.phase ?? '',
    String(e.step),
    num(e.train?.loss),
    pct(e.train?.accuracy),
    num(e.eval?.loss),
    pct(e.eval?.accuracy),
    pct(e.eval?.top5),
    num(e.eval?.macroF1),
    e.lr.map((v) => num(v, 6)).join(' / '),
    e.best ? '★' : '',
  ]);
  return table(
    ['epoch', 'phase', 'step', 'train loss', 'train acc', 'eval loss', 'eval acc', 'top-5', 'macro-F1', 'lr', 'best'],
    rows,
  );
}

function perClassTable(m: SplitMetrics, names: string[] | undefined): string {
  const rows = (m.perClassAccuracy ?? []).map((v, i) => [names?.[i] ?? String(i), v === null ? 'no items' : pct(v)]);
  return table(['class', 'accuracy (recall)'], rows);
}

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}figure{margin:1em 0}figcaption{font-weight:600;margin-bottom:.3em}
svg{max-width:100%;height:auto}.muted{color:#777}`;

/** The report as an HTML string. */
export async function renderReport(records: MetricsRecord[], opts: ReportOptions = {}): Promise<string> {
  const { info, events } = runInfo(records);
  const epochs = records.filter((r): r is EpochRecord => r.type === 'epoch');
  const names = opts.classNames ?? (Array.isArray(info.classNames) ? info.classNames : undefined);
  const title = opts.title ?? `graft run${info.model ? `: ${info.model}` : ''}`;
  const charts = await buildCharts(records, names);
  const bounds = phaseBoundaries(records);
  const parts = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${esc(title)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>${esc(title)}</h1>`,
    `<p class="muted">written ${esc(new Date().toISOString())} from ${records.length} metrics records</p>`,
    '<h2>Summary</h2>',
    summary(info, epochs, events, opts.extra),
  ];
  if (bounds.length)
    parts.push(
      '<h2>Phases</h2>',
      table(
        ['phase', 'first epoch', 'first step'],
        bounds.map((b) => [b.phase, String(b.epoch + 1), String(b.step)]),
      ),
    );
  parts.push('<h2>Charts</h2>');
  if (charts.length === 0) parts.push('<p class="muted">no metrics yet</p>');
  for (const c of charts)
    parts.push(
      `<figure id="chart-${esc(c.id)}" class="chart"><figcaption>${esc(c.title)}</figcaption>${c.svg}</figure>`,
    );
  if (epochs.length) parts.push('<h2>Epochs</h2>', epochTable(epochs));
  const lastEval = [...epochs].reverse().find((e) => e.eval?.perClassAccuracy?.length);
  if (lastEval)
    parts.push(`<h2>Per-class accuracy (epoch ${lastEval.epoch + 1})</h2>`, perClassTable(lastEval.eval!, names));
  parts.push('</body></html>', '');
  return parts.join('\n');
}

/** Writes the report atomically (temp file + rename): a reader never sees half a page. */
export async function writeReport(path: string, records: MetricsRecord[], opts: ReportOptions = {}): Promise<void> {
  const html = await renderReport(records, opts);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, html);
  renameSync(tmp, path);
}
