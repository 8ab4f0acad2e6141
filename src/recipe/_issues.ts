// zod issues -> one RecipeError naming the path, what was expected and what was given:
//   optimizer.lr: expected a positive number, got "fast"
//   train.clipp: unknown key (hint: did you mean 'clip'?)
// Unions report the branch whose type matched (so a typo inside an object is found), else the
// union's own message.
import type { z } from 'zod';
import { RecipeError } from '../errors.ts';
import { didYouMean } from '../util/spelling.ts';

/** "did you mean" for recipe keys and names (one implementation: src/util/spelling.ts) */
export { didYouMean };

type Issue = z.core.$ZodIssue;
type Path = readonly PropertyKey[];

export function fmtPath(path: Path): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out ? `.${String(k)}` : String(k);
  return out || '(recipe)';
}

export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

// zod internals, read-only: the definition of each schema kind we walk
type Def = {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  options?: z.ZodType[];
  getter?: () => z.ZodType;
  in?: z.ZodType;
  valueType?: z.ZodType;
  items?: z.ZodType[];
};
export const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schemas a value at `path` may be checked against (several under unions). */
export function schemasAt(root: z.ZodType, path: Path): z.ZodType[] {
  let cur: z.ZodType[] = [root];
  const expand = (s: z.ZodType, depth = 0): z.ZodType[] => {
    if (depth > 20) return [];
    const d = defOf(s);
    if (['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional'].includes(d.type))
      return expand(d.innerType!, depth + 1);
    if (d.type === 'lazy') return expand(d.getter!(), depth + 1);
    if (d.type === 'pipe') return expand(d.in!, depth + 1);
    if (d.type === 'union') return d.options!.flatMap((o) => expand(o, depth + 1));
    return [s];
  };
  cur = cur.flatMap((s) => expand(s));
  for (const k of path) {
    const next: z.ZodType[] = [];
    for (const s of cur) {
      const d = defOf(s);
      if (d.type === 'object' && typeof k === 'string' && d.shape![k]) next.push(d.shape![k]!);
      else if (d.type === 'array' && typeof k === 'number') next.push(d.element!);
      else if (d.type === 'tuple' && typeof k === 'number' && d.items![k]) next.push(d.items![k]!);
      else if (d.type === 'record') next.push(d.valueType!);
    }
    cur = next.flatMap((s) => expand(s));
  }
  return cur;
}

/** Keys the objects at `path` accept. */
export function knownKeys(root: z.ZodType, path: Path): string[] {
  const keys = new Set<string>();
  for (const s of schemasAt(root, path)) {
    const d = defOf(s);
    if (d.type === 'object') for (const k of Object.keys(d.shape!)) keys.add(k);
  }
  return [...keys];
}

const ARTICLE: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  record: 'an object',
  tuple: 'a list',
  null: 'null',
};

/** The per-parse message for issues whose schema gave none. */
export function defaultMessage(iss: { code: string; [k: string]: unknown }): string {
  switch (iss.code) {
    case 'invalid_type':
      return `expected ${ARTICLE[String(iss.expected)] ?? String(iss.expected)}`;
    case 'invalid_value': {
      const vs = (iss.values as unknown[]).map((v) => (typeof v === 'string' ? `'${v}'` : String(v)));
      return vs.length > 2 ? `expected one of ${vs.join(', ')}` : `expected ${vs.join(' or ')}`;
    }
    case 'too_small':
      return iss.origin === 'array'
        ? `expected at least ${iss.minimum} item${iss.minimum === 1 ? '' : 's'}`
        : iss.origin === 'string'
          ? 'expected a non-empty string'
          : `expected a number ${iss.inclusive ? '>=' : '>'} ${iss.minimum}`;
    case 'too_big':
      return iss.origin === 'array'
        ? `expected at most ${iss.maximum} items`
        : `expected a number ${iss.inclusive ? '<=' : '<'} ${iss.maximum}`;
    default:
      return 'invalid value';
  }
}

interface Flat {
  path: PropertyKey[];
  message: string;
  input?: unknown;
  unknownKeys?: string[];
  hasInput: boolean;
}

const rootTypeMiss = (b: Issue[]) =>
  b.every((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value'));

function flatten(root: z.ZodType, iss: Issue, base: PropertyKey[]): Flat[] {
  const path = [...base, ...iss.path];
  const hasInput = 'input' in iss;
  if (iss.code === 'unrecognized_keys')
    return [{ path, message: 'unknown key', unknownKeys: iss.keys, hasInput: false }];
  if (iss.code !== 'invalid_union')
    return [{ path, message: iss.message, input: (iss as { input?: unknown }).input, hasInput }];
  const branches = iss.errors as Issue[][];
  const matched = branches.filter((b) => !rootTypeMiss(b));
  if (
    matched.length > 0 &&
    matched.every((b) => b.some((i) => i.code === 'unrecognized_keys' && i.path.length === 0))
  ) {
    const keys = (matched[0]!.find((i) => i.code === 'unrecognized_keys') as { keys: string[] }).keys;
    return [{ path, message: 'unknown key', unknownKeys: keys, hasInput: false }];
  }
  if (matched.length > 0) {
    const best = matched.reduce((a, b) => (b.length < a.length ? b : a));
    return best.flatMap((i) => flatten(root, i, path));
  }
  return [{ path, message: iss.message, input: (iss as { input?: unknown }).input, hasInput }];
}

/** A RecipeError for the first of zod's issues (the others listed in the hint when there are more). */
export function recipeErrorFrom(root: z.ZodType, issues: readonly Issue[], prefix: PropertyKey[] = []): RecipeError {
  const flat = issues.flatMap((i) => flatten(root, i, prefix));
  const text = (f: Flat): { path: string; message: string; hint?: string } => {
    if (f.unknownKeys) {
      const key = f.unknownKeys[0]!;
      const known = knownKeys(root, f.path);
      const near = didYouMean(key, known);
      return {
        path: fmtPath([...f.path, key]),
        message: 'unknown key',
        hint: near ? `did you mean '${near}'?` : known.length ? `known keys: ${known.join(', ')}` : undefined,
      };
    }
    const missing = f.hasInput && f.input === undefined;
    return {
      path: fmtPath(f.path),
      message: missing ? `missing (${f.message})` : f.hasInput ? `${f.message}, got ${show(f.input)}` : f.message,
    };
  };
  const first = text(flat[0]!);
  const more = flat.slice(1, 4).map((f) => {
    const t = text(f);
    return `${t.path}: ${t.message}`;
  });
  const hint = [first.hint, more.length ? `also ${more.join('; ')}${flat.length > 4 ? '; ...' : ''}` : undefined]
    .filter(Boolean)
    .join('; ');
  return new RecipeError(first.path, first.message, hint || undefined);
}
