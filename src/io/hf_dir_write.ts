// Writes a Hugging Face model directory as save_pretrained does: config.json (sorted keys),
// model.safetensors or model-0000i-of-0000n.safetensors + model.safetensors.index.json, tied
// weights saved once, tokenizer files copied. Each file is written atomically; stale weight files
// of an earlier layout are removed only after the new one is complete.
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError, CheckpointError, GraftError } from '../errors.ts';
import type { Module } from '../nn/index.ts';
import { type DType, noGrad, type Tensor, tidy } from '../tensor/index.ts';
import { removeQuietly, WriteError, writeFileAtomic } from '../util/write.ts';
import {
  HF_BIN,
  HF_BIN_INDEX,
  HF_CONFIG,
  HF_GENERATION_CONFIG,
  HF_SAFETENSORS,
  HF_SAFETENSORS_INDEX,
  HF_TOKENIZER_FILES,
} from './hf_dir.ts';
import type { RawTensor } from './raw.ts';
import { writeSafetensors } from './safetensors.ts';

export interface WriteHfDirOptions {
  /** config.json contents (HF keys); torch_dtype is set from the weights written */
  config: Record<string, unknown>;
  /** the model to save (its state dict; a tied parameter is written once, under its first name) */
  model?: Module;
  /** or a state dict (tensors that are the same object are written once) */
  stateDict?: Map<string, Tensor>;
  /** convert floating-point weights to this dtype as they are written */
  dtype?: DType;
  /** largest shard in bytes, or '5GB' / '500MB' / '10KB' (decimal, as transformers); default 5GB */
  maxShardSize?: number | string;
  /** a directory whose tokenizer files (tokenizer.json, tokenizer_config.json, ...) are copied */
  tokenizerFrom?: string;
  /** generation_config.json contents */
  generationConfig?: Record<string, unknown>;
}

export interface WriteHfDirResult {
  dir: string;
  /** weight files written (relative names) */
  weightFiles: string[];
  tokenizerFiles: string[];
  /** bytes of weights written */
  totalSize: number;
}

const UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30 };

/** transformers' convert_file_size_to_int: '5GB' = 5e9 bytes, '5GiB' = 5 * 2^30. */
export function parseShardSize(v: number | string): number {
  if (typeof v === 'number') {
    if (!(v > 0)) throw new ArgumentError(`maxShardSize must be a positive number of bytes, got ${v}`);
    return v;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMG]I?B|B)\s*$/i.exec(v);
  if (!m) throw new ArgumentError(`maxShardSize '${v}' is not a size`, "write e.g. '5GB', '500MB' or a byte count");
  return Math.floor(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
}

const json = (v: unknown): string => `${JSON.stringify(sortKeys(v), null, 2)}\n`;

