// TF.js layers models (model.json + binary shards, or both wrapped as .min.js bundles as npm
// packages ship them): the topology and every weight as a RawTensor under its Keras name,
// dequantised to float32. Nothing in the files is executed.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CheckpointError } from '../../errors.ts';
import type { RawTensor } from '../raw.ts';
import { exportedLiteral, LiteralError } from './js_literal.ts';

export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; min?: number; scale?: number };
}

export interface TfjsLayer {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** names of the layers feeding this one (functional models) */
  inbound: string[];
}

export interface TfjsModel {
  file: string;
  /** keras_version, backend, model class */
  meta: Record<string, unknown>;
  layers: TfjsLayer[];
  weights: Map<string, RawTensor>;
}

const ELEM_BYTES = { uint8: 1, uint16: 2, float16: 2, float32: 4, int32: 4, bool: 1 } as const;

function obj(v: unknown, file: string, what: string): Record<string, any> {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new CheckpointError(file, `${what} is not an object`);
  return v as Record<string, any>;
}

function loadDocument(path: string): unknown {
  const text = readFileSync(path, 'utf8');
  try {
    return path.endsWith('.js') ? exportedLiteral(text) : JSON.parse(text);
  } catch (e) {
    const why = e instanceof LiteralError || e instanceof SyntaxError ? e.message : String(e);
    throw new CheckpointError(path, `not a TF.js model document: ${why}`);
  }
}

function loadShard(dir: string, name: string, modelFile: string): Uint8Array {
  for (const candidate of [join(dir, name), join(dir, `${name}.min.js`), join(dir, `${name}.js`)]) {
    if (!existsSync(candidate)) continue;
    if (!candidate.endsWith('.js')) return new Uint8Array(readFileSync(candidate));
    const v = loadDocument(candidate);
    if (typeof v !== 'string') throw new CheckpointError(candidate, 'a .js weight shard must export a base64 string');
    return new Uint8Array(Buffer.from(v, 'base64'));
  }
  throw new CheckpointError(modelFile, `weight shard '${name}' not found next to it`);
}

function half(bits: number): number {
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const f = bits & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

function decode(spec: TfjsWeightSpec, bytes: Uint8Array, n: number, file: string): RawTensor {
  const q = spec.quantization;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (spec.dtype === 'int32' && !q) return { dtype: 'int32', shape: spec.shape, data: bytes.slice() };
  if (spec.dtype === 'bool' && !q) return { dtype: 'bool', shape: spec.shape, data: bytes.slice() };
  if (spec.dtype !== 'float32')
    throw new CheckpointError(file, `${spec.name}: quantized ${spec.dtype} weights are not supported`);
  const out = new Float32Array(n);
  if (!q) for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  else if (q.dtype === 'float16') for (let i = 0; i < n; i++) out[i] = half(view.getUint16(i * 2, true));
  else {
    // affine dequantisation as tf.io does it: min + scale * q
    const min = q.min ?? 0;
    const scale = q.scale ?? 1;
    for (let i = 0; i < n; i++) out[i] = min + scale * (q.dtype === 'uint8' ? bytes[i]! : view.getUint16(i * 2, true));
  }
  return { dtype: 'float32', shape: spec.shape, data: new Uint8Array(out.buffer) };
}

function layersOf(topology: Record<string, any>, file: string): TfjsLayer[] {
  const config = topology.model_config ?? topology;
  const layers = config?.config?.layers ?? config?.layers;
  if (!Array.isArray(layers))
    throw new CheckpointError(file, 'modelTopology has no layers list (only layers models are supported)');
  return layers.map((l: any) => ({
    name: String(l.name ?? l.config?.name),
    className: String(l.class_name),
    config: obj(l.config ?? {}, file, `layer ${l.name} config`),
    inbound: (l.inbound_nodes?.[0] ?? []).map((n: unknown[]) => String(n[0])),
  }));
}

/**
 * Reads a TF.js layers model: `path` is model.json, a bundled model.min.js, or their folder.
 * Weights keep their Keras names (`block_7_depthwise/depthwise_kernel`) and layouts (HWIO).
 */
export function readTfjsModel(path: string): TfjsModel {
  let file = path;
  if (existsSync(path) && statSync(path).isDirectory()) {
    file = ['model.json', 'model.min.js', 'model.js'].map((n) => join(path, n)).find((p) => existsSync(p)) ?? '';
    if (!file) throw new CheckpointError(path, 'no model.json or model.min.js in this folder');
  }
  if (!existsSync(file)) throw new CheckpointError(file, 'file not found');
  const doc = obj(loadDocument(file), file, 'model document');
  const topology = obj(doc.modelTopology, file, 'modelTopology');
  const manifest = doc.weightsManifest;
  if (!Array.isArray(manifest)) throw new CheckpointError(file, 'weightsManifest missing');
  const weights = new Map<string, RawTensor>();
  const dir = dirname(file);
  for (const group of manifest) {
    const shards = (obj(group, file, 'manifest group').paths as string[]).map((p) => loadShard(dir, basename(p), file));
    const total = shards.reduce((a, s) => a + s.byteLength, 0);
    const buf = new Uint8Array(total);
    let at = 0;
    for (const s of shards) {
      buf.set(s, at);
      at += s.byteLength;
    }
    let offset = 0;
    for (const spec of group.weights as TfjsWeightSpec[]) {
      if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
        throw new CheckpointError(file, `${spec.name}: bad shape ${JSON.stringify(spec.shape)}`);
      const n = spec.shape.reduce((a, b) => a * b, 1);
      const elem = ELEM_BYTES[spec.quantization?.dtype ?? spec.dtype];
      if (!elem)
        throw new CheckpointError(file, `${spec.name}: unknown dtype ${spec.quantization?.dtype ?? spec.dtype}`);
      const bytes = n * elem;
      if (offset + bytes > total)
        throw new CheckpointError(file, `${spec.name}: needs bytes ${offset}..${offset + bytes}, shards hold ${total}`);
      weights.set(spec.name, decode(spec, buf.subarray(offset, offset + bytes), n, file));
      offset += bytes;
    }
  }
  const meta = {
    keras_version: topology.keras_version,
    backend: topology.backend,
    class_name: topology.model_config?.class_name,
  };
  return { file, meta, layers: layersOf(topology, file), weights };
}
