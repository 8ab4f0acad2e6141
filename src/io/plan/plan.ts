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
  originalMatcher,
  type RenameRule,
  renameRules,
} from './match.ts';
import { fmtShape, LoadPlanError, LoadReport, type LoadRow, type ReportContext } from './report.ts';

/**
 * Every step is optional; they run in this order on each checkpoint key:
 * subDict -> includeOriginal / excludeOriginal -> fromPrefix -> rename (in order) -> include / exclude
 * -> match by name -> shape and dtype.
 * includeOriginal / excludeOriginal see the key as the file has it (`'classifier'`: every key
 * containing it, the seeds' `'classifier' in k`); include / exclude see the key after renaming,
 * i.e. the model's names (`exclude: ['fc']`). Tied model parameters (GPT-2's lm_head.weight is
 * transformer.wte.weight) are one slot: either name in the checkpoint fills both.
 */
export interface LoadPlan {
  /** 'auto' (default): the checkpoint itself, or its `state_dict` / `model_state_dict` / `model` / `module` /
   * `net` / ... sub-dict; a dotted path (`'model.ema'`); '' for the checkpoint itself */
  subDict?: string;
  /**
   * keep only checkpoint keys, as the file names them (before fromPrefix and rename), matching one of
   * these: a plain string matches keys containing it, a glob (`*`, `?`, `[`) the whole key, a RegExp
   * (or a '/source/flags' string) is searched in the key
   */
  includeOriginal?: KeyPattern | readonly KeyPattern[];
  /** drop checkpoint keys, as the file names them, matching any of these (patterns as includeOriginal) */
  excludeOriginal?: KeyPattern | readonly KeyPattern[];
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
  'includeOriginal',
  'excludeOriginal',
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
  /** the same tensor as this earlier key (tied weights: lm_head.weight -> transformer.wte.weight) */
  tiedTo?: string;
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
  for (const p of asList(plan.includeOriginal)) out.push(`includeOriginal ${describePattern(p)}`);
  for (const p of asList(plan.excludeOriginal)) out.push(`excludeOriginal ${describePattern(p)}`);
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
  const incO = asList(plan.includeOriginal).map((p) => ({ p, test: originalMatcher(p), hits: 0 }));
  const excO = asList(plan.excludeOriginal).map((p) => ({ p, test: originalMatcher(p), hits: 0 }));
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
    const byOriginal = filterOriginal(from, incO, excO);
    if (byOriginal) {
      extra.push(row('excluded', key, base, undefined, byOriginal));
      continue;
    }
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
  const filters: [string, { p: KeyPattern; hits: number }[]][] = [
    ['include', inc],
    ['exclude', exc],
    ['includeOriginal', incO],
    ['excludeOriginal', excO],
  ];
  for (const [name, list] of filters)
    for (const m of list) if (m.hits === 0) notes.push(`${name} ${describePattern(m.p)} matched no checkpoint key`);
  const rows: LoadRow[] = slots.map(
    (s) =>
      byKey.get(s.key) ?? row(s.hasDefault ? 'default' : 'missing', s.key, { from: null, shape: null, dtype: null }, s),
  );
  tieRows(rows, slots);
  for (const r of extra) rows.push(r);
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

const PRESENT: ReadonlySet<LoadRow['status']> = new Set(['loaded', 'skipped', 'mismatch']);

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
    inCheckpoint: slot !== undefined && PRESENT.has(status),
    ...(by ? { by } : {}),
  };
}

/**
 * Tied weights are one slot: in each group of model keys holding the same tensor, the first key the
 * checkpoint fills (else the first key) is the source; the others are 'tied' to it, never missing,
 * and never copied (one tensor, one value: the source's, as transformers ties after loading).
 */
function tieRows(rows: LoadRow[], slots: readonly ModelSlot[]): void {
  const groups = new Map<string, number[]>();
  slots.forEach((s, i) => {
    const root = s.tiedTo ?? s.key;
    groups.set(root, [...(groups.get(root) ?? []), i]);
  });
  for (const members of groups.values()) {
    if (members.length < 2) continue;
    const source = members.find((i) => rows[i]!.status === 'loaded') ?? members[0]!;
    const src = rows[source]!;
    for (const i of members) {
      if (i === source) continue;
      const r = rows[i]!;
      const ignored = r.from !== null && src.status === 'loaded' ? ` (its checkpoint value ${r.from} is not used)` : '';
      rows[i] = {
        ...r,
        status: 'tied',
        tiedTo: src.key,
        inCheckpoint: src.inCheckpoint,
        by: `tied to ${src.key}${ignored}`,
      };
    }
  }
}

/** includeOriginal / excludeOriginal: what removes the key as the file names it, or undefined. */
function filterOriginal(
  from: string,
  inc: { p: KeyPattern; test: (k: string) => boolean; hits: number }[],
  exc: { p: KeyPattern; test: (k: string) => boolean; hits: number }[],
): string | undefined {
  if (inc.length) {
    const hit = inc.find((i) => i.test(from));
    if (!hit) return 'not in includeOriginal';
    hit.hits++;
  }
  const ex = exc.find((x) => x.test(from));
  if (!ex) return undefined;
  ex.hits++;
  return `excludeOriginal ${describePattern(ex.p)}`;
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
  const excluded = report.excluded.length;
  if (report.loaded.length === 0 && excluded > 0 && excluded === report.counts.checkpoint && !plan.allowEmpty) {
    const by = new Map<string, number>();
    for (const x of report.excluded) by.set(x.by, (by.get(x.by) ?? 0) + 1);
    const why = [...by].map(([b, n]) => `${n} by ${b}`).join(', ');
    parts.push(`the plan's key filters removed every one of the ${excluded} checkpoint keys (${why})`);
    hint =
      'include / exclude match model names after renaming (a module path, a glob or a RegExp); ' +
      'includeOriginal / excludeOriginal match the names in the file (substring, glob or RegExp); ' +
      'graft inspect FILE --against MODEL shows each key';
  } else if (report.loaded.length === 0 && report.counts.checkpoint > 0 && !plan.allowEmpty && parts.length === 0) {
    const ck = report.rows().find((r) => r.from !== null && r.status !== 'excluded');
    const md = report.rows().find((r) => r.modelShape !== null);
    const also = excluded ? `; the plan's filters removed ${excluded} more` : '';
    parts.push(
      `no checkpoint tensor matches a model key (checkpoint keys look like '${ck?.key ?? ''}', model keys like '${md?.key ?? ''}'${also})`,
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
