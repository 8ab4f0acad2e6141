// The data of a recipe: datasets for train / val / test by kind, their transforms (or tokenizer),
// seeded subsets for quick runs, and the loaders. Also what config.json keeps about preprocessing,
// so `graft predict` treats new inputs as evaluation did.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CausalLMDataset,
  DataError,
  DataLoader,
  type Dataset,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
  ImageArrayDataset,
  type ImageDataset,
  imageFolder,
  imageFolderSplits,
  imageManifest,
  mnistFolder,
  Rng,
  splitDataset,
  type TextDataset,
  TextTokenizer,
  type Transform,
  textDataset,
} from '../data/index.ts';
import { RecipeError } from '../errors.ts';
import type { ModelMeta } from '../models/index.ts';
import type { Preprocessing } from '../train/index.ts';
import { causalLMSets, hfDirOf } from './causal_lm.ts';
import type { Recipe, RecipeData } from './schema.ts';
import { defaultTransforms, type NormStats, parseTransforms } from './transforms.ts';

export type Split = 'train' | 'val' | 'test';
type AnySet = ImageArrayDataset | ImageDataset | TextDataset | CausalLMDataset;

export interface BuiltData {
  classes: string[];
  sets: Partial<Record<Split, AnySet>>;
  /** image data: the evaluation pipeline (what predict applies); text: none */
  evalTransforms: Transform[];
  trainTransforms: Transform[];
  /** what config.json keeps to preprocess new inputs */
  preprocessing: Preprocessing;
  /** a loader over one split (train: shuffled per epoch and seeded; others in order) */
  loader(split: Split): DataLoader;
  /** stops loader worker threads */
  close(): Promise<void>;
  /** causal-LM data: the tokenizer it was encoded with */
  tokenizer?: TextTokenizer;
}

export interface DataOptions {
  seed: number;
  /** the model's metadata: input size, channels, mean / std */
  meta: ModelMeta | undefined;
  /** the model's input channels (default: meta's, else 3) */
  channels?: number;
}

function tokenizerOf(d: RecipeData): { tok: TextTokenizer; info: Record<string, unknown> } {
  const t = d.tokenizer!;
  if (typeof t === 'string') {
    const file = existsSync(t) && statSync(t).isFile() && t.endsWith('.txt') ? t : undefined;
    return { tok: file ? TextTokenizer.fromVocabTxt(file) : TextTokenizer.load(t), info: { path: t } };
  }
  return {
    tok: TextTokenizer.fromVocabTxt(t.vocab, { lowercase: t.lowercase, stripAccents: t.stripAccents }),
    info: {
      vocab: t.vocab,
      lowercase: t.lowercase ?? true,
      ...(t.stripAccents !== undefined ? { stripAccents: t.stripAccents } : {}),
    },
  };
}

function pick<T extends AnySet>(ds: T, n: number | undefined, seed: number, split: Split): T {
  if (n === undefined || n >= ds.length) return ds;
  const idx = new Rng(seed, 'subset', split)
    .permutation(ds.length)
    .slice(0, n)
    .sort((a, b) => a - b);
  return ds.subset(idx) as T;
}

function imageSets(d: RecipeData, seed: number): { train: AnySet; val?: AnySet; test?: AnySet; files: boolean } {
  const split = <T extends AnySet>(all: T) => {
    const s = splitDataset(all as ImageArrayDataset, { valRatio: d.valRatio!, seed });
    return { train: s.train as unknown as T, val: s.val as unknown as T };
  };
  if (d.kind === 'fashion-mnist' || d.kind === 'idx') {
    const root = d.root ?? FASHION_MNIST_DIR;
    const classes = d.classes ?? (d.kind === 'fashion-mnist' ? FASHION_MNIST_CLASSES : undefined);
    const train = mnistFolder(root, { train: true, classes });
    const test = mnistFolder(root, { train: false, classes });
    // without valRatio the t10k files are the validation (and test) split
    return d.valRatio ? { ...split(train), test, files: false } : { train, val: test, test, files: false };
  }
  if (d.kind === 'image-folder') {
    const root = d.root!;
    if (!existsSync(root))
      throw new DataError(root, 'no such folder', 'data.root is the image folder: root/train/<class>/...');
    const { train, val } = imageFolderSplits(root, {
      valRatio: d.valRatio,
      seed,
      mode: d.mode,
      classes: d.classes,
      maxImagePixels: d.maxImagePixels,
    });
    const testDir = join(root, 'test');
    const test = existsSync(testDir)
      ? imageFolder(testDir, { classes: [...train.classes], mode: d.mode, maxImagePixels: d.maxImagePixels })
      : undefined;
    return { train, val, test, files: true };
  }
  const opts = {
    pathColumn: d.pathColumn,
    labelColumn: d.labelColumn,
    onBadSample: d.onBadSample,
    mode: d.mode,
    maxImagePixels: d.maxImagePixels,
  };
  const train = imageManifest(d.train!, { ...opts, classes: d.classes });
  const classes = [...train.classes];
  const test = d.test ? imageManifest(d.test, { ...opts, classes }) : undefined;
  if (d.val) return { train, val: imageManifest(d.val, { ...opts, classes }), test, files: true };
  return d.valRatio ? { ...split(train), test, files: true } : { train, test, files: true };
}

