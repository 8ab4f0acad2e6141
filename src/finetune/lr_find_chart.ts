// The LR finder's curve in a terminal: smoothed loss against log10(lr) on a character grid, the
// suggestion marked with a vertical rule and a diamond, lr ticks at powers of ten. Unicode by
// default, plain ASCII on request (logs, old terminals). Like fastai's plot_lr_find, the last 5
// points (where the loss shoots up) are left out.
import { fmtLr } from './lr.ts';
import type { LrSuggestion } from './lr_find_math.ts';

export interface LrChartOptions {
  /** plot columns (default 64) */
  width?: number;
  /** plot rows (default 14) */
  height?: number;
  /** plain ASCII instead of Unicode */
  ascii?: boolean;
  /** points left off the end (default 5, as fastai) */
  skipEnd?: number;
  /** a title line above the chart */
  title?: string;
}

const GLYPHS = {
  unicode: { dot: '•', rule: '┊', mark: '◆', axisY: '┤', axis: '│', corner: '└', axisX: '─', tick: '┬', off: '↑' },
  ascii: { dot: '*', rule: ':', mark: 'O', axisY: '+', axis: '|', corner: '+', axisX: '-', tick: '+', off: '^' },
};

const fmtLoss = (v: number): string => (Math.abs(v) >= 1000 || Math.abs(v) < 0.01 ? v.toExponential(2) : v.toFixed(3));

/**
 * The chart as lines of text. `lrs` and `losses` are the sweep's (each step's lr and smoothed
 * loss); `suggestion` is marked when given.
 */
export function lrFindChart(
  lrs: readonly number[],
  losses: readonly number[],
  suggestion?: LrSuggestion,
  o: LrChartOptions = {},
): string {
  const g = o.ascii ? GLYPHS.ascii : GLYPHS.unicode;
  const width = Math.max(16, o.width ?? 64);
  const height = Math.max(4, o.height ?? 14);
  const skip = o.skipEnd ?? 5;
  const n = lrs.length > skip + 1 ? lrs.length - skip : lrs.length;
  const pts = [] as { x: number; y: number }[];
  for (let i = 0; i < n; i++)
    if (Number.isFinite(losses[i]) && lrs[i]! > 0) pts.push({ x: Math.log10(lrs[i]!), y: losses[i]! });
  const lines: string[] = [];
  if (o.title) lines.push(o.title);
  if (pts.length < 2) {
    lines.push(`  (${pts.length} finite point${pts.length === 1 ? '' : 's'}: nothing to draw)`);
    return lines.join('\n');
  }
  const x0 = pts[0]!.x;
  const x1 = pts[pts.length - 1]!.x;
  let y0 = Math.min(...pts.map((p) => p.y));
  let y1 = Math.max(...pts.map((p) => p.y));
  // the blow-up at the end would squash the part that matters: the top is half again the rise
  // before the minimum above it, and what climbs past it runs off the top row
  const k = pts.findIndex((p) => p.y === y0);
  const before = Math.max(...pts.slice(0, k + 1).map((p) => p.y));
  if (before > y0) y1 = Math.min(y1, before + (before - y0) * 0.5);
  if (y1 - y0 < 1e-12) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const col = (x: number) => (x1 > x0 ? Math.round(((x - x0) / (x1 - x0)) * (width - 1)) : 0);
  const row = (y: number) => Math.max(0, Math.round(((y1 - y) / (y1 - y0)) * (height - 1)));
  const grid = Array.from({ length: height }, () => new Array<string>(width).fill(' '));
  // each column shows the mean of the points that fall into it, joined to the previous column
  const sums = new Map<number, { s: number; k: number }>();
  for (const p of pts) {
    const c = col(p.x);
    const e = sums.get(c) ?? { s: 0, k: 0 };
    e.s += p.y;
    e.k += 1;
    sums.set(c, e);
  }
  const cols = [...sums.keys()].sort((a, b) => a - b);
  let prev: { c: number; r: number } | undefined;
  for (const c of cols) {
    const e = sums.get(c)!;
    const r = row(e.s / e.k);
    // join to the previous column: along the columns between, then down or up this one
    let from = prev?.r ?? r;
    if (prev && c > prev.c + 1)
      for (let k = prev.c + 1; k < c; k++) {
        from = Math.round(prev.r + ((r - prev.r) * (k - prev.c)) / (c - prev.c));
        grid[from]![k] = g.dot;
      }
    for (let k = Math.min(from, r); k <= Math.max(from, r); k++) grid[k]![c] = g.dot;
    if (e.s / e.k > y1) grid[0]![c] = g.off;
    prev = { c, r };
  }
  if (suggestion && Number.isFinite(suggestion.lr) && suggestion.lr > 0) {
    const lx = Math.log10(suggestion.lr);
    if (lx >= x0 && lx <= x1) {
      const c = col(lx);
      for (let r = 0; r < height; r++) if (grid[r]![c] === ' ') grid[r]![c] = g.rule;
      const py = Number.isFinite(suggestion.point.loss) ? suggestion.point.loss : undefined;
      const pc = col(Math.log10(suggestion.point.lr));
      if (py !== undefined && pc >= 0 && pc < width) grid[Math.min(height - 1, Math.max(0, row(py)))]![pc] = g.mark;
    }
  }
  const labelW = Math.max(fmtLoss(y0).length, fmtLoss(y1).length);
  for (let r = 0; r < height; r++) {
    const v = r === 0 ? y1 : r === height - 1 ? y0 : r === Math.floor((height - 1) / 2) ? (y0 + y1) / 2 : undefined;
    const label = v === undefined ? ''.padStart(labelW) : fmtLoss(v).padStart(labelW);
    lines.push(`${label} ${v === undefined ? g.axis : g.axisY}${grid[r]!.join('')}`.trimEnd());
  }
  // x axis: ticks at the powers of ten inside the range
  const axis = new Array<string>(width).fill(g.axisX);
  const under = new Array<string>(width + 8).fill(' ');
  for (let e = Math.ceil(x0 - 1e-9); e <= Math.floor(x1 + 1e-9); e++) {
    const c = col(e);
    axis[c] = g.tick;
    const text = `1e${e}`;
    const start = Math.max(0, Math.min(width + 8 - text.length, c - Math.floor(text.length / 2)));
    if (under.slice(Math.max(0, start - 1), start + text.length + 1).every((ch) => ch === ' '))
      for (let k = 0; k < text.length; k++) under[start + k] = text[k]!;
  }
  lines.push(`${''.padStart(labelW)} ${g.corner}${axis.join('')}`);
  lines.push(`${''.padStart(labelW + 2)}${under.join('').trimEnd()}`);
  const clipped = pts.some((p) => p.y > y1) ? `; ${g.off} above the top` : '';
  lines.push(`${''.padStart(labelW + 2)}x: learning rate (log scale), y: smoothed loss${clipped}`);
  if (suggestion)
    lines.push(
      `${''.padStart(labelW + 2)}${g.mark} ${suggestion.method}: lr ${fmtLr(suggestion.lr)}` +
        (suggestion.method === 'minimum' ? ` (the minimum at ${fmtLr(suggestion.point.lr)} / 10)` : ''),
    );
  return lines.join('\n');
}
