// Writing the run's text files (metrics.jsonl, report.html): a failed write (a full disk, a folder
// that went away, no permission) is a coded error that names the file, and never leaves a temp
// file behind; a whole-file write goes through a temp file + rename, so a reader never sees half.
import { appendFileSync, mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { GraftError } from '../errors.ts';

const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'the folder does not exist (any more)',
  EIO: 'an input/output error',
};

/** A run file could not be written: `errno` is the system's code (ENOSPC, EACCES, ...). */
export class WriteError extends GraftError {
  readonly file: string;
  readonly errno: string | undefined;
  constructor(file: string, cause: unknown, what = 'write') {
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    const reason = (errno && REASONS[errno]) ?? (cause as Error | undefined)?.message ?? String(cause);
    super(
      errno === 'ENOSPC' || errno === 'EDQUOT' ? 'GRAFT_DISK_FULL' : 'GRAFT_WRITE',
      `cannot ${what} ${file}: ${reason}${errno ? ` (${errno})` : ''}`,
      errno === 'ENOSPC' || errno === 'EDQUOT'
        ? 'free some disk space (or write the run elsewhere with --out), then continue with graft train --resume; the checkpoints written so far are intact'
        : 'check that the run folder exists and is writable, then continue with graft train --resume',
    );
    this.file = file;
    this.errno = errno;
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone, or the reason the write failed also stops the clean-up: nothing more to do
  }
}

/** Writes `text` to `path` through `path.tmp-PID` + rename; on failure the temp file is removed. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    removeQuietly(tmp);
    throw new WriteError(path, e);
  }
}

/** Appends `text` to `path` (one or more whole lines). */
export function appendText(path: string, text: string): void {
  try {
    appendFileSync(path, text);
  } catch (e) {
    throw new WriteError(path, e, 'append to');
  }
}

/** Creates or empties `path`. */
export function truncateFile(path: string): void {
  try {
    writeFileSync(path, '');
  } catch (e) {
    throw new WriteError(path, e);
  }
}

/** Creates folder `dir` (and its parents) if missing. */
export function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new WriteError(dir, e, 'create the folder');
  }
}
