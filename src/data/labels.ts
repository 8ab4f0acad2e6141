// Labels to class indices, and the checks that keep a typo'd label from becoming a class of its own:
// declared classes refuse unknown labels; undeclared, a rare label that looks like a frequent one
// is named in a warning with its file and lines.
import { editDistance } from '../util/spelling.ts';
import { type BadSample, DataError, type OnBadSample } from './errors.ts';
import { byCodePoint } from './manifest.ts';
import { type WarnFn, WarnLimiter } from './warn.ts';

/** A label value as a class name: numbers as their digits, strings trimmed. */
export const labelName = (v: unknown): string =>
  typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : String(v);

const isIndex = (s: string) => /^\d+$/.test(s);

/**
 * How labels map onto declared classes: by name, or (when every label is an integer and no class
 * name is one) as indices into the list, as IDX labels are.
 */
export function declaredLookup(classes: readonly string[], labels: readonly string[]): (label: string) => number {
  const byIndex = labels.length > 0 && labels.every(isIndex) && !classes.some(isIndex);
  const map = new Map(classes.map((c, k) => [c, k]));
  return byIndex ? (s) => (Number(s) < classes.length ? Number(s) : -1) : (s) => map.get(s) ?? -1;
}

/** Why a label is not one of the declared classes, with the nearest class name when one is close. */
export function unknownLabelReason(label: string, classes: readonly string[]): string {
  if (isIndex(label) && !classes.some(isIndex))
    return `label ${label} is outside the ${classes.length} declared classes (0..${classes.length - 1})`;
  const near = nearest(label, classes);
  return `label '${label}' is not one of the ${classes.length} declared classes${near ? ` (did you mean '${near}'?)` : ''}`;
}

/**
 * Maps label names to class indices. With `classes` declared, names (or integer indices) map through
 * it, and an unknown label is an error. Otherwise integer labels are used as they are (classes
 * '0'..'max') and names are sorted like ImageFolder's classes.
 */
export function labelsToIndices(
  labels: readonly string[],
  file: string,
  classes?: readonly string[],
): { targets: number[]; classes: string[] } {
  if (classes) {
    const lookup = declaredLookup(classes, labels);
    const targets = labels.map((s) => {
      const k = lookup(s);
      if (k < 0) throw new DataError(file, unknownLabelReason(s, classes));
      return k;
    });
    return { targets, classes: [...classes] };
  }
  if (labels.length && labels.every(isIndex)) {
    const targets = labels.map(Number);
    const max = targets.reduce((m, t) => Math.max(m, t), 0);
    return { targets, classes: Array.from({ length: max + 1 }, (_, k) => String(k)) };
  }
  const names = [...new Set(labels)].sort(byCodePoint);
  const map = new Map(names.map((c, k) => [c, k]));
  return { targets: labels.map((s) => map.get(s)!), classes: names };
}

export { editDistance };

const squash = (s: string) => s.toLowerCase().replace(/[\s_\-.]+/g, '');

// on squashed forms x, y of a, b
function alike(a: string, b: string, x: string, y: string): boolean {
  if (a === b || a.length > 64 || b.length > 64) return false;
  if (x === y) return true;
  // 1 vs 7, stage_2 vs stage_3: numbers name different classes, not typos
  if (/\d/.test(x) && x.replace(/\d+/g, '#') === y.replace(/\d+/g, '#')) return false;
  const len = Math.min(x.length, y.length);
  if (len < 3) return false;
  const k = len >= 6 ? 2 : 1;
  return Math.abs(x.length - y.length) <= k && editDistance(x, y, k) <= k;
}

/** Two class names one slip apart: equal but for case, spaces, '_', '-', '.', or within 1 edit (2 from 6 characters on). */
export function looksAlike(a: string, b: string): boolean {
  return alike(a, b, squash(a), squash(b));
}

function nearest(label: string, names: readonly string[]): string | undefined {
  return names.find((n) => looksAlike(label, n));
}

/** Where each label occurs: its count and its first few lines (or none, for folders). */
export type LabelCounts = Map<string, { count: number; lines: number[] }>;

export function countLabels(labels: readonly string[], lines?: readonly number[]): LabelCounts {
  const out: LabelCounts = new Map();
  labels.forEach((s, k) => {
    const e = out.get(s) ?? { count: 0, lines: [] };
    if (!e.count) out.set(s, e);
    e.count++;
    const line = lines?.[k];
    if (line !== undefined && e.lines.length < 5) e.lines.push(line);
  });
  return out;
}

