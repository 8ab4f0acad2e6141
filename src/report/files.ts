// Writing the run's text files (metrics.jsonl, report.html): a failed write (a full disk, a folder
// that went away, no permission) is a coded error that names the file, and never leaves a temp
// file behind; a whole-file write goes through a temp file + rename, so a reader never sees half.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { WriteError } from '../util/write.ts';

export { WriteError, writeFileAtomic } from '../util/write.ts';

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
