// Transform specs of a recipe (data.transforms.train / eval) -> src/data's torchvision-style
// transforms. Forms: 'randomHorizontalFlip', { resize: 32 }, { randomResizedCrop: { size: 224,
// scale: [0.5, 1] } }, { normalize: model | imagenet | { mean, std } }, { grayscale: 3 }.

import { IMAGENET_MEAN, IMAGENET_STD, T, type Transform } from '../data/index.ts';
import { ArgumentError, RecipeError } from '../errors.ts';
import { didYouMean, show } from './_issues.ts';

type Args = Record<string, unknown>;
type Size = number | [number, number];

export interface NormStats {
  mean: number[];
  std: number[];
}

const isSize = (v: unknown): v is Size =>
  (typeof v === 'number' && Number.isInteger(v) && v > 0) ||
  (Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x > 0));

function sizeOf(v: unknown, where: string): Size {
  if (!isSize(v)) throw new RecipeError(where, `expected a size (an integer or [height, width]), got ${show(v)}`);
  return v;
}

const pair = (v: unknown, where: string): [number, number] => {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number'))
    throw new RecipeError(where, `expected [min, max], got ${show(v)}`);
  const [lo, hi] = v as [number, number];
  return [lo, hi];
};

function obj(v: unknown, where: string, keys: string[]): Args {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new RecipeError(where, `expected an object with ${keys.join(', ')}, got ${show(v)}`);
  for (const k of Object.keys(v)) {
    if (!keys.includes(k)) {
      const near = didYouMean(k, keys);
      throw new RecipeError(
        `${where}.${k}`,
        'unknown key',
        near ? `did you mean '${near}'?` : `keys: ${keys.join(', ')}`,
      );
    }
  }
  return v as Args;
}

const probOf = (v: unknown, where: string, dflt: number): number => {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || v < 0 || v > 1)
    throw new RecipeError(where, `expected a probability in [0, 1], got ${show(v)}`);
  return v;
};

function stats(v: unknown, where: string, model: NormStats | undefined): NormStats {
  if (v === undefined || v === null || v === 'model') {
    if (!model)
      throw new RecipeError(
        where,
        'the model has no mean/std to normalize with',
        "give { mean: [...], std: [...] } or 'imagenet'",
      );
    return model;
  }
  if (v === 'imagenet') return { mean: IMAGENET_MEAN, std: IMAGENET_STD };
  const o = obj(v, where, ['mean', 'std']);
  const list = (x: unknown, k: string) => {
    if (!Array.isArray(x) || !x.length || !x.every((n) => typeof n === 'number'))
      throw new RecipeError(`${where}.${k}`, `expected a list of numbers, got ${show(x)}`);
    return x as number[];
  };
  return { mean: list(o.mean, 'mean'), std: list(o.std, 'std') };
}

const BUILDERS: Record<string, (v: unknown, where: string, model: NormStats | undefined) => Transform> = {
  resize: (v, w) => {
    if (isSize(v)) return T.resize(v);
    const o = obj(v, w, ['size', 'maxSize']);
    return T.resize(sizeOf(o.size, `${w}.size`), { maxSize: o.maxSize as number | undefined });
  },
  centerCrop: (v, w) => T.centerCrop(sizeOf(v, w)),
  randomResizedCrop: (v, w) => {
    if (isSize(v)) return T.randomResizedCrop(v);
    const o = obj(v, w, ['size', 'scale', 'ratio']);
    return T.randomResizedCrop(sizeOf(o.size, `${w}.size`), {
      scale: o.scale === undefined ? undefined : pair(o.scale, `${w}.scale`),
      ratio: o.ratio === undefined ? undefined : pair(o.ratio, `${w}.ratio`),
    });
  },
  randomCrop: (v, w) => {
    if (isSize(v)) return T.randomCrop(v);
    const o = obj(v, w, ['size', 'padding']);
    return T.randomCrop(sizeOf(o.size, `${w}.size`), { padding: o.padding as number | undefined });
  },
  randomHorizontalFlip: (v, w) => T.randomHorizontalFlip(probOf(v, w, 0.5)),
  randomVerticalFlip: (v, w) => T.randomVerticalFlip(probOf(v, w, 0.5)),
  colorJitter: (v, w) => T.colorJitter(obj(v ?? {}, w, ['brightness', 'contrast', 'saturation', 'hue']) as never),
  grayscale: (v, w) => {
    if (v !== undefined && v !== null && v !== 1 && v !== 3)
      throw new RecipeError(w, `expected 1 or 3 channels, got ${show(v)}`);
    return T.grayscale((v ?? 1) as 1 | 3);
  },
  randomGrayscale: (v, w) => T.randomGrayscale(probOf(v, w, 0.1)),
  normalize: (v, w, model) => {
    const s = stats(v, w, model);
    return T.normalize(s.mean, s.std);
  },
};

export const TRANSFORM_NAMES = Object.keys(BUILDERS);

/** One transform spec; `model` is the model's mean/std for { normalize: model }. */
export function parseTransform(spec: unknown, where: string, model?: NormStats): Transform {
  let name: string;
  let arg: unknown;
  if (typeof spec === 'string') [name, arg] = [spec, undefined];
  else if (spec && typeof spec === 'object' && !Array.isArray(spec) && Object.keys(spec).length === 1)
    [name, arg] = Object.entries(spec)[0]!;
  else throw new RecipeError(where, `expected a transform: a name or { name: argument }, got ${show(spec)}`);
  const build = BUILDERS[name];
  if (!build) {
    const near = didYouMean(name, TRANSFORM_NAMES);
    throw new RecipeError(
      where,
      `unknown transform '${name}'`,
      near ? `did you mean '${near}'?` : `transforms: ${TRANSFORM_NAMES.join(', ')}`,
    );
  }
  try {
    return build(arg, `${where}.${name}`, model);
  } catch (e) {
    if (e instanceof ArgumentError) throw new RecipeError(`${where}.${name}`, e.message);
    throw e;
  }
}

/** A list of specs; normalize must come last (it runs after ToTensor). */
export function parseTransforms(specs: readonly unknown[], where: string, model?: NormStats): Transform[] {
  const out = specs.map((s, i) => parseTransform(s, `${where}[${i}]`, model));
  const n = out.findIndex((t) => t.type === 'normalize');
  if (n >= 0 && n !== out.length - 1)
    throw new RecipeError(`${where}[${n}]`, 'normalize must be the last transform (it runs after ToTensor)');
  return out;
}

/**
 * The default pipeline: resize to the input size (center-cropped for image files, whose aspect
 * ratios vary), 1-channel data repeated to 3 channels for RGB models, normalized by the model's
 * mean/std when it has them.
 */
export function defaultTransforms(o: {
  imageSize: number | undefined;
  files: boolean;
  grayToRgb: boolean;
  stats: NormStats | undefined;
}): Transform[] {
  const out: Transform[] = [];
  if (o.grayToRgb) out.push(T.grayscale(3));
  if (o.imageSize !== undefined) {
    out.push(T.resize(o.imageSize));
    if (o.files) out.push(T.centerCrop(o.imageSize));
  }
  if (o.stats) out.push(T.normalize(o.stats.mean, o.stats.std));
  return out;
}
