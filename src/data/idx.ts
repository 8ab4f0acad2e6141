// IDX files (MNIST, Fashion-MNIST): big-endian header, then raw values; .gz read transparently.
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DataError } from './errors.ts';

export { DataError };

export interface IdxArray {
  shape: number[];
  /** element type from the header; MNIST-family files are uint8 */
  type: 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const TYPES = {
  8: ['uint8', 1],
  9: ['int8', 1],
  11: ['int16', 2],
  12: ['int32', 4],
  13: ['float32', 4],
  14: ['float64', 8],
} as const;

export function readIdx(file: string): IdxArray {
  if (!existsSync(file)) throw new DataError(file, 'file not found');
  let bytes: Buffer = readFileSync(file);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new DataError(file, `corrupt gzip data: ${(e as Error).message}`);
    }
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new DataError(file, 'not an IDX file (bad magic)');
  const kind = TYPES[bytes[2] as keyof typeof TYPES];
  if (!kind) throw new DataError(file, `unknown IDX element type 0x${bytes[2]!.toString(16)}`);
  const ndim = bytes[3]!;
  const header = 4 + 4 * ndim;
  if (bytes.length < header) throw new DataError(file, 'truncated header');
  const shape = Array.from({ length: ndim }, (_, i) => bytes.readUInt32BE(4 + 4 * i));
  const [type, size] = kind;
  const n = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== header + n * size)
    throw new DataError(file, `header says ${n} values (${n * size} bytes) but the file has ${bytes.length - header}`);
  const body = bytes.subarray(header);
  if (type === 'uint8') return { shape, type, data: new Uint8Array(body) };
  if (type === 'int8') return { shape, type, data: new Int8Array(body.buffer, body.byteOffset, n).slice() };
  // multi-byte values are big-endian
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const read = {
    int16: (i: number) => view.getInt16(i * 2),
    int32: (i: number) => view.getInt32(i * 4),
    float32: (i: number) => view.getFloat32(i * 4),
    float64: (i: number) => view.getFloat64(i * 8),
  }[type];
  const Ctor = { int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }[type];
  const data = new Ctor(n);
  for (let i = 0; i < n; i++) data[i] = read(i);
  return { shape, type, data };
}
