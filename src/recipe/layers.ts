// Layer specs of `model.replace` (a custom head, e.g. AdaptiveConcatPool2d + BN / Dropout /
// Linear): a name, { Name: argument(s) }, or a list (an nn.Sequential, children '0', '1', ...).
// Parsed and checked without building anything, so recipe checks catch them; built after create().
import { RecipeError } from '../errors.ts';
import {
  AdaptiveAvgPool2d,
  AdaptiveConcatPool2d,
  AdaptiveMaxPool2d,
  BatchNorm1d,
  BatchNorm2d,
  Dropout,
  Flatten,
  GELU,
  Identity,
  LayerNorm,
  Linear,
  type Module,
  ReLU,
  Sequential,
  Sigmoid,
  SiLU,
  Tanh,
} from '../nn/index.ts';
import { didYouMean, show } from './_issues.ts';
import type { LayerSpecIn } from './_schema_parts.ts';

/** A checked layer: its type and positional arguments ('numClasses' resolved at build time). */
export type LayerDesc =
  | { type: 'Sequential'; items: LayerDesc[] }
  | { type: string; args: (number | boolean | string)[] };

interface Kind {
  /** argument names, in order; ? marks optional */
  args: string[];
  build(a: (number | boolean | undefined)[]): Module;
}

const size = (v: number | boolean | undefined) => (v === undefined ? 1 : (v as number));
const KINDS: Record<string, Kind> = {
  Linear: {
    args: ['in', 'out', 'bias?'],
    build: (a) => new Linear(a[0] as number, a[1] as number, { bias: a[2] !== false }),
  },
  BatchNorm1d: { args: ['numFeatures', 'eps?', 'momentum?'], build: (a) => new BatchNorm1d(a[0] as number, bn(a)) },
  BatchNorm2d: { args: ['numFeatures', 'eps?', 'momentum?'], build: (a) => new BatchNorm2d(a[0] as number, bn(a)) },
  LayerNorm: {
    args: ['normalizedShape', 'eps?'],
    build: (a) => new LayerNorm(a[0] as number, { eps: a[1] as number }),
  },
  Dropout: { args: ['p?'], build: (a) => new Dropout(a[0] === undefined ? 0.5 : (a[0] as number)) },
  ReLU: { args: [], build: () => new ReLU() },
  GELU: { args: [], build: () => new GELU() },
  SiLU: { args: [], build: () => new SiLU() },
  Tanh: { args: [], build: () => new Tanh() },
  Sigmoid: { args: [], build: () => new Sigmoid() },
  Identity: { args: [], build: () => new Identity() },
  Flatten: {
    args: ['startDim?', 'endDim?'],
    build: (a) => new Flatten(size(a[0]), a[1] === undefined ? -1 : (a[1] as number)),
  },
  AdaptiveConcatPool2d: { args: ['size?'], build: (a) => new AdaptiveConcatPool2d(size(a[0])) },
  AdaptiveAvgPool2d: { args: ['size?'], build: (a) => new AdaptiveAvgPool2d(size(a[0])) },
  AdaptiveMaxPool2d: { args: ['size?'], build: (a) => new AdaptiveMaxPool2d(size(a[0])) },
};

function bn(a: (number | boolean | undefined)[]) {
  return {
    ...(a[1] !== undefined ? { eps: a[1] as number } : {}),
    ...(a[2] !== undefined ? { momentum: a[2] as number } : {}),
  };
}

export const LAYER_TYPES = Object.keys(KINDS);

