// Image-file datasets: torchvision's ImageFolder layout (one folder per class), train/ + val/ folders
// or a seeded split, and CSV/JSONL manifests of path,label.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ArgumentError } from '../errors.ts';
import { type BatchContext, type Dataset, type LoadedBatch, labelField, splitDataset } from './dataset.ts';
import { type BadSample, DataError, type OnBadSample } from './errors.ts';
import { checkPixelLimit, type ImageJob, type ImageMode, loadImageBatch, readImage, sampleRng } from './image.ts';
import { nativeBatchLoader, nativeChain, nativeImagesEnabled } from './image_fast.ts';
import { countLabels, labelName, looksAlike, tableLabels, warnDropped, warnNearDuplicateLabels } from './labels.ts';
import { byCodePoint, pickColumn, readTable } from './manifest.ts';
import { applyTransforms, checkTransforms, type FloatImage, type Transform } from './transforms.ts';
import { defaultWarn, type WarnFn } from './warn.ts';

/** torchvision's IMG_EXTENSIONS. */
export const IMG_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp'];

export interface ImageSample {
  file: string;
  label: number;
}

export interface ImageDatasetOptions {
  transforms?: Transform[];
  /** 'RGB' (default, as torchvision's loader) or 'L' */
  mode?: ImageMode;
  /**
   * an image with more pixels is refused from its header, before decoding (a decompression bomb:
   * a 283 KB PNG can decode to 1 GB). Default MAX_IMAGE_PIXELS (PIL's limit); null: no limit.
   */
  maxImagePixels?: number | null;
}

/** A list of image files with class labels; decoding and transforms happen per batch (in workers if asked). */
export class ImageDataset implements Dataset {
  readonly samples: readonly ImageSample[];
  readonly classes: readonly string[];
  readonly transforms: readonly Transform[];
  readonly mode: ImageMode;
  readonly maxImagePixels: number | null;
  /** rows of a manifest that could not be used (onBadSample: 'skip') */
  readonly bad: readonly BadSample[];
  readonly targets: readonly number[];
  private job: ImageJob | null = null;

  constructor(samples: ImageSample[], classes: string[], o: ImageDatasetOptions & { bad?: BadSample[] } = {}) {
    this.samples = samples;
    this.classes = classes;
    this.transforms = checkTransforms(o.transforms ?? []);
    this.mode = o.mode ?? 'RGB';
    this.maxImagePixels = checkPixelLimit(o.maxImagePixels);
    this.bad = o.bad ?? [];
    this.targets = samples.map((s) => s.label);
    for (const s of samples)
      if (!(Number.isInteger(s.label) && s.label >= 0 && s.label < classes.length))
        throw new ArgumentError(`${s.file}: label ${s.label} is outside the ${classes.length} classes`);
  }

  get length(): number {
    return this.samples.length;
  }
  get classToIdx(): Record<string, number> {
    return Object.fromEntries(this.classes.map((c, k) => [c, k]));
  }

  /** The same files with other transforms (e.g. training augmentation vs evaluation). */
  withTransforms(transforms: Transform[]): ImageDataset {
    return new ImageDataset([...this.samples], [...this.classes], { ...this.options(), transforms });
  }

  subset(indices: readonly number[], o: { keepBad?: boolean } = {}): ImageDataset {
    const s = indices.map((i) => {
      const v = this.samples[i];
      if (!v) throw new ArgumentError(`subset: index ${i} out of range for ${this.length} samples`);
      return v;
    });
    return new ImageDataset(s, [...this.classes], { ...this.options(), bad: o.keepBad === false ? [] : [...this.bad] });
  }

  private options(): ImageDatasetOptions & { bad: BadSample[] } {
    return {
      transforms: [...this.transforms],
      mode: this.mode,
      maxImagePixels: this.maxImagePixels,
      bad: [...this.bad],
    };
  }

  /** One transformed sample (a CHW float32 image), augmented as at `position` of `epoch`. */
  async get(
    i: number,
    o: { seed?: number; epoch?: number; position?: number } = {},
  ): Promise<FloatImage & { y: number }> {
    const s = this.samples[i];
    if (!s) throw new ArgumentError(`index ${i} out of range for ${this.length} samples`);
    const img = await readImage(s.file, this.mode, { maxImagePixels: this.maxImagePixels });
    return {
      ...applyTransforms(img, this.transforms, sampleRng(o.seed ?? 0, o.epoch ?? 0, o.position ?? i)),
      y: s.label,
    };
  }

  /** made once: main-thread batches use it too, and the file list is as long as the dataset */
  workerJob(): ImageJob {
    this.job ??= {
      kind: 'images',
      files: this.samples.map((s) => s.file),
      transforms: [...this.transforms],
      mode: this.mode,
      maxImagePixels: this.maxImagePixels,
    };
    return this.job;
  }