/** Builds the recipe's datasets and loaders (reads file lists and IDX files; images decode per batch). */
export function buildData(r: Recipe, o: DataOptions): BuiltData {
  const d = r.data;
  const seed = o.seed;
  const sets: Partial<Record<Split, AnySet>> = {};
  let trainT: Transform[] = [];
  let evalT: Transform[] = [];
  let preprocessing: Preprocessing;
  let lmTokenizer: TextTokenizer | undefined;
  if (d.kind === 'causal-lm') {
    const lm = causalLMSets(d, seed, hfDirOf(r));
    Object.assign(sets, lm.sets);
    preprocessing = lm.preprocessing;
    lmTokenizer = lm.tokenizer;
  } else if (d.kind === 'text') {
    const { tok, info } = tokenizerOf(d);
    const enc = {
      textColumn: d.textColumn,
      labelColumn: d.labelColumn,
      pairColumn: d.pairColumn,
      onBadSample: d.onBadSample,
      maxLength: d.maxLength ?? 128,
      padding: d.padding ?? ('longest' as const),
    };
    sets.train = textDataset(d.train!, tok, { ...enc, classes: d.classes });
    const classes = [...sets.train.classes];
    if (d.val) sets.val = textDataset(d.val, tok, { ...enc, classes });
    else if (d.valRatio) {
      const s = splitDataset(sets.train, { valRatio: d.valRatio, seed });
      [sets.train, sets.val] = [s.train, s.val];
    }
    if (d.test) sets.test = textDataset(d.test, tok, { ...enc, classes });
    preprocessing = { kind: 'text', tokenizer: info, maxLength: enc.maxLength, padding: enc.padding };
  } else {
    const got = imageSets(d, seed);
    const meta = o.meta;
    const stats: NormStats | undefined = meta?.mean && meta.std ? { mean: meta.mean, std: meta.std } : undefined;
    const channels = o.channels ?? meta?.inputSize?.[0] ?? 3;
    const dataChannels = got.train instanceof ImageArrayDataset ? got.train.channels : d.mode === 'L' ? 1 : 3;
    const imageSize = d.imageSize ?? meta?.inputSize?.[1];
    const dflt = defaultTransforms({
      imageSize,
      files: got.files,
      grayToRgb: dataChannels === 1 && channels === 3,
      stats,
    });
    trainT = d.transforms?.train ? parseTransforms(d.transforms.train, 'data.transforms.train', stats) : dflt;
    evalT = d.transforms?.eval ? parseTransforms(d.transforms.eval, 'data.transforms.eval', stats) : dflt;
    const withT = (s: AnySet | undefined, t: Transform[]) =>
      s === undefined ? undefined : (s as ImageArrayDataset | ImageDataset).withTransforms(t);
    sets.train = withT(got.train, trainT);
    sets.val = withT(got.val, evalT);
    sets.test = withT(got.test, evalT);
    const norm = [...evalT].reverse().find((t) => t.type === 'normalize') as
      | { mean: number[]; std: number[] }
      | undefined;
    preprocessing = {
      kind: 'image',
      ...(imageSize ? { inputSize: [channels, imageSize, imageSize] as [number, number, number] } : {}),
      ...(norm ? { mean: norm.mean, std: norm.std } : {}),
      mode: d.mode ?? 'RGB',
      transforms: evalT,
    };
  }
  // the training set's classes: folder names, or data.classes as the loaders applied them
  const classes = [...((sets.train as { classes?: readonly string[] }).classes ?? [])];
  const sub = d.subset ?? {};
  for (const s of ['train', 'val', 'test'] as const) if (sets[s]) sets[s] = pick(sets[s]!, sub[s], seed, s);
  const loaders: DataLoader[] = [];
  const loader = (split: Split): DataLoader => {
    const ds = sets[split] as Dataset | undefined;
    if (!ds)
      throw new RecipeError(
        `data.${split}`,
        `this recipe's data has no ${split} split`,
        split === 'test' ? 'give data.test (or a test/ folder beside train/)' : 'give data.val or data.valRatio',
      );
    const train = split === 'train';
    const l = new DataLoader(ds, {
      batchSize: train ? (d.batchSize ?? 32) : (d.evalBatchSize ?? d.batchSize ?? 32),
      shuffle: train ? (d.shuffle ?? true) : false,
      dropLast: train ? (d.dropLast ?? false) : false,
      seed,
      workers: d.workers ?? 0,
      prefetch: d.prefetch,
      onBadSample: d.onBadSample,
    });
    loaders.push(l);
    return l;
  };
  return {
    classes,
    sets,
    evalTransforms: evalT,
    trainTransforms: trainT,
    preprocessing,
    ...(lmTokenizer ? { tokenizer: lmTokenizer } : {}),
    loader,
    async close() {
      await Promise.all(loaders.map((l) => l.close()));
    },
  };
}
