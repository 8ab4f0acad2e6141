// Hugging Face model directories (save_pretrained's layout): config.json, model.safetensors or a
// sharded model.safetensors.index.json (pytorch_model.bin[.index.json] for older ones), tokenizer
// files. Weights stream one tensor at a time, so loading needs the model plus one tensor of memory.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../errors.ts';
import type { Module } from '../nn/index.ts';
import { type DType, fromArray, noGrad, type Tensor } from '../tensor/index.ts';
import { printable, withFile } from './file.ts';
import { readPthZip } from './pth/torch_load.ts';
import { flattenTensors } from './py.ts';
import { numel, type RawTensor } from './raw.ts';
import { parseSafetensorsHeader } from './safetensors.ts';
import { shardsOfWeightMap } from './sharded.ts';

export const HF_CONFIG = 'config.json';
export const HF_SAFETENSORS = 'model.safetensors';
export const HF_SAFETENSORS_INDEX = 'model.safetensors.index.json';
export const HF_BIN = 'pytorch_model.bin';
export const HF_BIN_INDEX = 'pytorch_model.bin.index.json';
export const HF_GENERATION_CONFIG = 'generation_config.json';
/** Files a tokenizer may consist of; copied as they are when a directory is written. */
export const HF_TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'vocab.txt',
  'chat_template.jinja',
  'chat_template.json',
];

type Json = Record<string, unknown>;

export interface HfDir {
  dir: string;
  /** config.json as parsed */
  config: Json;
  /** the weight files in load order (relative to dir) */
  weightFiles: string[];
  format: 'safetensors' | 'pth';
  /** true when an index spreads the weights over several files */
  sharded: boolean;
  /** the tokenizer files present */
  tokenizerFiles: string[];
  tokenizerConfig: Json | undefined;
  /** tokenizer_config.json's chat_template (the 'default' one of a list), or chat_template.jinja */
  chatTemplate: string | undefined;
  generationConfig: Json | undefined;
  /** dtype the weights convert to while loading (readHfDir's option) */
  dtype: DType | undefined;
}

