// The HTML report: one self-contained file (inline CSS and SVG charts, no script, no network).
import { buildCharts, phaseBoundaries } from './charts.ts';
import { compressSection } from './compress.ts';
import { confusionSection } from './confusion.ts';
import { writeFileAtomic } from './files.ts';
import { type LoadSummary, loadSection } from './load.ts';
import { fmtLr, groupLabel, NO_DECAY_SUFFIX } from './lr.ts';
import { esc, int, num, pct, table } from './markup.ts';
import {
  type EpochRecord,
  type MetricsRecord,
  metricOf,
  type RunInfo,
  type RunRecord,
  type SplitMetrics,
  splitScalars,
} from './records.ts';

export interface ReportOptions {
  title?: string;
  /** class names for the per-class table (default: from the run record, else indices) */
  classNames?: string[];
  /** extra key/value lines for the summary (recipe, command line, ...) */
  extra?: Record<string, string | number | boolean>;
  /** the checkpoint load of the run (load-report.json), shown in its own section */
  load?: LoadSummary;
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
  if (best) {
    // by the monitored metric when the run names it (info.monitor: 'eval.accuracy (max)')
    const monitor = typeof info.monitor === 'string' ? info.monitor.split(' ')[0]! : undefined;
    const shown = [monitor, 'eval.loss', 'eval.accuracy'].filter(
      (n, i, a): n is string => n !== undefined && a.indexOf(n) === i && metricOf(best, n) !== undefined,
    );
    const key = (n: string) => n.slice(n.indexOf('.') + 1);
    const values = shown.map((n) => `${n} ${cell(key(n), metricOf(best, n))}`).join(', ');
    rows.push(['best epoch', `${best.epoch + 1}${values ? ` (${values})` : ''}`]);
  }
  const skipped = epochs.filter((e) => (e.skipped ?? 0) > 0 || (e.evalSkipped ?? 0) > 0);
  if (skipped.length) {
    const lastSkip = skipped[skipped.length - 1]!;
    rows.push([
      'bad samples skipped',
      `${int(lastSkip.skipped ?? 0)} training, ${int(lastSkip.evalSkipped ?? 0)} validation in epoch ${lastSkip.epoch + 1}` +
        ` (skipped in ${skipped.length} of ${epochs.length} epochs; onBadSample: skip)`,
    ]);
  }
  return table(['', ''], rows);
}

/**
 * The groups of the lr column: one per group, except a '<x>.no_decay' group that has its base
 * group's rate in every epoch (it is the same group at weight decay 0: one column says it).
 */
function lrColumns(epochs: EpochRecord[]): { index: number; label: string }[] {
  const last = epochs[epochs.length - 1];
  const names = last?.groups;
  const n = Math.max(0, ...epochs.map((e) => e.lr.length));
  const cols: { index: number; label: string }[] = [];
  for (let i = 0; i < n; i++) {
    const name = names?.[i];
    const base = name?.endsWith(NO_DECAY_SUFFIX) ? names!.indexOf(name.slice(0, -NO_DECAY_SUFFIX.length)) : -1;
    if (base >= 0 && epochs.every((e) => e.lr[i] === e.lr[base])) continue;
    cols.push({ index: i, label: groupLabel(name, i) });
  }
  return cols;
}

/** A metric value as the tables show it: rates (accuracy, top-k) in percent, others as numbers. */
function cell(key: string, v: number | undefined): string {
  return key === 'accuracy' || /^top\d+$/.test(key) ? pct(v) : num(v);
}

