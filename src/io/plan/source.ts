// Opening a checkpoint for a load plan or `graft inspect`: any format graft reads, detected by
// content, with tensors left unread (TensorRef) wherever the format allows.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CheckpointError } from '../../errors.ts';
import { type CheckpointFormat, detectSource } from '../detect.ts';
import { FileSource, printable, withFile } from '../file.ts';
import { readPthLegacy } from '../pth/legacy.ts';
import type { PickleLimits } from '../pth/limits.ts';
import { parseSafetensorsHeader } from '../safetensors.ts';
import { shardsOfWeightMap } from '../sharded.ts';
import { readTfjsModel, type TfjsModel } from '../tfjs/tfjs.ts';
import { readPthZipRefs } from './pth_lazy.ts';
import { flattenLeaves, type Leaf, TensorRef } from './tree.ts';

export type SourceFormat = CheckpointFormat | 'safetensors-sharded' | 'pth-sharded' | 'tfjs' | 'object';

export const FORMAT_NAMES: Record<SourceFormat, string> = {
  safetensors: 'safetensors',
  'pth-zip': 'PyTorch checkpoint (zip)',
  'pth-legacy': 'PyTorch checkpoint (legacy format)',
  'safetensors-sharded': 'sharded safetensors',
  'pth-sharded': 'sharded PyTorch checkpoint',
  tfjs: 'TF.js layers model',
  object: 'in-memory object',
};

export interface OpenedCheckpoint {
  /** the file (or folder) as given, '<object>' for in-memory values */
  file: string;
  format: SourceFormat;
  /** what the file holds: dicts / lists / values with tensor leaves (TensorRef where unread) */
  root: unknown;
  /** bytes on disk, all shards / weight files included */
  bytes: number;
  /** safetensors `__metadata__`, the shard index's `metadata`, or TF.js model facts */
  metadata: Record<string, unknown> | null;
  /** shard files (sharded safetensors) */
  shards?: string[];
  tfjs?: TfjsModel;
}

const DIR_CANDIDATES = [
  'model.safetensors.index.json',
  'model.safetensors',
  'pytorch_model.bin.index.json',
  'pytorch_model.bin',
  'model.json',
  'model.min.js',
  'model.js',
];

/** A folder -> the checkpoint file in it (Hugging Face / TF.js layouts, or its only checkpoint). */
function resolveFolder(dir: string): string {
  for (const n of DIR_CANDIDATES) if (existsSync(join(dir, n))) return join(dir, n);
  const files = readdirSync(dir).filter((n) => /\.(safetensors|pth|pt|bin|ckpt)$/.test(n));
  if (files.length === 1) return join(dir, files[0]!);
  throw new CheckpointError(
    dir,
    files.length
      ? `several checkpoints in this folder: ${files.slice(0, 8).join(', ')}`
      : 'no checkpoint in this folder',
    files.length
      ? 'name the file'
      : `graft looks for ${DIR_CANDIDATES.join(', ')}, or a single .safetensors/.pth/.pt/.bin`,
  );
}

/**
 * Opens a checkpoint file or folder without reading tensor data where the format allows.
 * `opts` are readPth's pickle limits (depth, allocation budget) for .pth files.
 */