function readJsonFile(path: string, what: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CheckpointError(path, `cannot read ${what}: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new CheckpointError(path, `${what} is not a JSON object`);
  return v as Json;
}

const isFile = (p: string): boolean => existsSync(p) && statSync(p).isFile();

/**
 * True when dir looks like a Hugging Face model directory: weights and a config.json that is
 * transformers' (a graft run folder's config.json, format 'graft-model', is not).
 */
export function isHfDir(dir: string): boolean {
  if (!existsSync(dir) || !statSync(dir).isDirectory() || !isFile(join(dir, HF_CONFIG))) return false;
  if (![HF_SAFETENSORS, HF_SAFETENSORS_INDEX, HF_BIN, HF_BIN_INDEX].some((f) => isFile(join(dir, f)))) return false;
  try {
    const c = JSON.parse(readFileSync(join(dir, HF_CONFIG), 'utf8')) as Json;
    return c.format !== 'graft-model' && (typeof c.model_type === 'string' || Array.isArray(c.architectures));
  } catch {
    return false;
  }
}

function chatTemplateOf(dir: string, tc: Json | undefined): string | undefined {
  const t = tc?.chat_template;
  if (typeof t === 'string') return t;
  // a list of {name, template}: the 'default' one, as apply_chat_template picks without a name
  if (Array.isArray(t)) {
    const named = t.find((x) => x && typeof x === 'object' && (x as Json).name === 'default') as Json | undefined;
    if (named && typeof named.template === 'string') return named.template;
  }
  const jinja = join(dir, 'chat_template.jinja');
  if (isFile(jinja)) return readFileSync(jinja, 'utf8');
  const js = join(dir, 'chat_template.json');
  if (isFile(js)) {
    const v = readJsonFile(js, 'chat_template.json').chat_template;
    if (typeof v === 'string') return v;
  }
  return undefined;
}

/**
 * Reads a directory's config, weight file list (checking the index) and tokenizer files; the
 * weights themselves stream later (hfTensors / loadHfWeights), converted to `dtype` if given.
 */
export function readHfDir(dir: string, o: { dtype?: DType } = {}): HfDir {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new CheckpointError(dir, 'not a directory', 'pass a Hugging Face model directory (config.json + weights)');
  const cfgPath = join(dir, HF_CONFIG);
  if (!isFile(cfgPath))
    throw new CheckpointError(dir, 'no config.json here', 'a Hugging Face model directory has config.json + weights');
  const config = readJsonFile(cfgPath, 'config.json');
  let weightFiles: string[];
  let format: HfDir['format'] = 'safetensors';
  let sharded = false;
  // the order transformers tries: single safetensors, its index, then the pickled formats
  if (isFile(join(dir, HF_SAFETENSORS))) weightFiles = [HF_SAFETENSORS];
  else if (isFile(join(dir, HF_SAFETENSORS_INDEX))) {
    weightFiles = indexShards(join(dir, HF_SAFETENSORS_INDEX));
    sharded = true;
  } else if (isFile(join(dir, HF_BIN))) {
    weightFiles = [HF_BIN];
    format = 'pth';
  } else if (isFile(join(dir, HF_BIN_INDEX))) {
    weightFiles = indexShards(join(dir, HF_BIN_INDEX));
    format = 'pth';
    sharded = true;
  } else
    throw new CheckpointError(
      dir,
      'no weights: none of model.safetensors, model.safetensors.index.json, pytorch_model.bin[.index.json]',
    );
  for (const f of weightFiles)
    if (!isFile(join(dir, f))) throw new CheckpointError(join(dir, f), 'the index names this shard but it is missing');
  const tokenizerFiles = HF_TOKENIZER_FILES.filter((f) => isFile(join(dir, f)));
  const tcPath = join(dir, 'tokenizer_config.json');
  const tokenizerConfig = isFile(tcPath) ? readJsonFile(tcPath, 'tokenizer_config.json') : undefined;
  const gcPath = join(dir, HF_GENERATION_CONFIG);
  return {
    dir,
    config,
    weightFiles,
    format,
    sharded,
    tokenizerFiles,
    tokenizerConfig,
    chatTemplate: chatTemplateOf(dir, tokenizerConfig),
    generationConfig: isFile(gcPath) ? readJsonFile(gcPath, HF_GENERATION_CONFIG) : undefined,
    dtype: o.dtype,
  };
}

/** The shard files of an index, in order of first mention, every one a safe relative name. */
function indexShards(indexPath: string): string[] {
  const index = readJsonFile(indexPath, 'the shard index');
  const wm = index.weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm))
    throw new CheckpointError(indexPath, 'shard index has no weight_map object');
  const fail = (reason: string): never => {
    throw new CheckpointError(indexPath, reason);
  };
  return [...shardsOfWeightMap(wm as Json, fail).keys()];
}

export interface HfTensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  file: string;
}

/** Every tensor's name, dtype, shape and file from the headers alone (safetensors; .bin is unpickled). */
export function hfTensorInfo(d: HfDir): HfTensorInfo[] {
  const out: HfTensorInfo[] = [];
  for (const file of d.weightFiles) {
    const path = join(d.dir, file);
    if (d.format === 'safetensors') {
      const { entries } = withFile(path, parseSafetensorsHeader);
      for (const e of entries) out.push({ name: e.name, dtype: e.dtype, shape: e.shape, file });
    } else for (const [name, t] of pthTensors(path)) out.push({ name, dtype: t.dtype, shape: t.shape, file });
  }
  return out;
}

function pthTensors(path: string): Map<string, RawTensor> {
  const tree = withFile(path, (src) => readPthZip(src));
  return flattenTensors(tree);
}

/**
 * Streams (name, tensor) pairs file by file, one tensor read at a time (a .bin shard is
 * unpickled whole): each tensor is the caller's to dispose. Converted to d.dtype when set and
 * the tensor is floating point.
 */
export function* hfTensors(d: HfDir): Generator<[string, Tensor, string]> {
  const convert = (t: Tensor): Tensor => {
    if (!d.dtype || t.dtype === d.dtype || !isFloat(t.dtype)) return t;
    const c = t.to(d.dtype);
    t.dispose();
    return c;
  };
  for (const file of d.weightFiles) {
    const path = join(d.dir, file);
    if (d.format === 'pth') {
      for (const [name, raw] of pthTensors(path)) yield [name, convert(fromRaw(raw)), file];
      continue;
    }
    // the generator suspends between tensors, so the file stays open only while reading each one
    const { entries } = withFile(path, parseSafetensorsHeader);
    for (const e of entries) {
      const bytes = withFile(path, (src) => src.read(e.begin, e.end - e.begin, `tensor ${printable(e.name)}`));
      yield [e.name, convert(fromRaw({ dtype: e.dtype, shape: e.shape, data: bytes })), file];
    }
  }
}

const isFloat = (dt: DType): boolean => dt === 'float32' || dt === 'float64' || dt === 'float16' || dt === 'bfloat16';

function fromRaw(raw: RawTensor): Tensor {
  // fromArray copies; an empty tensor has no bytes to view
  return fromArray(raw.data.byteLength ? raw.data : new Uint8Array(0), raw.shape, { dtype: raw.dtype });
}

export interface HfLoadOptions {
  /** every parameter and buffer must be found and every tensor used (default true) */
  strict?: boolean;
  /** the model's base prefix (transformers' base_model_prefix: 'model', 'transformer', 'bert'):
   * a checkpoint of the bare base model loads into the model with a head */
  basePrefix?: string;
  /** renames or drops (undefined) checkpoint keys before matching, e.g. legacy buffers */
  mapKey?: (key: string) => string | undefined;
  /** splits one checkpoint tensor into several model tensors (a fused W_pack into q, k, v) */
  splitTensor?: (key: string, t: Tensor) => [string, Tensor][] | undefined;
}

export interface HfLoadResult {
  /** model keys no tensor filled */
  missing: string[];
  /** checkpoint keys the model has no place for */
  unexpected: string[];
  /** tensors loaded */
  loaded: number;
  /** files read, in order */
  files: string[];
}

/**
 * Copies a directory's weights into a module's parameters and buffers one tensor at a time
 * (each converted to the parameter's dtype by the copy): peak memory is the model plus one
 * tensor. Tied parameters (one Parameter under two names) are filled by either name.
 */
export function loadHfWeights(module: Module, d: HfDir, o: HfLoadOptions = {}): HfLoadResult {
  const targets = module.stateDict({ keepVars: true });
  const filled = new Set<Tensor>();
  const unexpected: string[] = [];
  const files: string[] = [];
  let loaded = 0;
  noGrad(() => {
    const place = (key: string, t: Tensor, file: string): void => {
      let name = o.mapKey ? o.mapKey(key) : key;
      if (name === undefined) return;
      if (!targets.has(name) && o.basePrefix && targets.has(`${o.basePrefix}.${name}`))
        name = `${o.basePrefix}.${name}`;
      const target = targets.get(name);
      if (!target) {
        unexpected.push(key);
        return;
      }
      if (target.shape.length !== t.shape.length || target.shape.some((s, i) => s !== t.shape[i]))
        throw new CheckpointError(
          join(d.dir, file),
          `${printable(key)} has shape [${t.shape}], the model's ${name} [${target.shape}]`,
          'the config.json does not describe these weights',
        );
      target.copy_(t);
      filled.add(target);
      loaded++;
    };
    for (const [key, t, file] of hfTensors(d)) {
      if (files.at(-1) !== file) files.push(file);
      const parts = o.splitTensor?.(key, t);
      try {
        if (parts) for (const [k, p] of parts) place(k, p, file);
        else place(key, t, file);
      } finally {
        for (const [, p] of parts ?? []) p.dispose();
        t.dispose();
      }
    }
  });
  const missing = [...targets].filter(([, t]) => !filled.has(t)).map(([k]) => k);
  if ((o.strict ?? true) && (missing.length || unexpected.length)) {
    const parts = [];
    if (missing.length) parts.push(`missing ${missing.length}: ${missing.slice(0, 5).join(', ')}`);
    if (unexpected.length) parts.push(`unexpected ${unexpected.length}: ${unexpected.slice(0, 5).join(', ')}`);
    throw new CheckpointError(
      d.dir,
      `weights do not match the model (${parts.join('; ')})`,
      'check config.json against the weights, or load with strict: false',
    );
  }
  return { missing, unexpected, loaded, files };
}

