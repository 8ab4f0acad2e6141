// The field reference of docs/recipes.md, generated from the schema: every key with its type and
// description, so the documentation cannot drift from what the loader accepts (a test compares).
import type { z } from 'zod';
import { defOf } from './_issues.ts';
import { NAMED } from './_schema_parts.ts';
import { RecipeSchema } from './schema.ts';

export interface FieldRow {
  key: string;
  type: string;
  required: boolean;
  description: string;
}

type Check = { check: string; value?: number; inclusive?: boolean; format?: string };
type AnyDef = ReturnType<typeof defOf> & {
  checks?: { _zod: { def: Check } }[];
  entries?: Record<string, string>;
  values?: unknown[];
};

const WRAPPERS = ['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional'];

function unwrap(s: z.ZodType): { s: z.ZodType; optional: boolean; description: string | undefined } {
  let optional = false;
  let description = s.description;
  let cur = s;
  for (let i = 0; i < 10; i++) {
    const d = defOf(cur);
    if (d.type === 'optional' || d.type === 'default') optional = true;
    if (!WRAPPERS.includes(d.type)) break;
    cur = d.innerType!;
    description ??= cur.description;
  }
  return { s: cur, optional, description };
}

function numberType(d: AnyDef): string {
  const checks = (d.checks ?? []).map((c) => c._zod.def);
  const isInt = checks.some((c) => c.check === 'number_format' && /int/.test(c.format ?? ''));
  const lo = checks.find((c) => c.check === 'greater_than');
  const hi = checks.find((c) => c.check === 'less_than');
  const base = isInt ? 'integer' : 'number';
  if (lo && hi) return `${base} in [${lo.value}, ${hi.value}]`;
  if (lo) return lo.value === 0 && !lo.inclusive ? `${base} > 0` : `${base} >= ${lo.value}`;
  return base;
}

/** A short type for the table: 'integer >= 1', "'epoch' | 'step'", 'list of selector', 'object'. */
export function typeOf(schema: z.ZodType, depth = 0): string {
  const { s } = unwrap(schema);
  const d = defOf(s) as AnyDef;
  const name = NAMED.get(d);
  if (name) return name;
  if (depth > 4) return 'value';
  switch (d.type) {
    case 'string':
      return 'string';
    case 'number':
      return numberType(d);
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'literal':
      return (d.values ?? []).map((v) => JSON.stringify(v)?.replace(/"/g, "'")).join(' | ');
    case 'enum':
      return Object.values(d.entries ?? {})
        .map((v) => `'${v}'`)
        .join(' | ');
    case 'array':
      return `list of ${typeOf(d.element!, depth + 1)}`;
    case 'tuple':
      return `[${d.items!.map((x) => typeOf(x, depth + 1)).join(', ')}]`;
    case 'record':
      return `{ key: ${typeOf(d.valueType!, depth + 1)} }`;
    case 'object':
      return 'object';
    case 'union':
      return [...new Set(d.options!.map((o) => typeOf(o, depth + 1)))].join(' | ');
    case 'lazy':
      return typeOf(d.getter!(), depth + 1);
    case 'unknown':
    case 'any':
      return 'any';
    default:
      return d.type;
  }
}

/** Objects reachable from a schema without crossing a named type: where fields continue. */
function objectsIn(schema: z.ZodType): { obj: z.ZodType; suffix: string }[] {
  const { s } = unwrap(schema);
  const d = defOf(s);
  if (NAMED.has(d)) return [];
  if (d.type === 'object') return [{ obj: s, suffix: '' }];
  if (d.type === 'array') return objectsIn(d.element!).map((x) => ({ ...x, suffix: `[]${x.suffix}` }));
  if (d.type === 'union') return d.options!.flatMap(objectsIn);
  return [];
}

function walk(obj: z.ZodType, prefix: string, rows: FieldRow[]): void {
  const shape = defOf(obj).shape!;
  for (const [k, field] of Object.entries(shape)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const { optional, description } = unwrap(field);
    rows.push({ key, type: typeOf(field), required: !optional, description: description ?? '' });
    for (const { obj: inner, suffix } of objectsIn(field)) walk(inner, `${key}${suffix}`, rows);
  }
}

/** Every recipe key, depth first. */
export function recipeFields(): FieldRow[] {
  const rows: FieldRow[] = [];
  walk(RecipeSchema, '', rows);
  // a key reachable through two union branches (groups as a list or an object) is listed once
  const seen = new Set<string>();
  return rows.filter((r) => {
    if (seen.has(r.key)) return false;
    seen.add(r.key);
    return true;
  });
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** The markdown table of docs/recipes.md's field reference. */
export function recipeReference(): string {
  const rows = recipeFields();
  return [
    '| key | type | description |',
    '| --- | --- | --- |',
    ...rows.map((r) => `| \`${r.key}\`${r.required ? ' (required)' : ''} | ${cell(r.type)} | ${cell(r.description)} |`),
  ].join('\n');
}
