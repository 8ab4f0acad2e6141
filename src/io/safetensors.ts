// safetensors: an 8-byte little-endian header length, a JSON header, then the tensors' bytes.
// Reading validates the header as strictly as the reference (Rust) implementation does;
// writing reproduces its byte layout (tensor order, 8-byte header padding).
import { CheckpointError, ShapeError } from '../errors.ts';
import type { DType } from '../tensor/dtype.ts';
import { type FileSource, printable, withFile, writeAtomic } from './file.ts';
import { byteSize, checkRawTensor, type RawTensor } from './raw.ts';

/** safetensors dtype names, in the reference enum's order (its writer sorts by this, descending). */
const ST_ORDER = [
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'I64',
  'U64',
];

export const SAFETENSORS_DTYPE: Record<DType, string> = {
  bool: 'BOOL',
  uint8: 'U8',
  int8: 'I8',
  int16: 'I16',
  float16: 'F16',
  bfloat16: 'BF16',
  int32: 'I32',
  float32: 'F32',
  float64: 'F64',
  int64: 'I64',
};
const FROM_ST = new Map(Object.entries(SAFETENSORS_DTYPE).map(([d, s]) => [s, d as DType]));

/** The reference implementation refuses headers over 100 MB. */
const MAX_HEADER = 100_000_000;

export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte range of the tensor's data in the file. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** In file (data offset) order. */
  entries: SafetensorsEntry[];
  /** The `__metadata__` string map, or null when the file has none. */
  metadata: Record<string, string> | null;
}

export interface SafetensorsFile {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string> | null;
}

/** Parses and validates the header of an open file. */
export function parseSafetensorsHeader(src: FileSource): SafetensorsHeader {
  const fail = (reason: string, hint?: string): never => {
    throw new CheckpointError(src.path, `safetensors: ${reason}`, hint);
  };
  if (src.size < 8) fail(`file of ${src.size} bytes is too small for a header`);
  const lenBytes = src.read(0, 8, 'header length');
  const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) fail(`header length ${n} exceeds ${MAX_HEADER} bytes`);
  if (Number(n) + 8 > src.size) fail(`header length ${n} runs past the end of a ${src.size}-byte file`);
  const headerLen = Number(n);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(src.read(8, headerLen, 'header')));
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = src.size - dataStart;
  let metadata: Record<string, string> | null = null;
  const entries: SafetensorsEntry[] = [];
  for (const [name, info] of Object.entries(json as object)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(info))
        if (typeof v !== 'string') fail(`__metadata__.${printable(k)} is not a string`);
      metadata = Object.fromEntries(Object.entries(info)) as Record<string, string>;
      continue;
    }
    if (typeof info !== 'object' || info === null || Array.isArray(info))
      fail(`tensor ${printable(name)}: entry is not an object`);
    const { dtype, shape, data_offsets: offs } = info as Record<string, unknown>;
    if (typeof dtype !== 'string') return fail(`tensor ${printable(name)}: dtype is not a string`);
    const dt = FROM_ST.get(dtype);
    if (!dt) {
      fail(
        `tensor ${printable(name)}: unsupported dtype ${JSON.stringify(dtype.slice(0, 20))}`,
        `graft reads ${[...FROM_ST.keys()].join(' ')}`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor ${printable(name)}: shape is not a list of non-negative integers`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`tensor ${printable(name)}: data_offsets is not a pair of non-negative integers`);
    }
    const [b, e] = offs as number[];
    if (e! < b!) fail(`tensor ${printable(name)}: data_offsets [${b}, ${e}] end before they begin`);
    if (e! > dataLen)
      fail(`tensor ${printable(name)}: data_offsets [${b}, ${e}] run past the ${dataLen}-byte data region`);
    let want: number;
    try {
      want = byteSize(dt!, shape as number[]);
    } catch {
      return fail(`tensor ${printable(name)}: shape [${shape}] is too large`);
    }
    if (e! - b! !== want)
      fail(`tensor ${printable(name)}: ${dtype}[${shape}] needs ${want} bytes, data_offsets give ${e! - b!}`);
    entries.push({ name, dtype: dt!, shape: [...(shape as number[])], begin: dataStart + b!, end: dataStart + e! });
  }
  // Like the reference: sorted by offset, the tensors must tile the data region exactly.
  entries.sort((x, y) => x.begin - y.begin || x.end - y.end);
  let at = dataStart;
  for (const e of entries) {
    if (e.begin < at) fail(`tensor ${printable(e.name)}: data overlaps the previous tensor`);
    if (e.begin > at) fail(`tensor ${printable(e.name)}: ${e.begin - at} unused bytes before its data`);
    at = e.end;
  }
  if (at !== src.size) fail(`${src.size - at} bytes after the last tensor`);
  return { entries, metadata };
}

/** The header of a safetensors file, without reading tensor data. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  return withFile(path, parseSafetensorsHeader);
}

/** Every tensor (in file order) and the metadata; `filter` skips reading tensors it rejects. */
export function readSafetensors(path: string, opts: { filter?: (name: string) => boolean } = {}): SafetensorsFile {
  return withFile(path, (src) => {
    const { entries, metadata } = parseSafetensorsHeader(src);
    const tensors = new Map<string, RawTensor>();
    for (const e of entries) {
      if (opts.filter && !opts.filter(e.name)) continue;
      tensors.set(e.name, {
        dtype: e.dtype,
        shape: e.shape,
        data: src.read(e.begin, e.end - e.begin, `tensor ${printable(e.name)}`),
      });
    }
    return { tensors, metadata };
  });
}

const utf8 = new TextEncoder();

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(utf8.encode(a), utf8.encode(b));
}

/** The header bytes (length prefix included) and the tensors in data order, as the reference writer lays them out. */
export function encodeSafetensorsHeader(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string> | null,
): { header: Uint8Array; order: [string, RawTensor][] } {
  const items = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  for (const [name, t] of items) {
    if (name === '__metadata__') throw new ShapeError('a tensor cannot be named __metadata__');
    if (utf8.encode(name).length === 0 || Buffer.from(name, 'utf8').toString('utf8') !== name) {
      throw new ShapeError(`invalid tensor name ${JSON.stringify(name)}`);
    }
    checkRawTensor(t, name);
  }
  const rank = (t: RawTensor) => ST_ORDER.indexOf(SAFETENSORS_DTYPE[t.dtype]);
  items.sort(([an, a], [bn, b]) => rank(b) - rank(a) || compareUtf8(an, bn));
  const parts: string[] = [];
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new ShapeError(`metadata ${k} must be a string, got ${typeof v}`);
    }
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  let off = 0;
  for (const [name, t] of items) {
    const n = t.data.byteLength;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${SAFETENSORS_DTYPE[t.dtype]}","shape":[${t.shape.join(',')}],"data_offsets":[${off},${off + n}]}`,
    );
    off += n;
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const header = new Uint8Array(8 + padded).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  return { header, order: items };
}

/** Writes tensors (+ optional string metadata) as safetensors, atomically. */
export function writeSafetensors(
  path: string,
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string> | null,
): void {
  const { header, order } = encodeSafetensorsHeader(tensors, metadata);
  writeAtomic(path, (sink) => {
    sink.write(header);
    for (const [, t] of order) sink.write(t.data);
  });
}
