// Key patterns (include / exclude) and rename rules of a load plan: plain data, so a recipe or a
// command line can write them, plus helpers that build them.
import { ArgumentError } from '../../errors.ts';
import { globToRegExp } from '../../util/glob.ts';

/**
 * Which keys: a glob when the string has `*`, `?` or `[` (fnmatch: `*` crosses dots, so `*fc*` is
 * the seeds' `'fc' in k`), else a module path or exact key (`'fc'` matches `fc.weight`, not `fc2.weight`);
 * a RegExp is tested as is.
 */
export type KeyPattern = string | RegExp;

/**
 * One renaming step, applied to every checkpoint key in order:
 * - `[pattern, replacement]`: a regex (string source or RegExp) and its replacement (`$1` works);
 *   string sources replace every match, like re.sub; a RegExp keeps its own flags
 * - `{ stripPrefix: 'module.' }`: drop a leading prefix where present (DataParallel's `k[7:]`)
 * - `{ addPrefix: 'backbone.' }`: prepend
 * - `{ replacePrefix: 'encoder.', with: 'backbone.' }`: swap a leading prefix where present
 * - `{ replace: 'classifier.', with: '' }`: literal text, every occurrence (Python's k.replace)
 * - a function key -> key
 */
export type RenameRule =
  | readonly [pattern: string | RegExp, replacement: string]
  | { readonly stripPrefix: string }
  | { readonly addPrefix: string }
  | { readonly replacePrefix: string; readonly with: string }
  | { readonly replace: string; readonly with: string }
  | ((key: string) => string);

/** Builders for rename rules: `rename: [stripPrefix('module.')]`. */
export const stripPrefix = (prefix: string): RenameRule => ({ stripPrefix: prefix });
export const addPrefix = (prefix: string): RenameRule => ({ addPrefix: prefix });
export const replacePrefix = (from: string, to: string): RenameRule => ({ replacePrefix: from, with: to });
export const replaceText = (text: string, withText: string): RenameRule => ({ replace: text, with: withText });
export const renameRegex = (pattern: string | RegExp, replacement: string): RenameRule => [pattern, replacement];

const GLOB = /[*?[]/;

export { globToRegExp };

export function keyMatcher(p: KeyPattern): (key: string) => boolean {
  if (p instanceof RegExp) {
    return (k) => {
      p.lastIndex = 0;
      return p.test(k);
    };
  }
  if (typeof p !== 'string' || p === '')
    throw new ArgumentError(
      `not a key pattern: ${JSON.stringify(p)}`,
      "use a glob ('layer4.*'), a module path ('fc') or a RegExp",
    );
  if (GLOB.test(p)) {
    const re = globToRegExp(p);
    return (k) => re.test(k);
  }
  return (k) => k === p || k.startsWith(`${p}.`);
}

/**
 * A pattern on checkpoint keys as the file names them (includeOriginal / excludeOriginal): a glob
 * (`*`, `?`, `[`) matches the whole key, a RegExp or a '/source/flags' string is searched in it, any
 * other string matches keys that contain it (Python's `'classifier' in k`).
 */
export function originalMatcher(p: KeyPattern): (key: string) => boolean {
  if (typeof p === 'string') {
    const re = /^\/(.+)\/([a-z]*)$/.exec(p);
    if (re) {
      try {
        return keyMatcher(new RegExp(re[1]!, re[2]!.replace('g', '')));
      } catch (e) {
        throw new ArgumentError(`key pattern ${p} is not a valid regex: ${(e as Error).message}`);
      }
    }
    if (p !== '' && !GLOB.test(p)) return (k) => k.includes(p);
  }
  return keyMatcher(p);
}

export const describePattern = (p: KeyPattern): string => (p instanceof RegExp ? String(p) : `'${p}'`);

export function asList<T>(x: T | readonly T[] | undefined): readonly T[] {
  if (x === undefined) return [];
  return Array.isArray(x) ? (x as readonly T[]) : [x as T];
}

/** A plan's `rename`: one rule or a list of them (a lone [pattern, replacement] pair is one rule). */
export function renameRules(x: RenameRule | readonly RenameRule[] | undefined): readonly RenameRule[] {
  if (x === undefined) return [];
  if (!Array.isArray(x)) return [x as RenameRule];
  const pair = x.length === 2 && (typeof x[0] === 'string' || x[0] instanceof RegExp) && typeof x[1] === 'string';
  return pair ? [x as unknown as RenameRule] : (x as readonly RenameRule[]);
}

export interface CompiledRename {
  apply(key: string): string;
  describe: string;
}

function isRule(x: unknown): x is RenameRule {
  if (typeof x === 'function') return true;
  if (Array.isArray(x))
    return x.length === 2 && (typeof x[0] === 'string' || x[0] instanceof RegExp) && typeof x[1] === 'string';
  return typeof x === 'object' && x !== null;
}

/** One rule -> a function; ArgumentError naming the rule when it is malformed or its regex does not compile. */
export function compileRename(rule: RenameRule): CompiledRename {
  if (!isRule(rule)) throw badRule(rule);
  if (typeof rule === 'function') return { apply: rule, describe: `function ${rule.name || '(anonymous)'}` };
  if (Array.isArray(rule)) {
    const [pattern, replacement] = rule as readonly [string | RegExp, string];
    let re: RegExp;
    try {
      re = pattern instanceof RegExp ? pattern : new RegExp(pattern, 'g');
    } catch (e) {
      throw new ArgumentError(
        `rename pattern ${JSON.stringify(pattern)} is not a valid regex: ${(e as Error).message}`,
      );
    }
    return {
      apply: (k) => {
        re.lastIndex = 0;
        return k.replace(re, replacement);
      },
      describe: `${pattern instanceof RegExp ? String(pattern) : `/${pattern}/`} -> '${replacement}'`,
    };
  }
  const r = rule as Record<string, unknown>;
  const str = (v: unknown) => typeof v === 'string';
  const keys = Object.keys(r).sort().join(',');
  if (keys === 'stripPrefix' && str(r.stripPrefix) && r.stripPrefix !== '') {
    const p = r.stripPrefix as string;
    return { apply: (k) => (k.startsWith(p) ? k.slice(p.length) : k), describe: `stripPrefix '${p}'` };
  }
  if (keys === 'addPrefix' && str(r.addPrefix)) {
    const p = r.addPrefix as string;
    return { apply: (k) => p + k, describe: `addPrefix '${p}'` };
  }
  if (keys === 'replacePrefix,with' && str(r.replacePrefix) && str(r.with)) {
    const [p, w] = [r.replacePrefix as string, r.with as string];
    return { apply: (k) => (k.startsWith(p) ? w + k.slice(p.length) : k), describe: `replacePrefix '${p}' -> '${w}'` };
  }
  if (keys === 'replace,with' && str(r.replace) && r.replace !== '' && str(r.with)) {
    const [t, w] = [r.replace as string, r.with as string];
    return { apply: (k) => k.split(t).join(w), describe: `replace '${t}' -> '${w}'` };
  }
  throw badRule(rule);
}

function badRule(rule: unknown): ArgumentError {
  let shown: string;
  try {
    shown = rule instanceof RegExp ? String(rule) : (JSON.stringify(rule) ?? String(rule));
  } catch {
    shown = String(rule);
  }
  return new ArgumentError(
    `not a rename rule: ${shown}`,
    'use [regex, replacement], { stripPrefix }, { addPrefix }, { replacePrefix, with }, { replace, with } or a function',
  );
}