function checkArg(type: string, name: string, v: unknown, path: string): number | boolean | string {
  const bare = name.replace('?', '');
  if (bare === 'bias') {
    if (typeof v !== 'boolean') throw new RecipeError(`${path}.${bare}`, `expected true or false, got ${show(v)}`);
    return v;
  }
  if (bare === 'out' && v === 'numClasses') return v;
  if (['p', 'eps', 'momentum'].includes(bare)) {
    if (typeof v !== 'number' || !(v >= 0) || (bare === 'p' && v > 1))
      throw new RecipeError(
        `${path}.${bare}`,
        `expected ${bare === 'p' ? 'a probability in [0, 1]' : 'a number >= 0'}, got ${show(v)}`,
      );
    return v;
  }
  if (bare === 'endDim' || bare === 'startDim') {
    if (!Number.isInteger(v)) throw new RecipeError(`${path}.${bare}`, `expected an integer, got ${show(v)}`);
    return v as number;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new RecipeError(
      `${path}.${bare}`,
      `expected a positive integer${bare === 'out' ? " or 'numClasses'" : ''}, got ${show(v)}`,
      `${type}(${KINDS[type]!.args.join(', ')})`,
    );
  return v;
}

/** Checks a layer spec and returns its description; errors name the path (model.replace.fc[3].Linear). */
export function parseLayer(spec: LayerSpecIn, path: string): LayerDesc {
  if (Array.isArray(spec)) {
    if (spec.length === 0) throw new RecipeError(path, 'expected at least one layer');
    return { type: 'Sequential', items: spec.map((s, i) => parseLayer(s, `${path}[${i}]`)) };
  }
  let type: string;
  let raw: unknown;
  if (typeof spec === 'string') [type, raw] = [spec, undefined];
  else {
    const keys = Object.keys(spec);
    if (keys.length !== 1)
      throw new RecipeError(
        path,
        `a layer is { Name: arguments } with one key, got ${keys.length ? keys.join(', ') : 'none'}`,
      );
    type = keys[0]!;
    raw = spec[type];
  }
  const kind = KINDS[type];
  if (!kind) {
    const near = didYouMean(type, LAYER_TYPES);
    throw new RecipeError(
      path,
      `unknown layer '${type}'`,
      near ? `did you mean '${near}'?` : `layers: ${LAYER_TYPES.join(', ')}; a list is a Sequential`,
    );
  }
  const where = `${path}.${type}`;
  const names = kind.args;
  let given: unknown[];
  if (raw === undefined || raw === null) given = [];
  else if (Array.isArray(raw)) given = raw;
  else if (typeof raw === 'object') {
    const o = raw as Record<string, unknown>;
    const bare = names.map((n) => n.replace('?', ''));
    for (const k of Object.keys(o))
      if (!bare.includes(k)) {
        const near = didYouMean(k, bare);
        throw new RecipeError(
          `${where}.${k}`,
          'unknown argument',
          near ? `did you mean '${near}'?` : `${type}(${names.join(', ')})`,
        );
      }
    given = bare.map((n) => o[n]);
    while (given.length && given[given.length - 1] === undefined) given.pop();
  } else given = [raw];
  if (given.length > names.length)
    throw new RecipeError(where, `takes ${names.length ? names.join(', ') : 'no arguments'}, got ${show(raw)}`);
  const args = names.map((n, i) => {
    const v = given[i];
    if (v === undefined) {
      if (!n.endsWith('?')) throw new RecipeError(`${where}.${n}`, `missing (${type}(${names.join(', ')}))`);
      return undefined;
    }
    return checkArg(type, n, v, where);
  });
  while (args.length && args[args.length - 1] === undefined) args.pop();
  return { type, args: args as (number | boolean | string)[] };
}

/** Builds a checked layer; 'numClasses' arguments become the model's class count. */
export function buildLayer(d: LayerDesc, numClasses: number | undefined, path: string): Module {
  if (d.type === 'Sequential') {
    const items = (d as { items: LayerDesc[] }).items;
    return new Sequential(...items.map((x, i) => buildLayer(x, numClasses, `${path}[${i}]`)));
  }
  const args = (d as { args: (number | boolean | string)[] }).args.map((a) => {
    if (a !== 'numClasses') return a as number | boolean;
    if (numClasses === undefined)
      throw new RecipeError(path, "'numClasses' in a layer needs model.numClasses or classes from the data");
    return numClasses;
  });
  return KINDS[d.type]!.build(args);
}