  async loadBatch(indices: number[], ctx: BatchContext): Promise<LoadedBatch> {
    const r = await loadImageBatch(this.workerJob(), { indices, ...ctx });
    return imageBatchFields(r, this.targets);
  }

  /** PNG/JPEG decoded and transformed by the addon when the transforms are a standard chain. */
  nativeBatches(concurrency: number): ((indices: number[], ctx: BatchContext) => Promise<LoadedBatch>) | null {
    if (!nativeChain(this.transforms, this.mode) || !nativeImagesEnabled()) return null;
    return nativeBatchLoader(this.workerJob(), this.targets, concurrency);
  }
}

/** Turns a worker's (or the main thread's) raw image batch into loader fields. */
export function imageBatchFields(
  r: { x: { data: Float32Array; shape: number[] }; kept: number[]; bad: BadSample[] },
  targets: readonly number[],
): LoadedBatch {
  return { fields: { x: r.x, y: labelField(targets, r.kept) }, indices: r.kept, bad: r.bad };
}

const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** The image files under `dir`, as torchvision's make_dataset: sorted(os.walk(dir, followlinks=True)), names sorted per folder. */
export function walkImages(dir: string, exts: readonly string[]): string[] {
  const folders: [string, string[]][] = [];
  const visit = (d: string, depth: number) => {
    if (depth > 64) throw new DataError(d, 'folders nested too deep (a symlink loop?)');
    const files: string[] = [];
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (isDir(p)) visit(p, depth + 1);
      else files.push(name);
    }
    folders.push([d, files]);
  };
  visit(dir, 0);
  folders.sort((a, b) => byCodePoint(a[0], b[0]));
  const out: string[] = [];
  for (const [d, files] of folders)
    for (const f of files.sort(byCodePoint)) if (exts.some((e) => f.toLowerCase().endsWith(e))) out.push(join(d, f));
  return out;
}

/**
 * torchvision's ImageFolder: `root/<class>/**\/*.jpg`; classes are the sub-folder names sorted by code
 * point, files sorted within each folder. A class folder without images is an error, as there.
 */
export function imageFolder(
  root: string,
  o: ImageDatasetOptions & { classes?: string[]; extensions?: string[]; warn?: WarnFn } = {},
): ImageDataset {
  if (!isDir(root)) throw new DataError(root, 'not a folder', 'an image folder has one sub-folder per class');
  const classes =
    o.classes ??
    readdirSync(root)
      .filter((n) => isDir(join(root, n)))
      .sort(byCodePoint);
  if (!classes.length) throw new DataError(root, "couldn't find any class folder", 'put the images in root/<class>/');
  const exts = (o.extensions ?? IMG_EXTENSIONS).map((e) => e.toLowerCase());
  const samples: ImageSample[] = [];
  const empty: string[] = [];
  classes.forEach((c, label) => {
    const dir = join(root, c);
    if (!isDir(dir)) throw new DataError(dir, `class folder '${c}' does not exist`);
    const files = walkImages(dir, exts);
    if (!files.length) empty.push(c);
    for (const f of files) samples.push({ file: f, label });
  });
  if (empty.length)
    throw new DataError(
      root,
      `found no valid file for the classes ${empty.join(', ')}`,
      `supported extensions are: ${exts.join(', ')}`,
    );
  // a folder named with a typo is a class of its own: say so when it is rare and looks like another
  if (!o.classes)
    warnNearDuplicateLabels(countLabels(samples.map((s) => classes[s.label]!)), root, o.warn ?? defaultWarn, 'image');
  return new ImageDataset(samples, classes, o);
}

export interface SplitOptions {
  /** used when there is no val folder: the fraction of each class held out */
  valRatio?: number;
  seed?: number;
  trainTransforms?: Transform[];
  valTransforms?: Transform[];
  mode?: ImageMode;
  /** the class folders, in index order: any other folder is an error (a typo'd name is not a new class) */
  classes?: string[];
  /** images with more pixels are refused before decoding (default MAX_IMAGE_PIXELS) */
  maxImagePixels?: number | null;
  warn?: WarnFn;
}

/** Refuses a class folder that is not declared, naming the nearest declared class. */
function checkDeclaredFolders(dir: string, classes: readonly string[] | undefined): void {
  if (!classes) return;
  for (const n of readdirSync(dir).sort(byCodePoint))
    if (isDir(join(dir, n)) && !classes.includes(n)) {
      const near = classes.find((c) => looksAlike(n, c));
      throw new DataError(
        join(dir, n),
        `folder '${n}' is not one of the ${classes.length} declared classes${near ? ` (did you mean '${near}'?)` : ''}`,
        'rename or move the folder, or add its name to the classes',
      );
    }
}

/**
 * Train and validation sets from `root/train` + `root/val` (or `valid`, `validation`) when they exist,
 * with the training set's classes for both; else from `root` split by a seeded, per-class ratio.
 */