export interface HfDirSummary {
  architecture: string | undefined;
  modelType: string | undefined;
  /** elements over all tensors (a tied head saved once counts once) */
  parameters: number;
  /** tensors per dtype */
  dtypes: Partial<Record<DType, number>>;
  files: { file: string; bytes: number; tensors: number }[];
  sharded: boolean;
  format: HfDir['format'];
  tokenizerFiles: string[];
  chatTemplate: boolean;
}

/** What `graft inspect DIR` prints: architecture, parameter count, dtypes, shards. */
export function summarizeHfDir(dir: string): HfDirSummary {
  const d = readHfDir(dir);
  const infos = hfTensorInfo(d);
  const dtypes: Partial<Record<DType, number>> = {};
  let parameters = 0;
  for (const t of infos) {
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
    parameters += numel(t.shape);
  }
  const arch = Array.isArray(d.config.architectures) ? d.config.architectures[0] : undefined;
  return {
    architecture: typeof arch === 'string' ? arch : undefined,
    modelType: typeof d.config.model_type === 'string' ? d.config.model_type : undefined,
    parameters,
    dtypes,
    files: d.weightFiles.map((file) => ({
      file,
      bytes: statSync(join(dir, file)).size,
      tensors: infos.filter((t) => t.file === file).length,
    })),
    sharded: d.sharded,
    format: d.format,
    tokenizerFiles: d.tokenizerFiles,
    chatTemplate: d.chatTemplate !== undefined,
  };
}
