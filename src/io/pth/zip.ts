// The zip container torch.save writes: stored entries only, ZIP64 aware, read by positioned reads.
import { crc32 } from 'node:zlib';
import { CheckpointError } from '../../errors.ts';
import { type FileSink, type FileSource, printable } from '../file.ts';

export interface ZipEntry {
  name: string;
  /** Offset of the entry's bytes in the file (after its local header). */
  dataOffset: number;
  /** Bytes stored in the file (equal to the content size for stored entries). */
  size: number;
  crc32: number;
  /** 0 = stored; anything else (8 = deflate) is refused when the entry is read. */
  method: number;
  encrypted: boolean;
}

const SIG_EOCD = 0x06054b50;
const SIG_Z64_LOCATOR = 0x07064b50;
const SIG_Z64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;
const names = new TextDecoder('utf-8');

/** Parses the central directory; every offset and size is checked against the file before use. */
export function readZipDirectory(src: FileSource): Map<string, ZipEntry> {
  const fail = (reason: string): never => {
    throw new CheckpointError(src.path, `zip: ${reason}`);
  };
  if (src.size < 22) fail('file too small for a zip archive');
  const tailLen = Math.min(src.size, 22 + 0xffff);
  const tailStart = src.size - tailLen;
  const tail = src.read(tailStart, tailLen, 'end of central directory');
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === SIG_EOCD && i + 22 + tv.getUint16(i + 20, true) <= tailLen) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('no end of central directory record (truncated?)');
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  let cdLimit = tailStart + eocd;
  if (eocd >= 20 && tv.getUint32(eocd - 20, true) === SIG_Z64_LOCATOR) {
    const recOffset = Number(tv.getBigUint64(eocd - 12, true));
    if (recOffset + 56 > tailStart + eocd - 20) fail('ZIP64 end record offset out of range');
    const rec = src.read(recOffset, 56, 'ZIP64 end of central directory');
    const rv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
    if (rv.getUint32(0, true) !== SIG_Z64_EOCD) fail('bad ZIP64 end of central directory signature');
    count = safe(rv.getBigUint64(32, true), 'entry count', fail);
    cdSize = safe(rv.getBigUint64(40, true), 'central directory size', fail);
    cdOffset = safe(rv.getBigUint64(48, true), 'central directory offset', fail);
    cdLimit = recOffset;
  }
  if (cdOffset + cdSize > cdLimit) fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) out of range`);
  if (count * 46 > cdSize) fail(`${count} entries cannot fit a ${cdSize}-byte central directory`);
  const cd = src.read(cdOffset, cdSize, 'central directory');
  const v = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const out = new Map<string, ZipEntry>();
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cdSize || v.getUint32(p, true) !== SIG_CENTRAL) fail(`central directory entry ${n} is malformed`);
    const flags = v.getUint16(p + 8, true);
    const method = v.getUint16(p + 10, true);
    const crc = v.getUint32(p + 16, true);
    let csize = v.getUint32(p + 20, true);
    let usize = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    let local = v.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cdSize) fail(`central directory entry ${n} runs past the directory`);
    const name = names.decode(cd.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extra field: the 0xffffffff fields, in order usize, csize, local offset.
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = v.getUint16(e, true);
      const len = v.getUint16(e + 2, true);
      if (e + 4 + len > p + 46 + nameLen + extraLen) fail(`entry ${printable(name)}: extra field overruns`);
      if (id === 1) {
        let q = e + 4;
        const next = (what: string): number => {
          if (q + 8 > e + 4 + len) fail(`entry ${printable(name)}: ZIP64 field ${what} missing`);
          const x = safe(v.getBigUint64(q, true), what, fail);
          q += 8;
          return x;
        };
        if (usize === U32_MAX) usize = next('size');
        if (csize === U32_MAX) csize = next('compressed size');
        if (local === U32_MAX) local = next('offset');
      }
      e += 4 + len;
    }
    if (method === 0 && csize !== usize) fail(`entry ${printable(name)}: stored sizes disagree (${csize} vs ${usize})`);
    if (out.has(name)) fail(`duplicate entry ${printable(name)}`);
    out.set(name, { name, dataOffset: local, size: csize, crc32: crc, method, encrypted: (flags & 1) === 1 });
    p = end;
  }
  // Resolve data offsets through the local headers (their extra fields carry torch's alignment padding).
  for (const entry of out.values()) {
    const local = entry.dataOffset;
    if (local + 30 > cdOffset) fail(`entry ${printable(entry.name)}: local header out of range`);
    const h = src.read(local, 30, `local header of ${printable(entry.name)}`);
    const hv = new DataView(h.buffer, h.byteOffset, h.byteLength);
    if (hv.getUint32(0, true) !== SIG_LOCAL) fail(`entry ${printable(entry.name)}: bad local header signature`);
    entry.dataOffset = local + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
    if (entry.dataOffset + entry.size > cdOffset) {
      fail(
        `entry ${printable(entry.name)}: data [${entry.dataOffset}, ${entry.dataOffset + entry.size}) overruns the archive`,
      );
    }
  }
  return out;
}

function safe(x: bigint, what: string, fail: (r: string) => never): number {
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} too large`);
  return Number(x);
}

