// Text files are UTF-8. Bytes that are not are found with their line numbers instead of being
// replaced by U+FFFD without a word (which changes labels, paths and training text silently).
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { DataError } from './errors.ts';

export const UTF8_HINT = 'save the file as UTF-8 (for a Latin-1 file: iconv -f latin1 -t utf-8 IN > OUT)';

/** 1-based numbers of the lines holding bytes that are not valid UTF-8 (WHATWG's decoder rules). */
export function invalidUtf8Lines(bytes: Uint8Array, max = 1000): number[] {
  const lines: number[] = [];
  let line = 1;
  const bad = () => {
    if (lines.at(-1) !== line && lines.length < max) lines.push(line);
  };
  const cont = (i: number, lo = 0x80, hi = 0xbf) => i < bytes.length && bytes[i]! >= lo && bytes[i]! <= hi;
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    if (b === 0x0a) line++;
    if (b < 0x80) {
      i++;
      continue;
    }
    // the first continuation byte's range depends on the lead byte (no overlongs, no surrogates, <= U+10FFFF)
    let need = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    }
    if (!need || !cont(i + 1, lo, hi)) {
      bad();
      i++;
      continue;
    }
    let k = 2;
    while (k <= need && cont(i + k)) k++;
    if (k <= need) bad();
    i += k;
  }
  return lines;
}

/** A text file's content and the lines that were not UTF-8 (decoded there as U+FFFD). */
export function readUtf8File(file: string): { text: string; badLines: number[] } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new DataError(file, `cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const badLines = isUtf8(bytes) ? [] : invalidUtf8Lines(bytes);
  return { text: bytes.toString('utf8'), badLines };
}

/** A text file that must be UTF-8 throughout: an error names the first line that is not. */
export function readUtf8Strict(file: string): string {
  const { text, badLines } = readUtf8File(file);
  if (badLines.length)
    throw new DataError(
      file,
      `line ${badLines[0]}: not valid UTF-8${badLines.length > 1 ? ` (${badLines.length}${badLines.length >= 1000 ? '+' : ''} lines in all)` : ''}`,
      UTF8_HINT,
    );
  return text;
}
