// Load plans: which checkpoint tensor goes to which model key, decided from names, shapes and
// dtypes alone, so a plan can be previewed from file headers before anything is read.
import { ArgumentError, CheckpointError } from '../../errors.ts';
import type { DType } from '../../tensor/dtype.ts';
import { printable } from '../file.ts';
import {
  asList,
  compileRename,
  describePattern,
  type KeyPattern,
  keyMatcher,
  type RenameRule,
  renameRules,
} from './match.ts';
import { fmtShape, LoadPlanError, LoadReport, type LoadRow, type ReportContext } from './report.ts';

/**
 * Every step is optional; they run in this order on each checkpoint key:
 * subDict -> fromPrefix -> rename (in order) -> include / exclude -> match by name -> shape and dtype.
 * include / exclude see the key after renaming, i.e. the model's names (`exclude: ['fc']`).
 */
export interface LoadPlan {
  /** 'auto' (default): the checkpoint itself, or its `state_dict` / `model_state_dict` / `model` / `module` /
   * `net` / ... sub-dict; a dotted path (`'model.ema'`); '' for the checkpoint itself */
  subDict?: string;
  /** take only checkpoint keys under this prefix, and strip it (seed 001: `'classifier.'`) */
  fromPrefix?: string;
  rename?: RenameRule | readonly RenameRule[];
  /** keep only keys matching one of these (after renaming) */
  include?: KeyPattern | readonly KeyPattern[];
  /** drop keys matching any of these (after renaming); the model keeps its own values */
  exclude?: KeyPattern | readonly KeyPattern[];
  /** 'error' (default): a shape mismatch fails the load, naming the key and both shapes; 'skip': leave it */
  onShapeMismatch?: 'error' | 'skip';
  /** 'cast' (default): copy into the model's dtype (reported); 'error': fail on any dtype difference */
  onDtypeMismatch?: 'cast' | 'error';
  /** missing (not defaulted) or unexpected keys fail the load (default false) */
  strict?: boolean;
  /** a plan that loads nothing is an error unless this is set (default false) */
  allowEmpty?: boolean;
  /** TF.js sources: 'auto' (default) maps Keras MobileNetV2 names and layouts to torchvision's; 'none' keeps Keras names */
  convert?: 'auto' | 'none' | 'keras-mobilenet_v2';
}

const PLAN_KEYS = [
  'subDict',
  'fromPrefix',
  'rename',
  'include',
  'exclude',
  'onShapeMismatch',
  'onDtypeMismatch',
  'strict',
  'allowEmpty',
  'convert',
];

/** Rejects unknown options and wrong types, naming them (plans come from recipes and flags too). */
export function checkPlan(plan: LoadPlan): void {
  if (typeof plan !== 'object' || plan === null) throw new ArgumentError('a load plan must be an object');
  for (const k of Object.keys(plan))
    if (!PLAN_KEYS.includes(k) && (plan as Record<string, unknown>)[k] !== undefined)
      throw new ArgumentError(`unknown load plan option '${k}'`, `options: ${PLAN_KEYS.join(', ')}`);
  const oneOf = (k: keyof LoadPlan, allowed: unknown[]) => {
    const v = plan[k];
    if (v !== undefined && !allowed.includes(v))
      throw new ArgumentError(
        `load plan ${k} must be ${allowed.map((a) => JSON.stringify(a)).join(' or ')}, got ${JSON.stringify(v)}`,
      );
  };
  oneOf('onShapeMismatch', ['error', 'skip']);
  oneOf('onDtypeMismatch', ['cast', 'error']);
  oneOf('strict', [true, false]);
  oneOf('allowEmpty', [true, false]);
  oneOf('convert', ['auto', 'none', 'keras-mobilenet_v2']);
  for (const k of ['subDict', 'fromPrefix'] as const)
    if (plan[k] !== undefined && typeof plan[k] !== 'string')
      throw new ArgumentError(`load plan ${k} must be a string`);
}

/** One model state-dict entry. */
export interface ModelSlot {
  key: string;
  dtype: DType;
  shape: number[];
  /** a parameter (counted in the report's parameter totals), not a buffer */
  parameter: boolean;
  /** the module fills it when absent (BatchNorm num_batches_tracked): never reported missing */
  hasDefault: boolean;
}

/** One checkpoint tensor, keyed within the sub-dict taken. */
export interface CheckpointEntry {
  key: string;
  dtype: DType;
  shape: number[];
  /** its name in the file when a converter renamed it (Keras -> torchvision) */
  origin?: string;
}

