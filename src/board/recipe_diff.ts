// Recipes side by side, key by key: each recipe.yaml flattened to dotted paths
// (optimizer.lr, phases[1].epochs), then one row per path with every run's value.
import { parse } from 'yaml';

/** One key of the compared recipes: each run's value (null: the run's recipe lacks the key). */
export interface DiffRow {
  key: string;
  values: (string | null)[];
  /** every run has the same value */
  same: boolean;
}

/** A recipe's leaves by dotted path; values as compact JSON (strings unquoted). */
export function flattenRecipe(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(value)) {
    if (value.length === 0) out.set(prefix, '[]');
    value.forEach((v, i) => {
      flattenRecipe(v, `${prefix}[${i}]`, out);
    });
  } else if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix) out.set(prefix, '{}');
    for (const [k, v] of entries) flattenRecipe(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) out.set(prefix, typeof value === 'string' ? value : JSON.stringify(value ?? null));
  return out;
}

/**
 * The rows of a comparison of recipe texts (undefined: the run has no recipe). Keys keep the
 * first recipe's order, then keys only later recipes have. A text that is not YAML throws.
 */
export function diffRecipes(texts: (string | undefined)[]): DiffRow[] {
  const flat = texts.map((t) => (t === undefined ? new Map<string, string>() : flattenRecipe(parse(t))));
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const f of flat)
    for (const k of f.keys())
      if (!seen.has(k)) {
        seen.add(k);
        keys.push(k);
      }
  return keys.map((key) => {
    const values = flat.map((f) => f.get(key) ?? null);
    return { key, values, same: values.every((v) => v === values[0]) };
  });
}
