// Whole-file writes for every text file graft keeps (recipe.yaml, metrics.jsonl, report.html,
// config.json, predictions): a temp file + rename, so a reader never sees half a file and a crash
// leaves the old file or the new; a failed write (a full disk, no permission) is a coded WriteError
// naming the file, and never leaves the temp file behind.
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
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

export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone, or the reason the write failed also stops the clean-up: nothing more to do
  }
}

export interface AtomicWriteOptions {
  /** flush the temp file to the disk before the rename (for files a resume depends on) */
  flush?: boolean;
  /** called with the temp file's path before the rename (the reliability drills' kill point) */
  beforeRename?: (tmp: string) => void;
}

/** Writes `text` to `path` through `path.tmp-PID` + rename; on failure the temp file is removed. */
export function writeFileAtomic(path: string, text: string, o: AtomicWriteOptions = {}): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text, { flush: o.flush ?? false });
    o.beforeRename?.(tmp);
    renameSync(tmp, path);
  } catch (e) {
    removeQuietly(tmp);
    throw new WriteError(path, e);
  }
}