export function imageFolderSplits(root: string, o: SplitOptions = {}): { train: ImageDataset; val: ImageDataset } {
  const base = { mode: o.mode, maxImagePixels: o.maxImagePixels, warn: o.warn };
  const trainDir = join(root, 'train');
  if (isDir(trainDir)) {
    const valDir = ['val', 'valid', 'validation'].map((n) => join(root, n)).find(isDir);
    checkDeclaredFolders(trainDir, o.classes);
    if (!valDir) {
      if (o.valRatio === undefined)
        throw new DataError(
          root,
          'has train/ but no val/ folder',
          'add root/val/<class>/ or pass valRatio to split train/',
        );
      return splitFolder(imageFolder(trainDir, { ...base, classes: o.classes }), o);
    }
    const train = imageFolder(trainDir, { ...base, classes: o.classes, transforms: o.trainTransforms });
    checkDeclaredFolders(valDir, o.classes);
    const valClasses = readdirSync(valDir).filter((n) => isDir(join(valDir, n)));
    const extra = valClasses.filter((c) => !train.classes.includes(c));
    if (extra.length)
      throw new DataError(
        valDir,
        `classes not in train/: ${extra.join(', ')}`,
        'the val folders must use the training class names',
      );
    const present = train.classes.filter((c) => valClasses.includes(c));
    const part = imageFolder(valDir, { ...base, classes: present });
    const map = present.map((c) => train.classes.indexOf(c));
    const samples = part.samples.map((s) => ({ file: s.file, label: map[s.label]! }));
    return {
      train,
      val: new ImageDataset(samples, [...train.classes], { ...base, transforms: o.valTransforms }),
    };
  }
  if (o.valRatio === undefined)
    throw new DataError(root, 'has no train/ folder', 'use root/train + root/val, or pass valRatio for a seeded split');
  checkDeclaredFolders(root, o.classes);
  return splitFolder(imageFolder(root, { ...base, classes: o.classes }), o);
}

function splitFolder(all: ImageDataset, o: SplitOptions): { train: ImageDataset; val: ImageDataset } {
  const { train, val } = splitDataset(all, { valRatio: o.valRatio!, seed: o.seed });
  return { train: train.withTransforms(o.trainTransforms ?? []), val: val.withTransforms(o.valTransforms ?? []) };
}

export interface ManifestOptions extends ImageDatasetOptions {
  /** folder that relative paths start from (default: the manifest's folder) */
  root?: string;
  pathColumn?: string;
  labelColumn?: string;
  /**
   * class names in index order; a row with another label is an error naming its line (skipped under
   * onBadSample 'skip'). Integer labels index into the list when no class name is an integer.
   * Default: integer labels as they are, names sorted (and a warning for a rare label that looks like
   * a typo of a frequent one).
   */
  classes?: string[];
  onBadSample?: OnBadSample;
  /** where warnings go (default: a `graft: warning:` line on stderr) */
  warn?: WarnFn;
}

/**
 * A CSV (header row) or JSONL manifest with a path and a label per row; paths are relative to the
 * manifest. Missing files are found here, not mid-epoch: an error naming them, or skipped and recorded.
 */
export function imageManifest(file: string, o: ManifestOptions = {}): ImageDataset {
  const warn = o.warn ?? defaultWarn;
  const t = readTable(file, { onBadSample: o.onBadSample });
  const pathCol = pickColumn(t, o.pathColumn ? [o.pathColumn] : ['path', 'file', 'filename', 'image'], 'path');
  const labelCol = pickColumn(t, o.labelColumn ? [o.labelColumn] : ['label', 'class', 'target', 'y'], 'label');
  const base = o.root ?? dirname(resolve(file));
  const bad = [...t.bad];
  const rows: { file: string; label: string; line: number }[] = [];
  for (const r of t.rows) {
    const p = r.values[pathCol];
    const label = r.values[labelCol];
    let reason: string | undefined;
    if (typeof p !== 'string' || !p) reason = `no ${pathCol}`;
    else if (label === undefined || label === null || label === '') reason = `no ${labelCol}`;
    const full = typeof p === 'string' ? (isAbsolute(p) ? p : join(base, p)) : '';
    if (!reason && !existsSync(full)) reason = `image ${full} does not exist`;
    if (reason) {
      if (o.onBadSample !== 'skip') throw new DataError(file, `line ${r.line}: ${reason}`);
      bad.push({ file: full || `${file}:${r.line}`, reason });
      continue;
    }
    rows.push({ file: full, label: labelName(label), line: r.line });
  }
  const got = tableLabels(rows, file, {
    classes: o.classes,
    onBadSample: o.onBadSample,
    warn,
    bad,
    badName: (r) => r.file,
  });
  warnDropped(bad, warn);
  const samples = got.rows.map((r, k) => ({ file: r.file, label: got.targets[k]! }));
  const { warn: _w, ...rest } = o;
  return new ImageDataset(samples, got.classes, { ...rest, bad });
}
