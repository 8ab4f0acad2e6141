// The confusion matrix of a split, as epoch records carry it and the report shows it: the full
// matrix for up to CONFUSION_MAX_CLASSES classes (rows: actual, columns: predicted, shaded by the
// share of the row), else the most frequent mistakes as a list.
import { esc, int, pct, table } from './markup.ts';
import type { SplitMetrics } from './records.ts';

/** Up to this many classes the whole matrix is written into each epoch record (50² numbers). */
export const CONFUSION_MAX_CLASSES = 50;
/** Above it, this many of the most frequent (actual, predicted) mistakes. */
export const CONFUSED_PAIRS = 20;

/** The record's fields for flat counts (index actual * c + predicted). */
export function confusionFields(flat: ArrayLike<number>, c: number): Pick<SplitMetrics, 'confusion' | 'confused'> {
  if (!Number.isInteger(c) || c < 1 || flat.length !== c * c) return {};
  if (c <= CONFUSION_MAX_CLASSES)
    return { confusion: Array.from({ length: c }, (_, a) => Array.from({ length: c }, (_, p) => flat[a * c + p]!)) };
  const pairs: { actual: number; predicted: number; count: number }[] = [];
  for (let a = 0; a < c; a++)
    for (let p = 0; p < c; p++) {
      const count = flat[a * c + p]!;
      if (a !== p && count > 0) pairs.push({ actual: a, predicted: p, count });
    }
  pairs.sort((x, y) => y.count - x.count || x.actual - y.actual || x.predicted - y.predicted);
  return { confused: pairs.slice(0, CONFUSED_PAIRS) };
}

const isMatrix = (m: unknown): m is number[][] =>
  Array.isArray(m) && m.length > 0 && m.every((r) => Array.isArray(r) && r.length === m.length);

function matrixTable(m: number[][], names: string[] | undefined): string {
  const label = (i: number) => esc(names?.[i] ?? String(i));
  const head = `<tr><th>actual \\ predicted</th>${m.map((_, p) => `<th>${label(p)}</th>`).join('')}<th>items</th></tr>`;
  const rows = m.map((row, a) => {
    const total = row.reduce((s, v) => s + v, 0);
    const cells = row.map((v, p) => {
      const share = total > 0 ? v / total : 0;
      // the diagonal (right) in blue, mistakes in red; the shade is the share of the row
      const rgb = a === p ? '31,119,180' : '214,39,40';
      const bg = v > 0 ? ` style="background:rgba(${rgb},${(0.08 + 0.72 * share).toFixed(3)})"` : '';
      return `<td${bg} title="${esc(pct(share))} of ${label(a)}">${int(v)}</td>`;
    });
    return `<tr><th>${label(a)}</th>${cells.join('')}<td>${int(total)}</td></tr>`;
  });
  return `<table class="confusion"><thead>${head}</thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

/** The section for one split's metrics, or '' when the record has no confusion counts. */
export function confusionSection(m: SplitMetrics | undefined, names: string[] | undefined, caption: string): string {
  if (!m) return '';
  if (isMatrix(m.confusion))
    return `<h2>${esc(caption)}</h2>\n<p class="muted">rows: the actual class, columns: the predicted class; the shade is the share of the row</p>\n${matrixTable(m.confusion, names)}`;
  if (Array.isArray(m.confused) && m.confused.length) {
    const label = (i: number) => names?.[i] ?? String(i);
    return `<h2>${esc(caption)}: the most frequent mistakes</h2>\n${table(
      ['actual', 'predicted as', 'items'],
      m.confused.map((p) => [label(p.actual), label(p.predicted), int(p.count)]),
    )}`;
  }
  return '';
}
