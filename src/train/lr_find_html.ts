// The LR finder's results as files: lr_find.json (the curves, the suggestions, the settings) and
// lr_find.html, one self-contained page (inline SVG from the report's Vega-Lite renderer, no
// script, no network) with a chart per phase: smoothed loss against the lr on a log axis, the raw
// loss faint behind it, each suggestion as a rule and a point.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fmtLr } from '../finetune/index.ts';
import { renderSpec } from '../report/index.ts';
import { writeFileAtomic } from '../util/write.ts';
import type { LrFindResult } from './lr_find.ts';

export const LR_FIND_JSON = 'lr_find.json';
export const LR_FIND_HTML = 'lr_find.html';

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}figure{margin:1em 0}svg{max-width:100%;height:auto}.muted{color:#777}
.lr{font-size:1.3em;font-weight:600}`;

const COLORS = ['#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

/** The Vega-Lite spec of one sweep (the last 5 points left out, as fastai's plot). */
export function lrFindSpec(r: LrFindResult): Record<string, unknown> {
  const n = r.steps.length > 6 ? r.steps.length - 5 : r.steps.length;
  const finite = (s: LrFindResult['steps'][number]) => Number.isFinite(s.smoothed);
  const head = r.steps.slice(0, n).filter(finite);
  const shown = head.length >= 2 ? head : r.steps.filter(finite);
  const rows = shown.flatMap((s) => [
    { lr: s.lr, loss: s.smoothed, series: 'smoothed loss' },
    ...(Number.isFinite(s.loss) ? [{ lr: s.lr, loss: s.loss, series: 'loss' }] : []),
  ]);
  const ys = shown.map((s) => s.smoothed);
  const lo = Math.min(...ys);
  // as the terminal chart: the top is half again the rise before the minimum above it (the
  // blow-up at the end runs off the chart instead of squashing the valley)
  const before = Math.max(...ys.slice(0, ys.indexOf(lo) + 1));
  const hi = before > lo ? Math.min(Math.max(...ys), before + (before - lo) * 0.5) : Math.max(...ys);
  const pad = (hi - lo) * 0.1 || 0.1;
  const marks = r.suggestions.map((s, i) => ({
    lr: s.lr,
    x: s.point.lr,
    loss: s.point.loss,
    label: `${s.method} ${fmtLr(s.lr)}`,
    color: COLORS[i % COLORS.length],
  }));
  // ticks and grid lines at the powers of ten only (a log axis draws every minor tick otherwise)
  const lrs = shown.map((s) => s.lr);
  const decades: number[] = [];
  for (let e = Math.ceil(Math.log10(Math.min(...lrs)) - 1e-9); e <= Math.log10(Math.max(...lrs)) + 1e-9; e++)
    decades.push(10 ** e);
  const x = {
    field: 'lr',
    type: 'quantitative',
    scale: { type: 'log' },
    title: 'learning rate',
    axis: { format: '.0e', values: decades },
  };
  return {
    width: 640,
    height: 300,
    background: 'white',
    layer: [
      {
        data: { values: rows },
        mark: { type: 'line', clip: true },
        encoding: {
          x,
          y: { field: 'loss', type: 'quantitative', title: 'loss', scale: { domain: [lo - pad, hi + pad] } },
          color: {
            field: 'series',
            type: 'nominal',
            title: null,
            scale: { domain: ['smoothed loss', 'loss'], range: ['#1f77b4', '#c8d6e5'] },
            legend: { orient: 'top' },
          },
          order: { field: 'series', sort: 'ascending' },
        },
      },
      ...(marks.length
        ? [
            {
              data: { values: marks },
              mark: { type: 'rule', strokeDash: [4, 3] },
              encoding: { x: { ...x, field: 'lr' }, color: { field: 'color', type: 'nominal', scale: null } },
            },
            {
              data: { values: marks },
              mark: { type: 'point', filled: true, size: 80 },
              encoding: {
                x: { ...x, field: 'x' },
                y: { field: 'loss', type: 'quantitative' },
                color: { field: 'color', type: 'nominal', scale: null },
              },
            },
            {
              data: { values: marks },
              mark: { type: 'text', align: 'left', dx: 5, dy: -8, fontSize: 11 },
              encoding: {
                x: { ...x, field: 'lr' },
                y: { value: 12 },
                text: { field: 'label' },
                color: { field: 'color', type: 'nominal', scale: null },
              },
            },
          ]
        : []),
    ],
  };
}

const phaseTitle = (r: LrFindResult, i: number): string =>
  r.phase ? `Phase ${r.phase.index}${r.phase.name ? `: ${r.phase.name}` : ''}` : `Sweep ${i + 1}`;

/** The page: a summary table, then per sweep its chart, suggestions and the groups' lrs at the suggestion. */
export async function lrFindHtml(
  results: LrFindResult[],
  o: { title?: string; recipe?: string } = {},
): Promise<string> {
  const title = o.title ?? `graft lr-find${o.recipe ? `: ${o.recipe}` : ''}`;
  const parts = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${esc(title)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>${esc(title)}</h1>`,
    `<p class="muted">written ${esc(new Date().toISOString())}: an exponential learning-rate sweep per phase, the weights put back after each</p>`,
  ];
  for (const [i, r] of results.entries()) {
    parts.push(`<h2>${esc(phaseTitle(r, i))}</h2>`);
    const s = r.suggestions[0];
    parts.push(
      s
        ? `<p class="lr">suggested lr ${esc(fmtLr(s.lr))} <span class="muted">(${esc(s.method)}, for group ${esc(r.reference)}${r.runLr > 0 ? `: ${+(s.lr / r.runLr).toPrecision(3)} x the run's ${esc(fmtLr(r.runLr))}` : ''})</span></p>`
        : `<p class="lr">no suggestion: ${esc(r.problems.join('; '))}</p>`,
    );
    const facts = [
      ['sweep', `${fmtLr(r.startLr)} to ${fmtLr(r.endLr)} over ${r.numIt} steps`],
      ['steps run', `${r.steps.length} (${r.stopReason})`],
      ...(r.phase
        ? [
            ['optimizer', r.phase.optimizer],
            ['parameters', `${r.phase.trainable} trainable, ${r.phase.frozen} frozen`],
          ]
        : []),
      ['smoothing', `beta ${r.beta}; divergence at ${r.divThreshold} x the best`],
    ];
    parts.push(table(['', ''], facts));
    if (r.steps.filter((x) => Number.isFinite(x.smoothed)).length > 1)
      parts.push(`<figure>${await renderSpec(lrFindSpec(r))}</figure>`);
    if (r.suggestions.length)
      parts.push(
        table(
          ['method', 'lr', ...r.groups.map((g) => `${g.name} (x${+g.ratio.toPrecision(4)})`)],
          r.suggestions.map((x) => [x.method, fmtLr(x.lr), ...r.groups.map((g) => fmtLr(x.groupLrs[g.name]!))]),
        ),
      );
  }
  parts.push('</body></html>', '');
  return parts.join('\n');
}

function table(head: string[], rows: string[][]): string {
  const th = head.some((h) => h) ? `<thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>` : '';
  const tr = rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table>${th}<tbody>\n${tr}\n</tbody></table>`;
}

/** Writes DIR/lr_find.json and DIR/lr_find.html (each atomically); returns their paths. */
export async function writeLrFind(
  dir: string,
  results: LrFindResult[],
  o: { title?: string; recipe?: string } = {},
): Promise<{ json: string; html: string }> {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, LR_FIND_JSON);
  const html = join(dir, LR_FIND_HTML);
  // non-finite losses (a sweep that blew up) as null: JSON has no NaN
  const clean = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v);
  writeFileAtomic(
    json,
    `${JSON.stringify({ ...(o.recipe ? { recipe: o.recipe } : {}), sweeps: results }, clean, 1)}\n`,
  );
  writeFileAtomic(html, await lrFindHtml(results, o));
  return { json, html };
}