/** json.dumps(sort_keys=True): objects' keys sorted at every depth. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  return v;
}

const isFloat = (dt: DType): boolean => dt === 'float32' || dt === 'float64' || dt === 'float16' || dt === 'bfloat16';

function entriesToWrite(o: WriteHfDirOptions): [string, Tensor][] {
  const sd = o.model ? o.model.stateDict({ keepVars: true }) : o.stateDict;
  if (!sd) throw new ArgumentError('writeHfDir needs a model or a stateDict');
  const seen = new Set<Tensor>();
  const out: [string, Tensor][] = [];
  for (const [k, t] of sd) {
    if (seen.has(t)) continue; // save_pretrained drops tied copies (lm_head.weight of a tied head)
    seen.add(t);
    out.push([k, t]);
  }
  return out;
}

function toRaw(t: Tensor, dtype: DType | undefined): RawTensor {
  return noGrad(() =>
    tidy(() => {
      const src = dtype && isFloat(t.dtype) && t.dtype !== dtype ? t.to(dtype) : t;
      const c = src.to({ device: 'cpu' }).contiguous();
      return { dtype: c.dtype, shape: [...c.shape], data: c.numel() ? c.bytes() : new Uint8Array(0) };
    }),
  );
}

const bytesOf = (t: Tensor, dtype: DType | undefined): number => {
  const dt = dtype && isFloat(t.dtype) ? dtype : t.dtype;
  const size = { float64: 8, int64: 8, float32: 4, int32: 4, float16: 2, bfloat16: 2, int16: 2 }[dt as string] ?? 1;
  return t.numel() * size;
};

/** Groups tensors into shards as huggingface_hub does: a new shard when the next tensor would overflow. */
function planShards(entries: [string, Tensor][], max: number, dtype: DType | undefined): [string, Tensor][][] {
  const shards: [string, Tensor][][] = [];
  let cur: [string, Tensor][] = [];
  let size = 0;
  for (const e of entries) {
    const n = bytesOf(e[1], dtype);
    // a tensor over the limit gets a shard of its own, the open shard stays open (huggingface_hub)
    if (n > max) {
      shards.push([e]);
      continue;
    }
    if (cur.length && size + n > max) {
      shards.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(e);
    size += n;
  }
  if (cur.length || !shards.length) shards.push(cur);
  return shards;
}

const SHARD_NAME = /^(model|pytorch_model)-\d{5}-of-\d{5}\.(safetensors|bin)$/;

/**
 * Writes config.json, the weights (one model.safetensors, or shards + index past maxShardSize),
 * generation_config.json and the tokenizer files of `tokenizerFrom`, into dir (created if needed).
 * Only one shard's bytes are in memory at a time.
 */
export function writeHfDir(dir: string, o: WriteHfDirOptions): WriteHfDirResult {
  const max = parseShardSize(o.maxShardSize ?? '5GB');
  if (existsSync(dir) && !statSync(dir).isDirectory())
    throw new CheckpointError(dir, 'exists and is not a directory', 'choose another output path');
  mkdirSync(dir, { recursive: true });
  const entries = entriesToWrite(o);
  const dtypes = new Set(entries.map(([, t]) => (o.dtype && isFloat(t.dtype) ? o.dtype : t.dtype)).filter(isFloat));
  const shards = planShards(entries, max, o.dtype);
  const n = shards.length;
  const names = n === 1 ? [HF_SAFETENSORS] : shards.map((_, i) => `model-${pad5(i + 1)}-of-${pad5(n)}.safetensors`);
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  // every shard goes to a .partial name first: the weights already there stay whole and
  // consistent with their index until all new shards are on disk, then renames swap them in
  const partial = (name: string) => join(dir, `${name}.partial-${process.pid}`);
  try {
    shards.forEach((shard, i) => {
      const raws = new Map<string, RawTensor>();
      for (const [k, t] of shard) {
        const r = toRaw(t, o.dtype);
        raws.set(k, r);
        weightMap[k] = names[i]!;
        totalSize += r.data.byteLength;
      }
      writeSafetensors(partial(names[i]!), raws, { format: 'pt' });
    });
    for (const name of names) renameSync(partial(name), join(dir, name));
  } catch (e) {
    for (const name of names) removeQuietly(partial(name));
    throw e instanceof GraftError ? e : new WriteError(join(dir, names[0]!), e);
  }
  if (n > 1)
    writeFileAtomic(
      join(dir, HF_SAFETENSORS_INDEX),
      json({ metadata: { total_size: totalSize }, weight_map: weightMap }),
    );
  // the new weights are complete: drop files of another layout that a loader would pick first
  const keep = new Set([...names, ...(n > 1 ? [HF_SAFETENSORS_INDEX] : [])]);
  for (const f of readdirSync(dir))
    if (
      !keep.has(f) &&
      (SHARD_NAME.test(f) || [HF_SAFETENSORS, HF_SAFETENSORS_INDEX, HF_BIN, HF_BIN_INDEX].includes(f))
    )
      rmSync(join(dir, f));
  const config: Record<string, unknown> = { ...o.config };
  if (dtypes.size === 1) config.torch_dtype = [...dtypes][0];
  writeFileAtomic(join(dir, HF_CONFIG), json(config));
  if (o.generationConfig) writeFileAtomic(join(dir, HF_GENERATION_CONFIG), json(o.generationConfig));
  const tokenizerFiles: string[] = [];
  if (o.tokenizerFrom !== undefined) {
    for (const f of HF_TOKENIZER_FILES) {
      const src = join(o.tokenizerFrom, f);
      if (!existsSync(src)) continue;
      const dst = join(dir, f);
      if (src !== dst) copyAtomic(src, dst);
      tokenizerFiles.push(f);
    }
    if (!tokenizerFiles.length)
      throw new CheckpointError(
        o.tokenizerFrom,
        'no tokenizer files here',
        `expected one of ${HF_TOKENIZER_FILES.join(', ')}`,
      );
  }
  return { dir, weightFiles: names, tokenizerFiles, totalSize };
}

const pad5 = (i: number): string => String(i).padStart(5, '0');

/** copyFileSync through a temp file + rename: a reader sees the old file or the new one. */
function copyAtomic(src: string, dst: string): void {
  const tmp = `${dst}.tmp-${process.pid}`;
  try {
    copyFileSync(src, tmp);
    renameSync(tmp, dst);
  } catch (e) {
    removeQuietly(tmp);
    throw new WriteError(dst, e, 'copy to');
  }
}
