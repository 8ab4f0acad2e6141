// Learning-rate charts for plans: ASCII (log scale, one letter per series, lower case where the
// series is frozen) and a small SVG.

export interface Series {
  label: string;
  /** one value per x position */
  values: number[];
  /** frozen at each x position */
  frozen: boolean[];
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

function range(series: Series[]): [number, number] | undefined {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const s of series)
    for (const v of s.values)
      if (v > 0) {
        lo = Math.min(lo, Math.log10(v));
        hi = Math.max(hi, Math.log10(v));
      }
  if (!Number.isFinite(lo)) return undefined;
  if (hi - lo < 1e-9) return [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

const sci = (l: number): string => {
  const s = (10 ** l).toExponential(0).replace('e+', 'e');
  return s.padStart(6);
};

/** x positions sampled to at most `width` columns. */
export function sample<T>(xs: T[], width: number): { index: number[]; values: T[] } {
  if (xs.length <= width) return { index: xs.map((_, i) => i), values: xs };
  const index = Array.from({ length: width }, (_, c) => Math.floor((c * xs.length) / width));
  return { index, values: index.map((i) => xs[i]!) };
}

/**
 * ASCII chart: rows are log10(lr) from high to low; upper case where the series trains, lower
 * case where it is frozen; zeros are not drawn. `ticks` label x positions (e.g. epoch starts).
 */
export function asciiChart(
  series: Series[],
  o: { height?: number; ticks?: [number, string][]; xLabel?: string },
): string {
  const r = range(series);
  if (!r || series.length === 0) return '  (no positive learning rates to chart)';
  const [lo, hi] = r;
  const height = o.height ?? 10;
  const width = Math.max(...series.map((s) => s.values.length));
  const grid = Array.from({ length: height }, () => new Array<string>(width).fill(' '));
  series.forEach((s, k) => {
    const ch = LETTERS[k % LETTERS.length]!;
    s.values.forEach((v, x) => {
      if (!(v > 0)) return;
      const y = Math.round(((Math.log10(v) - lo) / (hi - lo)) * (height - 1));
      grid[height - 1 - y]![x] = s.frozen[x] ? ch : ch.toUpperCase();
    });
  });
  const lines = grid.map((row, i) => {
    const level = hi - (i * (hi - lo)) / (height - 1);
    const label = i === 0 || i === height - 1 || i === Math.floor(height / 2) ? sci(level) : '      ';
    return `${label} |${row.join('').trimEnd()}`;
  });
  lines.push(`       +${'-'.repeat(width)}`);
  const axis = new Array<string>(width + 1).fill(' ');
  for (const [x, label] of o.ticks ?? [])
    if (x < width && axis.slice(x, x + label.length).every((c) => c === ' ')) {
      for (let i = 0; i < label.length && x + i <= width; i++) axis[x + i] = label[i]!;
    }
  lines.push(`        ${axis.join('').trimEnd()}${o.xLabel ? `  (${o.xLabel})` : ''}`);
  const legend = series.map((s, k) => `${LETTERS[k % LETTERS.length]!.toUpperCase()} ${s.label}`).join(', ');
  lines.push(`  ${legend}; lower case: frozen; log scale; where lines meet the later letter shows`);
  return lines.join('\n');
}

/** A small SVG line chart (log10 lr against x), one polyline per series, dashed where frozen. */
export function svgChart(series: Series[], o: { width?: number; height?: number } = {}): string {
  const W = o.width ?? 640;
  const H = o.height ?? 240;
  const pad = 40;
  const r = range(series);
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-size="10">`];
  if (r) {
    const [lo, hi] = r;
    const px = (x: number) => pad + ((W - 2 * pad) * x) / Math.max(1, n - 1);
    const py = (v: number) => H - pad - ((H - 2 * pad) * (Math.log10(v) - lo)) / (hi - lo);
    series.forEach((s, k) => {
      const color = colors[k % colors.length]!;
      let seg: string[] = [];
      let frozen = false;
      const flush = () => {
        if (seg.length > 1)
          parts.push(
            `<polyline fill="none" stroke="${color}"${frozen ? ' stroke-dasharray="3,3"' : ''} points="${seg.join(' ')}"/>`,
          );
        seg = [];
      };
      s.values.forEach((v, x) => {
        if (!(v > 0) || s.frozen[x] !== frozen) {
          const last = seg[seg.length - 1];
          flush();
          if (last && v > 0) seg.push(last);
          frozen = s.frozen[x] ?? false;
        }
        if (v > 0) seg.push(`${px(x).toFixed(1)},${py(v).toFixed(1)}`);
      });
      flush();
      parts.push(`<text x="${W - pad + 4}" y="${pad + 12 * k}" fill="${color}">${escapeXml(s.label)}</text>`);
    });
    parts.push(`<text x="2" y="${pad}">${(10 ** hi).toExponential(1)}</text>`);
    parts.push(`<text x="2" y="${H - pad}">${(10 ** lo).toExponential(1)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}