/** A stored entry's bytes, CRC-checked unless verify is false. */
export function readZipEntry(src: FileSource, entry: ZipEntry, verify = true): Uint8Array {
  const name = printable(entry.name);
  if (entry.encrypted) throw new CheckpointError(src.path, `zip: entry ${name} is encrypted`);
  if (entry.method !== 0) {
    throw new CheckpointError(
      src.path,
      `zip: entry ${name} is compressed (method ${entry.method}); torch.save writes stored entries only`,
    );
  }
  const bytes = src.read(entry.dataOffset, entry.size, `zip entry ${printable(entry.name)}`);
  if (verify && crc32(bytes) >>> 0 !== entry.crc32) {
    throw new CheckpointError(src.path, `zip: entry ${name} fails its CRC-32 check (corrupt file)`);
  }
  return bytes;
}

/**
 * Streams stored entries into a sink the way PyTorch's writer lays them out: data aligned to
 * 64 bytes with an 'FB' padding extra field, ZIP64 fields where sizes or offsets need them,
 * and always a ZIP64 end record (as torch does).
 */
export class ZipWriter {
  private central: Uint8Array[] = [];
  private count = 0;
  constructor(
    private readonly sink: FileSink,
    private readonly forceZip64 = false,
  ) {}

  add(name: string, chunks: readonly Uint8Array[]): void {
    let crc = 0;
    let size = 0;
    for (const c of chunks) {
      crc = crc32(c, crc);
      size += c.byteLength;
    }
    const nameBytes = new TextEncoder().encode(name);
    const offset = this.sink.position;
    const big = this.forceZip64 || size >= U32_MAX || offset >= U32_MAX;
    const z64Local = big ? le([1, 2], [16, 2], [size, 8], [size, 8]) : new Uint8Array(0);
    const before = offset + 30 + nameBytes.length + z64Local.length + 4;
    const pad = (64 - (before % 64)) % 64;
    const padField = new Uint8Array(4 + pad).fill(0x5a);
    padField.set(le([0x4246, 2], [pad, 2]));
    const extraLen = z64Local.length + padField.length;
    this.sink.write(
      le(
        [SIG_LOCAL, 4],
        [big ? 45 : 20, 2],
        [0x800, 2], // names are UTF-8
        [0, 2],
        [0, 2],
        [0x21, 2], // 1980-01-01
        [crc >>> 0, 4],
        [big ? U32_MAX : size, 4],
        [big ? U32_MAX : size, 4],
        [nameBytes.length, 2],
        [extraLen, 2],
      ),
    );
    this.sink.write(nameBytes);
    this.sink.write(z64Local);
    this.sink.write(padField);
    for (const c of chunks) this.sink.write(c);
    const z64 = big ? le([1, 2], [24, 2], [size, 8], [size, 8], [offset, 8]) : new Uint8Array(0);
    const head = le(
      [SIG_CENTRAL, 4],
      [big ? 45 : 20, 2],
      [big ? 45 : 20, 2],
      [0x800, 2],
      [0, 2],
      [0, 2],
      [0x21, 2],
      [crc >>> 0, 4],
      [big ? U32_MAX : size, 4],
      [big ? U32_MAX : size, 4],
      [nameBytes.length, 2],
      [z64.length, 2],
      [0, 2],
      [0, 2],
      [0, 2],
      [0, 4],
      [big ? U32_MAX : offset, 4],
    );
    this.central.push(head, nameBytes, z64);
    this.count++;
  }

  finish(): void {
    const cdOffset = this.sink.position;
    for (const c of this.central) this.sink.write(c);
    const cdSize = this.sink.position - cdOffset;
    const z64Offset = this.sink.position;
    const n = this.count;
    this.sink.write(
      le([SIG_Z64_EOCD, 4], [44, 8], [45, 2], [45, 2], [0, 4], [0, 4], [n, 8], [n, 8], [cdSize, 8], [cdOffset, 8]),
    );
    this.sink.write(le([SIG_Z64_LOCATOR, 4], [0, 4], [z64Offset, 8], [1, 4]));
    this.sink.write(
      le(
        [SIG_EOCD, 4],
        [0, 2],
        [0, 2],
        [Math.min(n, 0xffff), 2],
        [Math.min(n, 0xffff), 2],
        [Math.min(cdSize, U32_MAX), 4],
        [Math.min(cdOffset, U32_MAX), 4],
        [0, 2],
      ),
    );
  }
}

/** Little-endian fields [value, width] packed in order. */
function le(...fields: [number, 2 | 4 | 8][]): Uint8Array {
  const out = new Uint8Array(fields.reduce((a, [, w]) => a + w, 0));
  const v = new DataView(out.buffer);
  let p = 0;
  for (const [x, w] of fields) {
    if (w === 2) v.setUint16(p, x, true);
    else if (w === 4) v.setUint32(p, x, true);
    else v.setBigUint64(p, BigInt(x), true);
    p += w;
  }
  return out;
}
