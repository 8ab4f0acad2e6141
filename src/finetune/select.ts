// Selecting parameters by name: globs, regexes, module paths, layer groups, children ranges and
// the checkpoint load report, with negation and unions. Freezing and parameter groups share it.
import { ArgumentError } from '../errors.ts';
import { groupIndex, type ModelMeta, metaOf } from '../models/index.ts';
import type { Module, Parameter } from '../nn/index.ts';
import { globToRegExp } from '../util/glob.ts';

/**
 * Which parameters: resolved against the model's parameter names (namedParameters order).
 * - `'fc'`, `'layer1.0'`: a module path or exact parameter name (prefix on '.' boundaries)
 * - `'layer*.bn?.weight'`, `'*.bias'`: a glob (fnmatch: `*` crosses dots, `?`, `[ab]`)
 * - `'!fc'`, `'!fc.*'`: everything the rest does not match
 * - `/\.bias$/`: a regex tested against each name
 * - `[a, b]`: the union; `{ not: s }`: the complement
 * - `{ module: 'layer4.1' }`: a module path that must exist
 * - `{ group: 'layer4' }`, `{ group: [0, 1] }`, `{ group: -1 }`: registry layer groups by name or index
 * - `{ children: 'bert.encoder.layer', last: 1 }`, `{ children: '', first: 9 }`: a range of a module's children
 * - `{ loaded: true }`: parameters the checkpoint filled (false: the new ones), from a load report
 * - `{ inCheckpoint: true }`: parameters the checkpoint provides (after the load plan's filters),
 *   filled or not: a shape mismatch left as initialised still counts, as `name in
 *   checkpoint_state_dict`; false: the names it lacks (new layers, keys include / exclude left out)
 */
export type Selector =
  | string
  | RegExp
  | readonly Selector[]
  | { not: Selector }
  | { module: string }
  | { group: string | number | readonly (string | number)[] }
  | { children: string; first?: number; last?: number }
  | { loaded: boolean }
  | { inCheckpoint: boolean };

/** A checkpoint load report: the io layer's shape (only the key lists are read). */
export interface LoadReportLike {
  loaded: readonly string[];
  /** keys whose shapes differ, left as initialised (src/io's LoadReport) */
  skippedShape?: readonly { key: string; checkpoint?: readonly number[]; model?: readonly number[] }[];
  /** keys whose shapes differ under onShapeMismatch 'error' */
  mismatched?: readonly { key: string }[];
  /** model keys the checkpoint provides after the plan's filters: loaded, skipped for shape or mismatched */
  inCheckpoint?: readonly string[];
  skipped?: readonly (string | { key: string; reason?: string })[];
  missing?: readonly string[];
  unexpected?: readonly string[];
}

export interface SelectContext {
  model: Module;
  /** layer groups; default: metaOf(model) */
  meta?: ModelMeta;
  loadReport?: LoadReportLike;
}

/** The parameters of a model by name, in order, with what selectors need. */
export class ParamIndex {
  readonly model: Module;
  readonly names: string[];
  readonly params: Map<string, Parameter>;
  readonly meta: ModelMeta | undefined;
  readonly loadReport: LoadReportLike | undefined;

  constructor(ctx: SelectContext | Module) {
    const c: SelectContext = 'model' in ctx && !('forward' in ctx) ? ctx : { model: ctx as Module };
    this.model = c.model;
    this.params = new Map(c.model.namedParameters());
    this.names = [...this.params.keys()];
    this.meta = c.meta ?? metaOf(c.model);
    this.loadReport = c.loadReport;
  }

  /** Parameter names matched by a selector, in model order. */
  select(s: Selector): string[] {
    const set = this.#resolve(s, describeSelector(s));
    return this.names.filter((n) => set.has(n));
  }

  has(s: Selector, name: string): boolean {
    return this.#resolve(s, describeSelector(s)).has(name);
  }