/**
 * Warns about each label that is rare (at most 1% of the rows, at least up to 2 rows) and looks like a
 * label with 5x its rows or more: most likely a typo that would otherwise train as a class of its own.
 * Integer labels are indices and are not compared. Returns the warnings made.
 */
export function warnNearDuplicateLabels(
  counts: LabelCounts,
  where: string,
  warn: WarnFn,
  unit: 'row' | 'image' = 'row',
): string[] {
  const total = [...counts.values()].reduce((s, e) => s + e.count, 0);
  const rare = Math.max(2, Math.floor(total * 0.01));
  const n = (k: number) => `${k} ${unit}${k === 1 ? '' : 's'}`;
  const said: string[] = [];
  // most frequent first: a rare label is compared only with labels of 5x its count, the first alike wins;
  // a budget keeps a long tail of distinct labels (ids as labels) from taking quadratic time
  const byCount = [...counts]
    .sort((a, b) => b[1].count - a[1].count)
    .map(([label, e]) => ({ label, count: e.count, squashed: squash(label) }));
  let budget = 200_000;
  for (const [label, e] of counts) {
    if (e.count > rare || isIndex(label)) continue;
    const squashed = squash(label);
    let best: [string, number] | undefined;
    for (const o of byCount) {
      if (o.count < 5 * e.count || budget-- <= 0) break;
      if (alike(label, o.label, squashed, o.squashed)) {
        best = [o.label, o.count];
        break;
      }
    }
    if (!best) continue;
    const lines = e.lines.length
      ? ` (line${e.lines.length > 1 ? 's' : ''} ${e.lines.join(', ')}${e.count > e.lines.length ? ', ...' : ''})`
      : '';
    const at = e.lines.length ? `${where}:${e.lines[0]}` : where;
    const msg =
      `${at}: label '${label}'${lines} has ${n(e.count)} and looks like a typo of '${best[0]}' (${n(best[1])}); ` +
      `it trains as a class of its own: ${unit === 'row' ? 'fix it' : 'rename the folder'}, or declare the classes (data.classes in a recipe, the classes option in the API) to refuse unknown ${unit === 'row' ? 'labels' : 'folders'}`;
    said.push(msg);
    warn(msg);
  }
  return said;
}

/**
 * The labels of table rows (manifests, text files) as class indices. Declared classes: a row with
 * another label is an error naming its line, or under 'skip' it is dropped and recorded in `bad`.
 * Undeclared: a rare label that looks like a typo of a frequent one is warned about.
 */
export function tableLabels<R extends { line: number; label: string }>(
  rows: readonly R[],
  file: string,
  o: {
    classes?: readonly string[];
    onBadSample?: OnBadSample;
    warn: WarnFn;
    bad: BadSample[];
    /** the name a dropped row is recorded under (its file, or manifest:line) */
    badName: (r: R) => string;
  },
): { rows: R[]; targets: number[]; classes: string[] } {
  const { classes } = o;
  if (!classes) {
    warnNearDuplicateLabels(
      countLabels(
        rows.map((r) => r.label),
        rows.map((r) => r.line),
      ),
      file,
      o.warn,
    );
    return {
      rows: [...rows],
      ...labelsToIndices(
        rows.map((r) => r.label),
        file,
      ),
    };
  }
  const lookup = declaredLookup(
    classes,
    rows.map((r) => r.label),
  );
  const kept: R[] = [];
  const targets: number[] = [];
  for (const r of rows) {
    const k = lookup(r.label);
    if (k >= 0) {
      kept.push(r);
      targets.push(k);
      continue;
    }
    const reason = unknownLabelReason(r.label, classes);
    if (o.onBadSample !== 'skip')
      throw new DataError(
        file,
        `line ${r.line}: ${reason}`,
        `fix the label, or add it to the declared classes (${classes.length <= 8 ? classes.join(', ') : `${classes.slice(0, 8).join(', ')}, ...`})`,
      );
    o.bad.push({ file: o.badName(r), reason });
  }
  return { rows: kept, targets, classes: [...classes] };
}

/** One warning line per row a dataset dropped while reading its table (rate-limited). */
export function warnDropped(bad: readonly BadSample[], warn: WarnFn): void {
  const w = new WarnLimiter(warn, 'rows skipped');
  for (const b of bad) w.note(`skipped ${b.file}: ${b.reason}`);
}