function epochTable(epochs: EpochRecord[]): string {
  const cols = lrColumns(epochs);
  const named = epochs.some((e) => e.groups?.some((g) => g !== null));
  const withSkips = epochs.some((e) => (e.skipped ?? 0) > 0 || (e.evalSkipped ?? 0) > 0);
  // metric columns by their metric names: train.loss, train.accuracy, eval.loss, eval.accuracy, eval.top5, ...
  const keys = (split: 'train' | 'eval') => {
    const seen = new Map<string, number>();
    for (const e of epochs) for (const [k] of splitScalars(split === 'train' ? e.train : e.eval)) seen.set(k, 0);
    const all = [...seen.keys()];
    // the training split shows its accuracy; top-k and macro-F1 are validation's columns
    return split === 'train' ? all.filter((k) => k === 'accuracy') : all;
  };
  const trainKeys = keys('train');
  const evalKeys = keys('eval');
  const hasEval = epochs.some((e) => e.eval);
  const rows = epochs.map((e) => [
    String(e.epoch + 1),
    e.phase ?? '',
    String(e.step),
    num(e.train?.loss),
    ...trainKeys.map((k) => cell(k, metricOf(e, `train.${k}`))),
    ...(hasEval ? [num(e.eval?.loss)] : []),
    ...evalKeys.map((k) => cell(k, metricOf(e, `eval.${k}`))),
    ...cols.map((c) => (e.lr[c.index] === undefined ? '–' : fmtLr(e.lr[c.index]!))),
    ...(withSkips ? [`${int(e.skipped ?? 0)} / ${int(e.evalSkipped ?? 0)}`] : []),
    e.best ? '★' : '',
  ]);
  const lrHead = cols.map((c) => (named || cols.length > 1 ? `lr ${c.label}` : 'lr'));
  return table(
    [
      'epoch',
      'phase',
      'step',
      'train.loss',
      ...trainKeys.map((k) => `train.${k}`),
      ...(hasEval ? ['eval.loss'] : []),
      ...evalKeys.map((k) => `eval.${k}`),
      ...lrHead,
      ...(withSkips ? ['skipped (train / eval)'] : []),
      'best',
    ],
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
table.confusion th{font-weight:600;background:#f6f6f6}table.confusion td{min-width:2.5em}
details{margin:.4em 0}summary{cursor:pointer}.warn{color:#a00;font-weight:600}
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
  if (opts.load) parts.push(loadSection(opts.load));
  if (bounds.length)
    parts.push(
      '<h2>Phases</h2>',
      table(
        ['phase', 'first epoch', 'first step'],
        bounds.map((b) => [b.phase, String(b.epoch + 1), String(b.step + 1)]),
      ),
    );
  parts.push('<h2>Charts</h2>');
  if (charts.length === 0) parts.push('<p class="muted">no metrics yet</p>');
  for (const c of charts)
    parts.push(
      `<figure id="chart-${esc(c.id)}" class="chart"><figcaption>${esc(c.title)}</figcaption>${c.svg}</figure>`,
    );
  if (epochs.length) parts.push('<h2>Epochs</h2>', epochTable(epochs));
  const compress = compressSection(records);
  if (compress) parts.push(compress);
  const lastEval = [...epochs].reverse().find((e) => e.eval?.perClassAccuracy?.length);
  if (lastEval)
    parts.push(`<h2>Per-class accuracy (epoch ${lastEval.epoch + 1})</h2>`, perClassTable(lastEval.eval!, names));
  // the confusion of the last epoch that has one: validation's, else training's (no validation split)
  const lastConf = [...epochs].reverse().find((e) => e.eval?.confusion || e.eval?.confused);
  const trainConf = lastConf ? undefined : [...epochs].reverse().find((e) => e.train?.confusion || e.train?.confused);
  if (lastConf)
    parts.push(confusionSection(lastConf.eval, names, `Confusion matrix, validation (epoch ${lastConf.epoch + 1})`));
  else if (trainConf)
    parts.push(confusionSection(trainConf.train, names, `Confusion matrix, training (epoch ${trainConf.epoch + 1})`));
  parts.push('</body></html>', '');
  return parts.join('\n');
}

/** Writes the report atomically (temp file + rename): a reader never sees half a page; a failed write is a WriteError. */
export async function writeReport(path: string, records: MetricsRecord[], opts: ReportOptions = {}): Promise<void> {
  writeFileAtomic(path, await renderReport(records, opts));
}
