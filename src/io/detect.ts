// Which checkpoint format a file holds, from its first bytes.
import { CheckpointError } from '../errors.ts';
import { type FileSource, withFile } from './file.ts';

export type CheckpointFormat = 'safetensors' | 'pth-zip' | 'pth-legacy';

// pickle of the legacy magic number 0x1950a86a20f9469cfc6c: LONG1, 10 bytes, little-endian
const LEGACY_MAGIC = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/** Detects the format of an open file; CheckpointError when it is none graft reads. */
export function detectSource(src: FileSource): CheckpointFormat {
  if (src.size === 0) throw new CheckpointError(src.path, 'file is empty');
  const head = src.read(0, Math.min(src.size, 32), 'file header');
  const at = (i: number, bytes: readonly number[]) => bytes.every((b, j) => head[i + j] === b);
  if (at(0, [0x50, 0x4b, 0x03, 0x04]) || at(0, [0x50, 0x4b, 0x05, 0x06])) return 'pth-zip';
  // PROTO n, an optional 9-byte FRAME (protocol 4+), then the magic number
  if (head[0] === 0x80 && (at(2, LEGACY_MAGIC) || (head[2] === 0x95 && at(11, LEGACY_MAGIC)))) return 'pth-legacy';
  if (head.length >= 9 && head[8] === 0x7b) {
    // safetensors: an 8-byte header length, then the JSON header ('{')
    const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n + 8n <= BigInt(src.size)) return 'safetensors';
    if (n >= 2n)
      throw new CheckpointError(
        src.path,
        `safetensors header length ${n} > file size ${src.size} (8-byte length + header): truncated, or not a safetensors file`,
        'a cut download? download the file again and compare its size with the source',
      );
  }
  if (src.size >= 262 && isTar(src)) {
    throw new CheckpointError(
      src.path,
      'tar-format torch checkpoint (PyTorch < 0.4) is not supported',
      're-save it with a newer PyTorch',
    );
  }
  const hex = [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new CheckpointError(
    src.path,
    `unrecognised checkpoint format (first bytes ${hex})`,
    'graft reads .safetensors and torch.save .pth/.pt/.bin files',
  );
}

function isTar(src: FileSource): boolean {
  const magic = src.read(257, 5, 'tar magic');
  return String.fromCharCode(...magic) === 'ustar';
}

/** 'safetensors' | 'pth-zip' | 'pth-legacy'; anything else is a CheckpointError. */
export function detectFormat(path: string): CheckpointFormat {
  return withFile(path, detectSource);
}
