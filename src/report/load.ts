// The checkpoint load of a run in the report: which keys and how many parameters came from the
// checkpoint, which were skipped, renamed, excluded or are new. The data is src/io's LoadReport as
// JSON (load-report.json in the run folder); this layer reads it as plain data.
import { esc, int, table } from './markup.ts';

/** What the report reads of a load report (LoadReport.toJSON()). */
export interface LoadSummary {
  file: string;
  format?: string;
  ok?: boolean;
  error?: string | null;
  plan?: string[];
  notes?: string[];
  counts: Record<string, number>;
  /** element counts of the model's parameters */
  parameters: { total: number; loaded: number; new: number };
  renamed?: { from: string; to: string }[];
  skippedShape?: { key: string; from: string; checkpoint: number[]; model: number[] }[];
  excluded?: { key: string; from: string; by: string }[];
  missing?: string[];
  unexpected?: string[];
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The summary from parsed JSON, or undefined when it is not a load report. */
export function parseLoadSummary(v: unknown): LoadSummary | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const p = o.parameters as Record<string, unknown> | undefined;
  if (typeof o.file !== 'string' || !o.counts || typeof o.counts !== 'object' || !p) return undefined;
  if (!isNum(p.total) || !isNum(p.loaded)) return undefined;
  return o as unknown as LoadSummary;
}

/** Rows past this many are summarised as '... and N more' (a 300-key model stays readable). */
const MAX_ROWS = 200;

function list(title: string, head: string[], rows: string[][]): string {
  if (rows.length === 0) return '';
  const shown = rows.slice(0, MAX_ROWS);
  const more = rows.length > MAX_ROWS ? `<p class="muted">… and ${int(rows.length - MAX_ROWS)} more</p>` : '';
  return `<details><summary>${esc(title)} (${int(rows.length)})</summary>\n${table(head, shown)}${more}</details>`;
}

const shape = (s: number[] | undefined): string => (Array.isArray(s) ? `[${s.join(', ')}]` : '-');

/** The load section: counts, a warning when under half the parameters came from the checkpoint, the key lists. */
export function loadSection(l: LoadSummary): string {
  const c = l.counts;
  const p = l.parameters;
  const share = p.total > 0 ? p.loaded / p.total : 0;
  const rows: string[][] = [
    ['checkpoint', `${l.file}${l.format ? ` (${l.format})` : ''}`],
    ['model keys loaded', `${int(c.loaded ?? 0)} of ${int(c.model ?? 0)}`],
    ['parameters loaded', `${int(p.loaded)} of ${int(p.total)} (${(share * 100).toFixed(1)}%)`],
    ['parameters left as initialised', int(p.new ?? p.total - p.loaded)],
    ['renamed', int(c.renamed ?? 0)],
    ['skipped (shape differs)', int(c.skippedShape ?? 0)],
    ['excluded', int(c.excluded ?? 0)],
    ['new (not in the checkpoint)', int(c.missing ?? 0)],
    ['unexpected (not in the model)', int(c.unexpected ?? 0)],
  ];
  if (l.plan?.length) rows.push(['plan', l.plan.join('; ')]);
  for (const n of l.notes ?? []) rows.push(['note', n]);
  if (l.error) rows.push(['error', l.error]);
  const warn =
    p.total > 0 && share < 0.5
      ? `<p class="warn">Less than half of the model's parameters (${(share * 100).toFixed(1)}%) came from the checkpoint: most of the model trains from its initial values.</p>`
      : '';
  return [
    '<h2>Checkpoint load</h2>',
    warn,
    table(['', ''], rows),
    list(
      'skipped: shape differs',
      ['model key', 'checkpoint key', 'checkpoint shape', 'model shape'],
      (l.skippedShape ?? []).map((s) => [s.key, s.from, shape(s.checkpoint), shape(s.model)]),
    ),
    list(
      'renamed',
      ['checkpoint key', 'model key'],
      (l.renamed ?? []).map((r) => [r.from, r.to]),
    ),
    list(
      'new: left as initialised',
      ['model key'],
      (l.missing ?? []).map((k) => [k]),
    ),
    list(
      'excluded',
      ['model key', 'checkpoint key', 'by'],
      (l.excluded ?? []).map((e) => [e.key, e.from, e.by]),
    ),
    list(
      'unexpected: in the checkpoint, not in the model',
      ['key'],
      (l.unexpected ?? []).map((k) => [k]),
    ),
  ]
    .filter((s) => s !== '')
    .join('\n');
}