  #all(): Set<string> {
    return new Set(this.names);
  }

  #resolve(s: Selector, where: string): Set<string> {
    if (typeof s === 'string') {
      if (s.startsWith('!')) return complement(this.#all(), this.#resolve(s.slice(1), where));
      return this.#nonEmpty(`'${s}'`, this.#match(stringMatcher(s)));
    }
    if (s instanceof RegExp)
      return this.#nonEmpty(
        String(s),
        this.#match((n) => testRegex(s, n)),
      );
    if (Array.isArray(s)) {
      const out = new Set<string>();
      for (const x of s) for (const n of this.#resolve(x, where)) out.add(n);
      return out;
    }
    if (s === null || typeof s !== 'object') throw badSelector(s);
    const o = s as Record<string, unknown>;
    if ('not' in o) return complement(this.#all(), this.#resolve(o.not as Selector, where));
    if ('module' in o) {
      const path = String(o.module);
      this.model.getSubmodule(path); // throws naming the children when the path is wrong
      return this.#nonEmpty(`{ module: '${path}' }`, this.#match(stringMatcher(path, true)));
    }
    if ('group' in o) return this.#groups(o.group as string | number | (string | number)[]);
    if ('children' in o) return this.#children(String(o.children), o.first as number, o.last as number);
    if ('loaded' in o) return this.#loaded(Boolean(o.loaded));
    if ('inCheckpoint' in o) return this.#inCheckpoint(Boolean(o.inCheckpoint));
    throw badSelector(s);
  }

  #match(test: (name: string) => boolean): Set<string> {
    return new Set(this.names.filter(test));
  }

  // a selector that matches nothing is almost always a typo
  #nonEmpty(what: string, set: Set<string>): Set<string> {
    if (set.size > 0) return set;
    const top = [...this.model.namedChildren()].map(([n]) => n);
    throw new ArgumentError(
      `selector ${what} matches no parameter of ${this.model.constructor.name}`,
      `top-level modules: ${top.join(', ') || 'none'}; parameters look like '${this.names[0] ?? ''}'`,
    );
  }

  #groups(g: string | number | readonly (string | number)[]): Set<string> {
    const meta = this.meta;
    if (!meta)
      throw new ArgumentError(
        `${this.model.constructor.name} has no layer groups (selector { group })`,
        'build it with models.create(name), or attach metadata with models.setMeta(model, meta)',
      );
    const names = meta.groups.map((x) => x.name);
    const want = new Set<number>();
    for (const key of Array.isArray(g) ? g : [g]) {
      const i = typeof key === 'number' ? (key < 0 ? names.length + key : key) : names.indexOf(key);
      if (!(i >= 0 && i < names.length) || (typeof key === 'number' && !Number.isInteger(key)))
        throw new ArgumentError(`no layer group ${JSON.stringify(key)} in ${meta.name}`, `groups: ${names.join(', ')}`);
      want.add(i);
    }
    const out = new Set<string>();
    for (const n of this.names) if (want.has(groupIndex(meta, n))) out.add(n);
    return out;
  }

  #children(path: string, first?: number, last?: number): Set<string> {
    const parent = this.model.getSubmodule(path);
    const kids = [...parent.namedChildren()].map(([n]) => (path ? `${path}.${n}` : n));
    if ((first === undefined) === (last === undefined))
      throw new ArgumentError(`selector { children: '${path}' } needs exactly one of first / last`);
    const k = (first ?? last)!;
    if (!Number.isInteger(k) || k < 0 || k > kids.length)
      throw new ArgumentError(`selector { children: '${path}' }: ${k} is not in 0..${kids.length} (its children)`);
    const picked = first !== undefined ? kids.slice(0, k) : kids.slice(kids.length - k);
    return this.#match((n) => picked.some((p) => n === p || n.startsWith(`${p}.`)));
  }

  #loaded(want: boolean): Set<string> {
    const r = this.loadReport;
    if (!r)
      throw new ArgumentError(
        'selector { loaded } needs a load report',
        'pass loadReport (from the checkpoint loader)',
      );
    const loaded = new Set(r.loaded);
    return this.#match((n) => loaded.has(n) === want);
  }

  #inCheckpoint(want: boolean): Set<string> {
    const r = this.loadReport;
    if (!r)
      throw new ArgumentError(
        'selector { inCheckpoint } needs a load report',
        'pass loadReport (from the checkpoint loader)',
      );
    // src/io's report lists them; a plain report object: loaded, skipped for shape or mismatched
    const keys = (xs: readonly { key: string }[] | undefined) => (xs ?? []).map((x) => x.key);
    const present = new Set(r.inCheckpoint ?? [...r.loaded, ...keys(r.skippedShape), ...keys(r.mismatched)]);
    return this.#match((n) => present.has(n) === want);
  }
}

const GLOB = /[*?[]/;

/** A string selector: a glob when it has * ? [, else a module path / exact name. */
export function stringMatcher(s: string, pathOnly = false): (name: string) => boolean {
  if (pathOnly || !GLOB.test(s)) return (n) => n === s || n.startsWith(`${s}.`) || s === '';
  const re = globToRegExp(s);
  return (n) => re.test(n);
}

export { globToRegExp };

function testRegex(re: RegExp, s: string): boolean {
  re.lastIndex = 0;
  return re.test(s);
}

function complement(all: Set<string>, minus: Set<string>): Set<string> {
  const out = new Set<string>();
  for (const n of all) if (!minus.has(n)) out.add(n);
  return out;
}

function badSelector(s: unknown): ArgumentError {
  return new ArgumentError(
    `not a selector: ${describeSelector(s as Selector)}`,
    "use a glob ('layer4.*'), a module path ('fc'), a RegExp, an array, { not }, { module }, { group }, { children, first | last }, { loaded } or { inCheckpoint }",
  );
}

/** A short readable form for messages and reports. */
export function describeSelector(s: Selector): string {
  if (typeof s === 'string') return `'${s}'`;
  if (s instanceof RegExp) return String(s);
  if (Array.isArray(s)) return `[${s.map(describeSelector).join(', ')}]`;
  try {
    return JSON.stringify(s) ?? String(s);
  } catch {
    return String(s);
  }
}
