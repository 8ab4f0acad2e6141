// Inputs named on a command line: image files, folders (searched recursively for image files) and
// globs (`photos/*.jpg`, `shots/**/*.png`, for when the shell did not expand them), in a stable order.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { globToRegExp } from '../util/glob.ts';
import { DataError } from './errors.ts';
import { IMG_EXTENSIONS, walkImages } from './image_folder.ts';
import { byCodePoint } from './manifest.ts';

const MAGIC = /[*?[]/;

const statOf = (p: string) => {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
};

/** Paths matching a glob; `**` is any number of folders. Like a shell, `*` does not match a leading dot. */
export function expandGlob(pattern: string): string[] {
  const parts = pattern.split(/[\\/]+/);
  const first = parts.findIndex((p) => MAGIC.test(p));
  if (first < 0) return existsSync(pattern) ? [pattern] : [];
  const base = parts.slice(0, first).join(sep) || (pattern.startsWith('/') ? '/' : '.');
  const rest = parts.slice(first);
  const found = new Set<string>();
  const walk = (dir: string, k: number, depth: number) => {
    if (depth > 64) return;
    if (k === rest.length) {
      found.add(dir);
      return;
    }
    const seg = rest[k]!;
    const names = (() => {
      try {
        return readdirSync(dir).filter((n) => !n.startsWith('.') || seg.startsWith('.'));
      } catch {
        return [];
      }
    })();
    if (seg === '**') {
      walk(dir, k + 1, depth);
      for (const n of names) if (statOf(join(dir, n))?.isDirectory()) walk(join(dir, n), k, depth + 1);
      return;
    }
    if (!MAGIC.test(seg)) {
      if (existsSync(join(dir, seg))) walk(join(dir, seg), k + 1, depth);
      return;
    }
    const re = globToRegExp(seg);
    for (const n of names) if (re.test(n)) walk(join(dir, n), k + 1, depth);
  };
  walk(base, 0, 0);
  const out = [...found].map((p) => (base === '.' && !pattern.startsWith('.') ? p.replace(/^\.[\\/]/, '') : p));
  return out.sort(byCodePoint);
}

/**
 * The image files that a list of inputs names, in order, each once: a file as it is, a folder's image
 * files (recursively, sorted), a glob's matches (folders searched, files with an image extension).
 * An input that names nothing is an error naming it.
 */
export function imageInputs(inputs: readonly string[], o: { extensions?: readonly string[] } = {}): string[] {
  const exts = (o.extensions ?? IMG_EXTENSIONS).map((e) => e.toLowerCase());
  const isImage = (f: string) => exts.some((e) => f.toLowerCase().endsWith(e));
  const out = new Set<string>();
  const hint = `image files have the extensions ${exts.join(', ')}`;
  for (const input of inputs) {
    const st = statOf(input);
    if (st?.isFile()) {
      out.add(input);
      continue;
    }
    if (st?.isDirectory()) {
      const files = walkImages(input, exts);
      if (!files.length) throw new DataError(input, 'folder holds no image files', hint);
      for (const f of files) out.add(f);
      continue;
    }
    if (!MAGIC.test(input)) throw new DataError(input, 'no such file or folder');
    const matched = expandGlob(input);
    let n = 0;
    for (const m of matched) {
      const s = statOf(m);
      const files = s?.isDirectory() ? walkImages(m, exts) : s?.isFile() && isImage(m) ? [m] : [];
      for (const f of files) out.add(f);
      n += files.length;
    }
    if (!n)
      throw new DataError(
        input,
        matched.length
          ? `the pattern matches ${matched.length} path${matched.length === 1 ? '' : 's'} but no image file`
          : 'the pattern matches nothing',
        hint,
      );
  }
  return [...out];
}
