// Tiny data and checkpoints for the recipe tests: image folders written with sharp, a text CSV and
// vocab for BERT, state dicts saved under a prefix, and overrides that make any recipe a quick run.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { type RawTensor, writePth, writeSafetensors } from '../../src/io/index.ts';
import { tensorToRaw } from '../../src/io/tensors.ts';
import * as models from '../../src/models/index.ts';
import type { Module } from '../../src/nn/index.ts';
import { manualSeed } from '../../src/tensor/index.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RECIPES = join(ROOT, 'recipes');
export const recipe = (name: string) => join(RECIPES, name);

export function tmpDir(prefix = 'graft-recipe-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function rmDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
}

export async function withTmp<T>(fn: (dir: string) => Promise<T> | T): Promise<T> {
  const d = tmpDir();
  try {
    return await fn(d);
  } finally {
    rmDir(d);
  }
}

/** A PNG of w x h whose colour depends on the class (so a model can learn it) plus a little noise. */
export async function writeImage(file: string, cls: number, i: number, w = 20, h = 16): Promise<void> {
  const buf = Buffer.alloc(w * h * 3);
  for (let p = 0; p < w * h; p++)
    for (let c = 0; c < 3; c++) buf[p * 3 + c] = ((cls * 80 + c * 40 + ((p * 7 + i * 13) % 23)) * (c + 1)) % 256;
  mkdirSync(dirname(file), { recursive: true });
  await sharp(buf, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(file);
}

/** root/train/<class>/*.png and root/val/<class>/*.png. */
export async function imageFolder(root: string, classes: string[], perClass = { train: 4, val: 2 }): Promise<string> {
  for (const split of ['train', 'val'] as const)
    for (const [k, c] of classes.entries())
      for (let i = 0; i < perClass[split]; i++) await writeImage(join(root, split, c, `${i}.png`), k, i);
  return root;
}

const WORDS = ['good', 'great', 'fine', 'bad', 'awful', 'poor', 'movie', 'film', 'plot', 'the', 'was', 'very'];

/** vocab.txt (BERT specials + a few words) and train/val CSVs of text,label. */
export function textData(dir: string): { vocab: string; train: string; val: string; vocabSize: number } {
  mkdirSync(dir, { recursive: true });
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS];
  writeFileSync(join(dir, 'vocab.txt'), `${vocab.join('\n')}\n`);
  const rows = (n: number, off: number) =>
    Array.from({ length: n }, (_, i) => {
      const pos = (i + off) % 2 === 0;
      const w = pos ? ['good', 'great', 'fine'] : ['bad', 'awful', 'poor'];
      return `"the movie was very ${w[i % 3]}",${pos ? 'pos' : 'neg'}`;
    });
  writeFileSync(join(dir, 'train.csv'), ['text,label', ...rows(12, 0)].join('\n'));
  writeFileSync(join(dir, 'val.csv'), ['text,label', ...rows(6, 1)].join('\n'));
  return {
    vocab: join(dir, 'vocab.txt'),
    train: join(dir, 'train.csv'),
    val: join(dir, 'val.csv'),
    vocabSize: vocab.length,
  };
}

/** A tiny BERT config (transformers' config.json keys). */
export const tinyBert = (vocabSize: number) => ({
  vocab_size: vocabSize,
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 32,
  max_position_embeddings: 64,
});

/** The model's state dict as raw tensors, keys prefixed. */
export function stateDictRaw(
  model: Module,
  prefix = '',
  keep: (k: string) => boolean = () => true,
): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const [k, t] of model.stateDict()) if (keep(k)) out.set(`${prefix}${k}`, tensorToRaw(t));
  return out;
}

/** torch.save({'model': state_dict, ...extra}) of a model with its keys prefixed. */
export function savePth(file: string, model: Module, prefix = '', extra: Map<string, RawTensor> = new Map()): string {
  const sd = stateDictRaw(model, prefix);
  for (const [k, v] of extra) sd.set(k, v);
  writePth(
    file,
    new Map<string, unknown>([
      ['model', sd],
      ['epoch', 100],
    ]) as never,
  );
  return file;
}

export function saveSafetensors(file: string, tensors: Map<string, RawTensor>): string {
  writeSafetensors(file, tensors, { format: 'pt' });
  return file;
}

/**
 * A tiny BERT's encoder weights (the `bert.` keys, seeded) saved as safetensors under `dir`: the
 * pretrained checkpoint the BERT recipes load. Returns its config and the file.
 */
export function tinyBertCheckpoint(
  dir: string,
  vocabSize: number,
): { config: ReturnType<typeof tinyBert>; ckpt: string } {
  const config = tinyBert(vocabSize);
  manualSeed(3);
  const src = models.create('bert-base-uncased', { config, numClasses: 2 });
  const ckpt = saveSafetensors(
    join(dir, 'bert.safetensors'),
    stateDictRaw(src, '', (k) => k.startsWith('bert.')),
  );
  src.dispose();
  return { config, ckpt };
}

/**
 * The 004_cifar_* fine-tuning recipes start from 004_cifar_base.yaml's model.safetensors: this writes
 * a stand-in (cifar_net with seeded random weights) under `dir` and returns the override to use it.
 */
export function cifarBase(dir: string, seed = 4): string {
  manualSeed(seed);
  const net = models.create('cifar_net');
  const file = saveSafetensors(join(dir, 'cifar-base.safetensors'), stateDictRaw(net));
  net.dispose();
  return `model.pretrained.checkpoint=${file}`;
}

/** Overrides that make a recipe a quick run: small subsets, small batches, one epoch per phase, no report. */
export function quick(
  phases: number,
  o: { train?: number; val?: number; batch?: number; out?: string } = {},
): string[] {
  return [
    `data.subset={train: ${o.train ?? 8}, val: ${o.val ?? 4}}`,
    `data.batchSize=${o.batch ?? 4}`,
    ...Array.from({ length: phases }, (_, i) => `phases[${i}].epochs=1`),
    ...(o.out ? [`output.dir=${o.out}`] : []),
    'train.threads=2',
    'train.report=false', // the HTML report renders charts after every epoch: tested in test/cli
  ];
}

export function readJsonl(file: string): any[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

export { capture } from '../_capture.ts';
