// Reading recipes: YAML files, `extends:` chains (deep merge, paths relative to the file that
// wrote them), command-line overrides (`optimizer.lr=0.01`, `phases[1].epochs=3`, values parsed as
// YAML), then the schema and the semantic checks. Every failure is a RecipeError naming the path.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import YAML from 'yaml';
import { RecipeError } from '../errors.ts';
import { isWeightsRef } from '../hub/index.ts';
import { defaultMessage, fmtPath, recipeErrorFrom } from './_issues.ts';
import { checkRecipe } from './check.ts';
import { type Recipe, RecipeSchema } from './schema.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A loaded recipe: the validated data, where it came from, and its name. */
export interface LoadedRecipe {
  recipe: Recipe;
  /** the recipe file (absolute), or undefined for recipes built in code */
  file: string | undefined;
  /** every file read, the extending file first */
  files: string[];
  name: string;
}

export interface LoadOptions {
  /** `path=value` overrides, applied in order after extends (values are YAML; relative paths from cwd) */
  set?: readonly string[];
  /** where override paths are relative to (default process.cwd()) */
  cwd?: string;
}

// fields holding input paths: resolved against the file (or the command line) that wrote them
const PATH_FIELDS: readonly (readonly string[])[] = [
  ['model', 'pretrained'],
  ['model', 'pretrained', 'checkpoint'],
  ['data', 'root'],
  ['data', 'train'],
  ['data', 'val'],
  ['data', 'test'],
  ['data', 'tokenizer'],
  ['data', 'tokenizer', 'vocab'],
];

function resolvePaths(raw: Obj, base: string): void {
  for (const path of PATH_FIELDS) {
    let parent: unknown = raw;
    for (const k of path.slice(0, -1)) parent = isObj(parent) ? parent[k] : undefined;
    const key = path[path.length - 1]!;
    if (!isObj(parent)) continue;
    const v = parent[key];
    if (typeof v !== 'string' || v === '' || isAbsolute(v) || isWeightsRef(v)) continue;
    if (path.join('.') === 'model.pretrained' && v === 'offline') continue;
    parent[key] = resolve(base, v);
  }
}

/**
 * Deep merge: objects merge key by key; lists and values replace; `null` removes the key; an
 * object whose `type` differs from the base's (optimizer, scheduler) replaces it whole.
 */
export function mergeRecipes(base: unknown, over: unknown): unknown {
  if (!isObj(base) || !isObj(over)) return over;
  if ('type' in base && 'type' in over && base.type !== over.type) return over;
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = k in out ? mergeRecipes(out[k], v) : v;
  }
  return out;
}

function parseYaml(text: string, file: string): unknown {
  try {
    return YAML.parse(text, { prettyErrors: true });
  } catch (e) {
    const err = e as Error & { linePos?: { line: number; col: number }[] };
    const at = err.linePos?.[0];
    throw new RecipeError(
      at ? `${file}:${at.line}:${at.col}` : file,
      `not valid YAML: ${err.message.split('\n')[0]!.replace(/:\s*$/, '')}`,
    );
  }
}

function readTree(file: string, chain: string[]): { raw: Obj; files: string[] } {
  if (chain.includes(file))
    throw new RecipeError('extends', `extends loops: ${[...chain, file].map((f) => basename(f)).join(' -> ')}`);
  if (!existsSync(file))
    throw new RecipeError(
      chain.length ? 'extends' : file,
      chain.length ? `${file} does not exist (extended by ${chain[chain.length - 1]})` : 'no such recipe file',
    );
  const raw = parseYaml(readFileSync(file, 'utf8'), file) ?? {};
  if (!isObj(raw)) throw new RecipeError(file, 'a recipe must be a YAML mapping (key: value lines)');
  const dir = dirname(file);
  resolvePaths(raw, dir);
  const ext = raw.extends;
  if (ext === undefined) return { raw, files: [file] };
  if (typeof ext !== 'string' || !ext)
    throw new RecipeError('extends', `expected a recipe path, got ${JSON.stringify(ext)}`);
  const base = readTree(resolve(dir, ext), [...chain, file]);
  const { extends: _e, ...rest } = raw;
  return { raw: mergeRecipes(base.raw, rest) as Obj, files: [file, ...base.files] };
}

/** `phases[1].epochs` -> ['phases', 1, 'epochs']. */
export function parseKeyPath(text: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /([A-Za-z_][\w-]*)|\[(\d+)\]|\./gy;
  let expectKey = true;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    m = re.exec(text);
    if (!m) break;
    if (m[1] !== undefined) {
      if (!expectKey) break;
      out.push(m[1]);
      expectKey = false;
    } else if (m[2] !== undefined) {
      if (out.length === 0) break;
      out.push(Number(m[2]));
    } else {
      if (expectKey) break;
      expectKey = true;
    }
    at = re.lastIndex;
  }
  if (at !== text.length || expectKey || out.length === 0)
    throw new RecipeError(text || '(empty)', 'not a key path', 'write it like optimizer.lr or phases[1].epochs');
  return out;
}