export function describePlan(plan: LoadPlan): string[] {
  const out: string[] = [];
  if (plan.fromPrefix) out.push(`fromPrefix '${plan.fromPrefix}'`);
  for (const r of renameRules(plan.rename)) out.push(`rename ${compileRename(r).describe}`);
  for (const p of asList(plan.include)) out.push(`include ${describePattern(p)}`);
  for (const p of asList(plan.exclude)) out.push(`exclude ${describePattern(p)}`);
  if (plan.onShapeMismatch === 'skip') out.push("onShapeMismatch 'skip'");
  if (plan.onDtypeMismatch === 'error') out.push("onDtypeMismatch 'error'");
  if (plan.strict) out.push('strict');
  return out;
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Decides the load: a report with a row for every model and checkpoint key, and `report.error` set
 * when the plan cannot be carried out (shape mismatches under 'error', strict, nothing loaded).
 * Throws only for a malformed plan or a rename that maps two checkpoint keys to one name.
 */
export function planLoad(
  entries: Iterable<CheckpointEntry>,
  slots: readonly ModelSlot[],
  plan: LoadPlan,
  ctx: Omit<ReportContext, 'plan'>,
): LoadReport {
  checkPlan(plan);
  const rules = renameRules(plan.rename).map(compileRename);
  const inc = asList(plan.include).map((p) => ({ p, test: keyMatcher(p), hits: 0 }));
  const exc = asList(plan.exclude).map((p) => ({ p, test: keyMatcher(p), hits: 0 }));
  const slotOf = new Map(slots.map((s) => [s.key, s]));
  const fromOf = new Map<string, string>();
  const byKey = new Map<string, LoadRow>();
  const extra: LoadRow[] = [];
  const notes = [...ctx.notes];
  let n = 0;
  for (const e of entries) {
    n++;
    const from = e.origin ?? e.key;
    let key = e.key;
    const base = { from, shape: e.shape, dtype: e.dtype };
    if (plan.fromPrefix) {
      if (!key.startsWith(plan.fromPrefix)) {
        extra.push(row('excluded', key, base, undefined, `fromPrefix '${plan.fromPrefix}'`));
        continue;
      }
      key = key.slice(plan.fromPrefix.length);
    }
    for (const r of rules) {
      key = r.apply(key);
      if (typeof key !== 'string') throw new ArgumentError(`rename ${r.describe} returned ${typeof key} for '${from}'`);
    }
    const twin = fromOf.get(key);
    if (twin !== undefined)
      throw new CheckpointError(
        ctx.file,
        `the plan maps both '${printable(twin)}' and '${printable(from)}' to '${printable(key)}'`,
        'make the rename rules more specific, or exclude one of them',
      );
    fromOf.set(key, from);
    const slot = slotOf.get(key);
    let by: string | undefined;
    if (inc.length) {
      const hit = inc.find((i) => i.test(key));
      if (hit) hit.hits++;
      else by = 'not included';
    }
    const ex = by ? undefined : exc.find((x) => x.test(key));
    if (ex) {
      ex.hits++;
      by = `exclude ${describePattern(ex.p)}`;
    }
    const r = row(by ? 'excluded' : statusOf(e, slot, plan), key, base, slot, by);
    if (slot) byKey.set(key, r);
    else extra.push(r);
  }
  for (const m of [...inc, ...exc])
    if (m.hits === 0)
      notes.push(`${inc.includes(m) ? 'include' : 'exclude'} ${describePattern(m.p)} matched no checkpoint key`);
  const rows: LoadRow[] = slots.map(
    (s) =>
      byKey.get(s.key) ?? row(s.hasDefault ? 'default' : 'missing', s.key, { from: null, shape: null, dtype: null }, s),
  );
  rows.push(...extra);
  const unexpected = extra.filter((r) => r.status === 'unexpected').map((r) => r.key);
  const absent = rows.filter((r) => r.status === 'missing' || r.status === 'default').map((r) => r.key);
  const hint = suggestRename(unexpected, absent);
  if (hint) notes.push(`${hint.text} would match ${hint.count} more keys`);
  const report = new LoadReport({ ...ctx, notes, plan: describePlan(plan) }, rows, n);
  report.setError(failure(report, plan, hint?.text));
  return report;
}

function statusOf(e: CheckpointEntry, slot: ModelSlot | undefined, plan: LoadPlan): LoadRow['status'] {
  if (!slot) return 'unexpected';
  if (sameShape(e.shape, slot.shape)) return 'loaded';
  return plan.onShapeMismatch === 'skip' ? 'skipped' : 'mismatch';
}

function row(
  status: LoadRow['status'],
  key: string,
  c: { from: string | null; shape: number[] | null; dtype: DType | null },
  slot?: ModelSlot,
  by?: string,
): LoadRow {
  return {
    status,
    key,
    ...c,
    modelShape: slot?.shape ?? null,
    modelDtype: slot?.dtype ?? null,
    parameter: slot?.parameter ?? false,
    ...(by ? { by } : {}),
  };
}

const list = (keys: readonly string[], max = 6) =>
  keys.length > max ? `${keys.slice(0, max).join(', ')}, ... (${keys.length} in all)` : keys.join(', ');

function failure(report: LoadReport, plan: LoadPlan, rename?: string): LoadPlanError | null {
  const parts: string[] = [];
  let hint: string | undefined;
  if (report.mismatched.length) {
    const m = report.mismatched;
    for (const x of m.slice(0, 6)) {
      const named = x.from !== x.key ? ` (checkpoint key ${x.from})` : '';
      parts.push(
        `size mismatch for ${x.key}${named}: checkpoint ${fmtShape(x.checkpoint)}, model ${fmtShape(x.model)}`,
      );
    }
    if (m.length > 6) parts.push(`... ${m.length - 6} more size mismatches`);
    const modules = [...new Set(m.map((x) => x.key.replace(/\.[^.]+$/, '')))];
    const what = modules.length <= 3 ? `exclude: [${modules.map((s) => `'${s}'`).join(', ')}]` : 'exclude: [...]';
    hint = `${m.length === 1 ? 'exclude it' : 'exclude them'} (${what}) or set onShapeMismatch: 'skip'`;
  }
  if (plan.onDtypeMismatch === 'error' && report.cast.length) {
    const c = report.cast;
    parts.push(
      `dtype mismatch for ${list(
        c.map((x) => `${x.key} (${x.from} -> ${x.to})`),
        4,
      )}`,
    );
    hint ??= "set onDtypeMismatch: 'cast' to convert to the model's dtypes";
  }
  if (plan.strict && (report.missing.length || report.unexpected.length)) {
    if (report.missing.length) parts.push(`strict: model keys missing from the checkpoint: ${list(report.missing)}`);
    if (report.unexpected.length) parts.push(`strict: unexpected checkpoint keys: ${list(report.unexpected)}`);
    hint ??= rename ?? 'set strict: false to keep missing keys as initialised, or exclude the unexpected ones';
  }
  if (report.loaded.length === 0 && report.counts.checkpoint > 0 && !plan.allowEmpty && parts.length === 0) {
    const ck = report.rows().find((r) => r.from !== null);
    const md = report.rows().find((r) => r.modelShape !== null);
    parts.push(
      `no checkpoint tensor matches a model key (checkpoint keys look like '${ck?.key ?? ''}', model keys like '${md?.key ?? ''}')`,
    );
    const alt = report.subDict.alternatives;
    hint =
      rename ??
      (alt.length
        ? `pick another sub-dict (subDict: ${alt.map((a) => `'${a}'`).join(' or ')})`
        : 'rename the checkpoint keys to the model names (graft inspect FILE --against MODEL previews a plan)');
  }
  return parts.length ? new LoadPlanError(report, parts.join('; '), hint) : null;
}

/**
 * The prefix change that would turn most unexpected checkpoint keys into missing model keys
 * (`module.conv1.weight` -> `conv1.weight`: stripPrefix 'module.'), or null when none helps.
 */
export function suggestRename(
  unexpected: readonly string[],
  missing: readonly string[],
): { text: string; count: number } | null {
  if (!unexpected.length || !missing.length) return null;
  const miss = new Set(missing);
  const bySuffix = new Map<string, string[]>();
  for (const m of missing)
    for (let j = m.indexOf('.'); j >= 0; j = m.indexOf('.', j + 1)) {
      const s = m.slice(j + 1);
      bySuffix.set(s, [...(bySuffix.get(s) ?? []), m.slice(0, j + 1)]);
    }
  const votes = new Map<string, number>();
  const vote = (from: string, to: string) => {
    const text =
      from === ''
        ? `rename: [addPrefix('${to}')]`
        : to === ''
          ? `rename: [stripPrefix('${from}')]`
          : `rename: [replacePrefix('${from}', '${to}')]`;
    votes.set(text, (votes.get(text) ?? 0) + 1);
  };
  for (const u of unexpected.slice(0, 5000))
    for (let i = -1; i < u.length; i = u.indexOf('.', i + 1) < 0 ? u.length : u.indexOf('.', i + 1)) {
      const rest = u.slice(i + 1);
      const from = u.slice(0, i + 1);
      if (from !== '' && miss.has(rest)) vote(from, '');
      for (const to of bySuffix.get(rest) ?? []) if (to !== from) vote(from, to);
    }
  let best: { text: string; count: number } | null = null;
  for (const [text, count] of votes) if (!best || count > best.count) best = { text, count };
  // a prefix change that fits a handful of keys out of many is a coincidence, not a fix
  const enough = Math.max(2, 0.3 * Math.min(unexpected.length, missing.length));
  return best && (best.count >= enough || best.count === unexpected.length) ? best : null;
}