export function openCheckpoint(path: string, opts: PickleLimits = {}): OpenedCheckpoint {
  if (!existsSync(path)) throw new CheckpointError(path, 'no such file or folder');
  const file = statSync(path).isDirectory() ? resolveFolder(path) : path;
  if (/\.js$/.test(file)) return openTfjs(path);
  return withFile(file, (src) => {
    let format: CheckpointFormat;
    try {
      format = detectSource(src);
    } catch (e) {
      const head = src.read(0, Math.min(src.size, 64), 'file header');
      if (!/^\s*\{/.test(new TextDecoder().decode(head))) throw e;
      return openJson(path, file, opts);
    }
    if (format === 'safetensors') {
      const { entries, metadata } = parseSafetensorsHeader(src);
      const root = new Map<string, Leaf>();
      for (const e of entries) root.set(e.name, new TensorRef(e.dtype, e.shape, file, e.begin, e.end));
      return { file: path, format, root, bytes: src.size, metadata };
    }
    const root = format === 'pth-zip' ? readPthZipRefs(src, opts) : readPthLegacy(src, opts);
    return { file: path, format, root, bytes: src.size, metadata: null };
  });
}

function openJson(given: string, file: string, opts: PickleLimits): OpenedCheckpoint {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(file, `not a checkpoint, and not valid JSON: ${(e as Error).message}`);
  }
  const o = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  if ('weight_map' in o) return openSharded(given, file, o, opts);
  if ('modelTopology' in o || 'weightsManifest' in o) return openTfjs(given);
  throw new CheckpointError(
    file,
    'a JSON file that is neither a shard index (weight_map) nor a TF.js model (modelTopology)',
  );
}

function openTfjs(given: string): OpenedCheckpoint {
  const tfjs = readTfjsModel(given);
  const dir = dirname(tfjs.file);
  let bytes = statSync(tfjs.file).size;
  for (const n of readdirSync(dir)) if (/shard\d+of\d+/.test(n)) bytes += statSync(join(dir, n)).size;
  return { file: given, format: 'tfjs', root: tfjs.weights, bytes, metadata: tfjs.meta, tfjs };
}

/** One shard's tensors: safetensors headers, or a .bin state dict (pytorch_model-00001-of-00002.bin). */
function shardTensors(src: FileSource, formats: Set<CheckpointFormat>, opts: PickleLimits): Map<string, Leaf> {
  const format = detectSource(src);
  formats.add(format);
  if (format === 'safetensors') {
    const out = new Map<string, Leaf>();
    for (const e of parseSafetensorsHeader(src).entries)
      out.set(e.name, new TensorRef(e.dtype, e.shape, src.path, e.begin, e.end));
    return out;
  }
  return flattenLeaves(format === 'pth-zip' ? readPthZipRefs(src, opts) : readPthLegacy(src, opts));
}

/**
 * model.safetensors.index.json (or pytorch_model.bin.index.json): every shard's header, checked
 * against the index as readShardedSafetensors does.
 */
function openSharded(
  given: string,
  file: string,
  index: Record<string, unknown>,
  opts: PickleLimits,
): OpenedCheckpoint {
  const fail = (reason: string): never => {
    throw new CheckpointError(file, reason);
  };
  const wm = index.weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) return fail('shard index has no weight_map object');
  const byShard = shardsOfWeightMap(wm as Record<string, unknown>, fail);
  const root = new Map<string, Leaf>();
  const formats = new Set<CheckpointFormat>();
  let bytes = statSync(file).size;
  for (const [shard, names] of byShard) {
    const path = join(dirname(file), shard);
    const tensors = withFile(path, (src) => {
      bytes += src.size;
      return shardTensors(src, formats, opts);
    });
    for (const [name, t] of tensors) {
      if (!names.has(name))
        fail(`shard ${printable(shard)} holds ${printable(name)}, which weight_map does not assign to it`);
      root.set(name, t);
    }
    for (const n of names)
      if (!root.has(n)) fail(`weight_map puts ${printable(n)} in ${printable(shard)}, which lacks it`);
  }
  const metadata =
    typeof index.metadata === 'object' && index.metadata !== null ? (index.metadata as Record<string, unknown>) : null;
  const format = formats.size === 1 && formats.has('safetensors') ? 'safetensors-sharded' : 'pth-sharded';
  return { file: given, format, root, bytes, metadata, shards: [...byShard.keys()] };
}

/** Reads TensorRef leaves, keeping each file open once; close() when done. */
export class RefReader {
  readonly #open = new Map<string, FileSource>();

  read(ref: TensorRef) {
    let src = this.#open.get(ref.file);
    if (!src) {
      src = new FileSource(ref.file);
      this.#open.set(ref.file, src);
    }
    return ref.read(src);
  }

  close(): void {
    for (const s of this.#open.values()) s.close();
    this.#open.clear();
  }
}