/** One override value as YAML; an unresolved tag ('!fc': YAML's tag syntax) is an error, not an empty string. */
function parseValue(text: string): unknown {
  const doc = YAML.parseDocument(text, { logLevel: 'silent' });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw problem;
  return doc.toJS();
}

/** Applies one `path=value` override to a raw recipe tree (in place); `path=null` removes a key outside lists. */
export function applyOverride(raw: Obj, assignment: string, cwd = process.cwd()): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new RecipeError(assignment, 'an override is path=value', 'e.g. --set optimizer.lr=0.01');
  const path = parseKeyPath(assignment.slice(0, eq).trim());
  const text = assignment.slice(eq + 1);
  let value: unknown;
  try {
    value = text.trim() === '' ? '' : parseValue(text);
  } catch (e) {
    // YAML reads a leading * as an alias, & as an anchor, ! as a tag, and so on: quote such strings
    const t = text.trim();
    const hint = /^[*&!%@`|>{[]/.test(t)
      ? `quote the value for YAML and the shell: --set '${assignment.slice(0, eq)}="${t.replace(/"/g, '\\"')}"'`
      : undefined;
    throw new RecipeError(
      fmtPath(path),
      `override value is not valid YAML: ${(e as Error).message.split('\n')[0]!.replace(/:\s*$/, '')}`,
      hint,
    );
  }
  let cur: unknown = raw;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i]!;
    const nextIsIndex = typeof path[i + 1] === 'number';
    if (typeof k === 'number') {
      if (!Array.isArray(cur) || k >= cur.length)
        throw new RecipeError(
          fmtPath(path.slice(0, i + 1)),
          Array.isArray(cur)
            ? `out of range (the list has ${cur.length} item${cur.length === 1 ? '' : 's'})`
            : 'is not a list',
        );
      if (cur[k] === undefined || cur[k] === null) cur[k] = nextIsIndex ? [] : {};
      cur = cur[k];
    } else {
      if (!isObj(cur)) throw new RecipeError(fmtPath(path.slice(0, i)), `is not a mapping, cannot set ${String(k)}`);
      if (cur[k] === undefined || cur[k] === null) cur[k] = nextIsIndex ? [] : {};
      cur = cur[k];
    }
  }
  const last = path[path.length - 1]!;
  if (typeof last === 'number') {
    if (!Array.isArray(cur) || last > cur.length)
      throw new RecipeError(
        fmtPath(path),
        Array.isArray(cur)
          ? `out of range (the list has ${cur.length} items; index ${cur.length} appends)`
          : 'is not a list',
      );
    cur[last] = value;
  } else {
    if (!isObj(cur)) throw new RecipeError(fmtPath(path.slice(0, -1)), `is not a mapping, cannot set ${last}`);
    // null removes a key, as in extends; inside lists (phases[1].scheduler=null) it is a value
    if (value === null && !path.some((k) => typeof k === 'number')) delete cur[last];
    else cur[last] = value;
  }
  // a path given on the command line is relative to where the command runs
  const dotted = path.filter((k) => typeof k === 'string').join('.');
  if (
    PATH_FIELDS.some((p) => p.join('.') === dotted) &&
    typeof value === 'string' &&
    !isAbsolute(value) &&
    !isWeightsRef(value)
  ) {
    if (!(dotted === 'model.pretrained' && value === 'offline')) (cur as Obj)[last as string] = resolve(cwd, value);
  }
}

/** Validates a raw recipe tree (schema + semantic checks). */
export function validateRecipe(raw: unknown): Recipe {
  const r = RecipeSchema.safeParse(raw, {
    reportInput: true,
    error: (iss) => defaultMessage(iss as unknown as { code: string }),
  });
  if (!r.success) throw recipeErrorFrom(RecipeSchema, r.error.issues);
  checkRecipe(r.data);
  return r.data;
}

/** A recipe from a raw object (already parsed YAML or built in code), with overrides. */
export function recipeFrom(raw: unknown, o: LoadOptions & { name?: string } = {}): LoadedRecipe {
  const tree = structuredClone(raw) as Obj;
  if (!isObj(tree)) throw new RecipeError('(recipe)', 'a recipe must be an object');
  for (const s of o.set ?? []) applyOverride(tree, s, o.cwd);
  const recipe = validateRecipe(tree);
  return { recipe, file: undefined, files: [], name: recipe.name ?? o.name ?? 'run' };
}

/** Reads a recipe file: extends, overrides, validation. */
export function loadRecipe(file: string, o: LoadOptions = {}): LoadedRecipe {
  const abs = resolve(o.cwd ?? process.cwd(), file);
  const { raw, files } = readTree(abs, []);
  delete raw.extends;
  for (const s of o.set ?? []) applyOverride(raw, s, o.cwd);
  const recipe = validateRecipe(raw);
  return { recipe, file: abs, files, name: recipe.name ?? basename(abs, extname(abs)) };
}

/** The recipe as YAML (what a run folder keeps as recipe.yaml). */
export function recipeToYaml(r: LoadedRecipe): string {
  const head = `# resolved recipe${r.file ? ` from ${r.file}` : ''} (extends and overrides applied)\n`;
  const { extends: _e, ...rest } = r.recipe;
  return head + YAML.stringify({ name: r.name, ...rest });
}
