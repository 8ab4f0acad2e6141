// Small hostile pickles that ask for deep recursion or huge allocations, built byte by byte, and a
// writer that wraps one into a zip .pth (archive/data.pkl, no storages).
import { join } from 'node:path';
import { writeAtomic } from '../../src/io/file.ts';
import { ZipWriter } from '../../src/io/pth/zip.ts';

/** Pickle bytes from parts: numbers are bytes, strings latin1 text, arrays are spliced in. */
export function P(...parts: (number | string | Uint8Array | readonly number[])[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  let bytes: number[] = [];
  const flush = () => {
    if (bytes.length) chunks.push(Uint8Array.from(bytes));
    bytes = [];
  };
  for (const p of parts) {
    if (typeof p === 'number') bytes.push(p);
    else if (typeof p === 'string') bytes.push(...Buffer.from(p, 'latin1'));
    else if (p instanceof Uint8Array) {
      flush();
      chunks.push(p);
    } else bytes.push(...p);
  }
  flush();
  return new Uint8Array(Buffer.concat(chunks));
}

const repeat = (bytes: readonly number[], n: number): Uint8Array => {
  const out = new Uint8Array(bytes.length * n);
  for (let i = 0; i < n; i++) out.set(bytes, i * bytes.length);
  return out;
};

const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];

/** {((((),),),...): None}: a tuple nested `depth` deep used as a dict key. */
export const deepTupleKey = (depth: number) => P(0x80, 2, 0x7d, 0x29, repeat([0x85], depth), 0x4e, 0x73, 0x2e);

/** [[[[...]]]]: lists nested `depth` deep. */
export const deepList = (depth: number) => P(0x80, 2, repeat([0x5d], depth), repeat([0x61], depth - 1), 0x2e);

/** x0 = []; x(i+1) = (x(i), x(i)): `levels` levels of shared structure, 2^levels paths. */
export const tupleDag = (levels: number) => P(0x80, 2, 0x5d, repeat([0x32, 0x86], levels), 0x2e);

/** d0 = {}, d(i+1) = {'a': d(i), 'b': d(i)}: string-keyed dicts sharing structure, 2^levels paths. */
export function dictDag(levels: number): Uint8Array {
  // d0 = {}; d(i+1) = {'a': d(i), 'b': d(i)}
  const parts: (number | readonly number[])[] = [0x80, 4, 0x7d]; // d0
  for (let i = 0; i < levels; i++) {
    // stack: d(i). Memoize it, build {'a': d(i), 'b': d(i)}.
    parts.push(0x94); // MEMOIZE -> memo[i]
    parts.push(0x30); // POP
    parts.push(0x7d, 0x28); // EMPTY_DICT, MARK
    parts.push(0x8c, 1, 0x61, 0x6a, ...u32(i)); // 'a', LONG_BINGET i
    parts.push(0x8c, 1, 0x62, 0x6a, ...u32(i)); // 'b', LONG_BINGET i
    parts.push(0x75); // SETITEMS
  }
  parts.push(0x2e);
  return P(...parts.map((p) => (typeof p === 'number' ? p : [...p])));
}

/** A latin1 string of `size` bytes encoded `calls` times by _codecs.encode (the string is memoized). */
export function codecsBomb(size: number, calls: number): Uint8Array {
  const head = P(
    0x80,
    2,
    0x63,
    '_codecs\nencode\n',
    0x94, // memo 0: the function
    0x30,
    0x58,
    u32(size),
    new Uint8Array(size).fill(0x41),
    0x94, // memo 1: the text
    0x30,
    0x8c,
    6,
    'latin1',
    0x94, // memo 2: 'latin1'
    0x30,
    0x5d, // the result list keeps nothing: each output is popped
  );
  const call = [0x68, 0, 0x68, 1, 0x68, 2, 0x86, 0x52, 0x30]; // f(text, 'latin1'); POP
  return P(head, repeat(call, calls), 0x2e);
}

/** builtins.set(L) called `calls` times on one memoized list L of `items` distinct small ints. */
export function setBomb(items: number, calls: number): Uint8Array {
  const ints = new Uint8Array(5 * items);
  for (let i = 0; i < items; i++) ints.set([0x4a, ...u32(i)], 5 * i); // BININT i
  const head = P(0x80, 2, 0x63, 'builtins\nset\n', 0x94, 0x30, 0x5d, 0x28, ints, 0x65, 0x94, 0x30, 0x5d);
  const call = [0x68, 0, 0x68, 1, 0x85, 0x52, 0x30]; // set(L); POP
  return P(head, repeat(call, calls), 0x2e);
}

/** [{}, {}, ...]: `n` empty dicts in one list (1 byte each in the file). */
export const manyDicts = (n: number) => P(0x80, 2, 0x5d, 0x28, repeat([0x7d], n), 0x65, 0x2e);

/** [None, None, ...]: `n` items in one list, as a real pickler writes it (APPENDS per 1000). */
export function manyNones(n: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (let left = n; left > 0; left -= 1000) chunks.push(P(0x28, repeat([0x4e], Math.min(1000, left)), 0x65));
  return P(0x80, 2, 0x5d, ...chunks, 0x2e);
}

/** Writes a pickle as a zip .pth's archive/data.pkl; returns the path. */
export function zipPth(dir: string, name: string, pkl: Uint8Array): string {
  const path = join(dir, name);
  writeAtomic(path, (sink) => {
    const z = new ZipWriter(sink);
    z.add('archive/data.pkl', [pkl]);
    z.add('archive/byteorder', [Buffer.from('little')]);
    z.finish();
  });
  return path;
}
