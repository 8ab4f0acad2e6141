// Positioned reads with bounds checks, and atomic writes (tmp file + rename).
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { CheckpointError } from '../errors.ts';

/** Reads byte ranges of one file; every range is checked against the file size before allocating. */
export class FileSource {
  readonly path: string;
  readonly size: number;
  private fd: number;

  constructor(path: string) {
    this.path = path;
    let fd = -1;
    try {
      fd = openSync(path, 'r');
      const st = fstatSync(fd);
      if (!st.isFile()) throw new Error('not a regular file');
      this.fd = fd;
      this.size = st.size;
    } catch (e) {
      if (fd >= 0) closeSync(fd);
      throw new CheckpointError(path, `cannot open: ${(e as Error).message}`);
    }
  }

  /** Bytes [offset, offset + length); a range past the end is a CheckpointError naming what wanted it. */
  read(offset: number, length: number, what = 'data'): Uint8Array {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new CheckpointError(this.path, `${what}: invalid byte range ${offset}+${length}`);
    }
    if (offset + length > this.size) {
      throw new CheckpointError(
        this.path,
        `truncated: ${what} needs bytes [${offset}, ${offset + length}) but the file has ${this.size}`,
      );
    }
    const out = new Uint8Array(length);
    let done = 0;
    try {
      while (done < length) {
        const n = readSync(this.fd, out, done, length - done, offset + done);
        if (n <= 0) throw new Error('unexpected end of file');
        done += n;
      }
    } catch (e) {
      throw new CheckpointError(this.path, `read failed for ${what}: ${(e as Error).message}`);
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Opens `path`, runs fn, and always closes the file. */
export function withFile<T>(path: string, fn: (src: FileSource) => T): T {
  const src = new FileSource(path);
  try {
    return fn(src);
  } finally {
    src.close();
  }
}

/** Sequential writer over a file descriptor, tracking the byte position. */
export class FileSink {
  position = 0;
  constructor(private readonly fd: number) {}

  write(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.byteLength) {
      done += writeSync(this.fd, bytes, done, bytes.byteLength - done);
    }
    this.position += bytes.byteLength;
  }
}

/**
 * Writes through fn into `path.tmp-<pid>`, fsyncs, then renames over `path`:
 * a crash or an error never leaves a half-written file where a good one was.
 */
export function writeAtomic(path: string, fn: (sink: FileSink) => void): void {
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (e) {
    throw new CheckpointError(path, `cannot write: ${(e as Error).message}`);
  }
  let ok = false;
  try {
    fn(new FileSink(fd));
    fsyncSync(fd);
    ok = true;
  } catch (e) {
    if (e instanceof Error && 'code' in e && typeof (e as NodeJS.ErrnoException).syscall === 'string') {
      throw new CheckpointError(path, `write failed: ${e.message}`);
    }
    throw e;
  } finally {
    closeSync(fd);
    if (!ok) {
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
    }
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw new CheckpointError(path, `cannot rename ${tmp} into place: ${(e as Error).message}`);
  }
}

/** A name from a file made safe for an error message: control characters escaped, length capped. */
export function printable(s: string, max = 160): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += `\\u${c.toString(16)}`;
    else out += ch;
    if (out.length > max) return `${out.slice(0, max)}...`;
  }
  return out;
}
