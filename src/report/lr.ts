// Learning rates as a run records them: per-step values from the epoch records' `lrSteps`, and the
// names shown for param groups. A '<group>.no_decay' group (the same parameters' biases and norms
// at weight decay 0) always moves with its group, so it is shown once, under the group's name; only
// if its rate ever differs does it get its own series, labelled '<group> (no decay)'.
import type { EpochRecord, LrChange, MetricsRecord, StepRecord } from './records.ts';

export const NO_DECAY_SUFFIX = '.no_decay';

/** One learning rate of one group from a step on (a step function). */
export interface LrPoint {
  /** 0-based index of the optimizer step the rate applies from */
  step: number;
  group: number;
  name: string;
  value: number;
}

/** The name a group is shown under: its own, else 'group i'; 'x.no_decay' reads 'x (no decay)'. */
export function groupLabel(name: string | null | undefined, i: number): string {
  if (!name) return `group ${i}`;
  return name.endsWith(NO_DECAY_SUFFIX) ? `${name.slice(0, -NO_DECAY_SUFFIX.length)} (no decay)` : name;
}

/** For each group, the index of the group it is drawn with: its base group when a no-decay twin with equal rates. */
function twinOf(names: (string | null)[] | undefined): Map<number, number> {
  const out = new Map<number, number>();
  if (!names) return out;
  names.forEach((n, i) => {
    if (!n?.endsWith(NO_DECAY_SUFFIX)) return;
    const base = names.indexOf(n.slice(0, -NO_DECAY_SUFFIX.length));
    if (base >= 0) out.set(i, base);
  });
  return out;
}

/**
 * The groups to show for learning rates `lrs` with `names`: every group except a no-decay twin
 * whose rate equals its base group's. Returns [index, label] pairs in group order.
 */
export function shownGroups(names: (string | null)[] | undefined, lrs: number[]): [number, string][] {
  const twins = twinOf(names);
  const out: [number, string][] = [];
  lrs.forEach((v, i) => {
    const base = twins.get(i);
    if (base !== undefined && lrs[base] === v) return;
    out.push([i, groupLabel(names?.[i], i)]);
  });
  return out;
}

/** `lrs` as text: 'backbone 1.00e-4, head 1.00e-3' (names where known, no-decay twins folded in). */
export function formatLrs(names: (string | null)[] | undefined, lrs: number[]): string {
  const named = names?.some((n) => n !== null) ?? false;
  return shownGroups(names, lrs)
    .map(([i, label]) => (named ? `${label} ${fmtLr(lrs[i]!)}` : fmtLr(lrs[i]!)))
    .join(', ');
}

export function fmtLr(v: number): string {
  return Number.isFinite(v) ? v.toExponential(2) : String(v);
}

const sameLrs = (a: number[] | undefined, b: number[]): boolean =>
  a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);

/** Appends `lr` at `step` to a change list when it differs from the last entry (the compact form). */
export function recordLr(changes: LrChange[], step: number, lr: number[]): void {
  if (!sameLrs(changes[changes.length - 1]?.lr, lr)) changes.push({ step, lr: [...lr] });
}

/**
 * The learning rate of every optimizer step of the run, as change points: from the epoch records'
 * `lrSteps`, then (for an epoch still running, or a file written without `lrSteps`) the step
 * records' rates. Each group's series ends with a point at the run's last step.
 */
export function lrPoints(records: MetricsRecord[]): LrPoint[] {
  const changes: { step: number; lr: number[]; groups?: (string | null)[] }[] = [];
  let end = 0; // optimizer steps covered by the epoch records so far
  for (const r of records) {
    if (r.type === 'epoch') {
      const e = r as EpochRecord;
      if (e.lrSteps?.length) {
        // the epoch's own per-step list is exact: it replaces what its step records said
        const first = e.lrSteps[0]!.step;
        while (changes.length && changes[changes.length - 1]!.step >= first) changes.pop();
        for (const c of e.lrSteps) changes.push({ step: c.step, lr: c.lr, groups: e.groups });
      } else if (!changes.some((c) => c.step >= end)) changes.push({ step: end, lr: e.lr, groups: e.groups });
      end = Math.max(end, e.step);
    } else if (r.type === 'step') {
      const s = r as StepRecord;
      if (s.step > end) changes.push({ step: s.step - 1, lr: s.lr, groups: s.groups });
    }
  }
  const last = records.reduce((m, r) => (r.type === 'run' ? m : Math.max(m, r.step)), 0);
  const points: LrPoint[] = [];
  changes.forEach((c, k) => {
    c.lr.forEach((value, group) => {
      if (!Number.isFinite(value)) return;
      const p = { step: c.step, group, name: c.groups?.[group] ?? `group ${group}`, value };
      points.push(p);
      // the last rates hold to the end of the run: a closing point draws their last stretch
      if (k === changes.length - 1 && last > c.step) points.push({ ...p, step: last });
    });
  });
  return foldTwins(points);
}

/** Folds each '<x>.no_decay' series into '<x>' when their rates are equal at every step; else labels it. */
function foldTwins(points: LrPoint[]): LrPoint[] {
  const byName = new Map<string, Map<number, number>>();
  for (const p of points) {
    const m = byName.get(p.name) ?? new Map<number, number>();
    byName.set(p.name, m);
    m.set(p.step, p.value);
  }
  const folded = new Set<string>();
  for (const [name, series] of byName) {
    if (!name.endsWith(NO_DECAY_SUFFIX)) continue;
    const base = byName.get(name.slice(0, -NO_DECAY_SUFFIX.length));
    if (base && base.size === series.size && [...series].every(([s, v]) => base.get(s) === v)) folded.add(name);
  }
  return points
    .filter((p) => !folded.has(p.name))
    .map((p) => (p.name.endsWith(NO_DECAY_SUFFIX) ? { ...p, name: groupLabel(p.name, p.group) } : p));
}
