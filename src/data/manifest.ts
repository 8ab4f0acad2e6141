// CSV (RFC 4180: quotes, doubled quotes, newlines inside quotes) and JSONL tables. A bad row (one that
// does not parse, or holds bytes that are not UTF-8) is an error naming the file and line, or with
// onBadSample 'skip' it is dropped and recorded.
import { type BadSample, DataError, type OnBadSample, SKIP_HINT, SKIP_OPTION } from './errors.ts';
import { readUtf8File, UTF8_HINT } from './utf8.ts';

export interface Row {
  /** 1-based line where the row starts */
  line: number;
  values: Record<string, unknown>;
}

export interface Table {
  file: string;
  columns: string[];
  rows: Row[];
  bad: BadSample[];
}

interface CsvRecord {
  /** first and last line of the record (quoted cells can hold newlines) */
  line: number;
  end: number;
  cells: string[];
}

function parseCsvRecords(text: string, file: string): CsvRecord[] {
  const out: CsvRecord[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRecord = () => {
    cells.push(cell);
    if (!(cells.length === 1 && cells[0] === '')) out.push({ line: start, end: line, cells });
    cells = [];
    cell = '';
  };
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        cell += ch;
      }
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      start = line;
    } else cell += ch;
  }
  if (quoted) throw new DataError(file, `line ${start}: unterminated quoted field`);
  if (cell !== '' || cells.length) endRecord();
  return out;
}

/** Reads a CSV file with a header row, or a JSONL file (one JSON object per line), by extension. */
export function readTable(file: string, o: { onBadSample?: OnBadSample; format?: 'csv' | 'jsonl' } = {}): Table {
  const { text, badLines } = readUtf8File(file);
  const format = o.format ?? (/\.(jsonl|ndjson|json)$/i.test(file) ? 'jsonl' : 'csv');
  const skip = o.onBadSample === 'skip';
  const bad: BadSample[] = [];
  const rows: Row[] = [];
  const notUtf8 = (line: number) =>
    new DataError(file, `line ${line}: not valid UTF-8`, skip ? UTF8_HINT : `${UTF8_HINT}, or ${SKIP_OPTION}`);
  // rows holding bytes that are not UTF-8: an error, or (skip) dropped like any bad row
  const badSet = new Set(badLines);
  const hasBad = (from: number, to = from) => {
    if (!badSet.size) return false;
    for (let l = from; l <= to; l++) if (badSet.has(l)) return true;
    return false;
  };
  if (badLines.length && !skip) throw notUtf8(badLines[0]!);
  const fail = (line: number, reason: string) => {
    if (!skip) throw new DataError(file, `line ${line}: ${reason}`, SKIP_HINT);
    bad.push({ file: `${file}:${line}`, reason });
  };
  if (format === 'jsonl' && text.trimStart().startsWith('[')) {
    // a .json file holding one array of objects (the 'line' of a row is its item number)
    if (badLines.length) throw notUtf8(badLines[0]!);
    let arr: unknown;
    try {
      arr = JSON.parse(text);
    } catch (e) {
      throw new DataError(file, `invalid JSON: ${(e as Error).message}`);
    }
    const cols = new Set<string>();
    if (!Array.isArray(arr)) throw new DataError(file, 'expected a JSON array of objects (or JSON lines)');
    arr.forEach((v: unknown, k) => {
      if (!v || typeof v !== 'object' || Array.isArray(v)) fail(k + 1, `item ${k} is not an object`);
      else {
        for (const c of Object.keys(v)) cols.add(c);
        rows.push({ line: k + 1, values: v as Record<string, unknown> });
      }
    });
    return { file, columns: [...cols], rows, bad };
  }
  if (format === 'jsonl') {
    const cols = new Set<string>();
    text.split(/\r?\n/).forEach((l, k) => {
      if (!l.trim()) return;
      if (hasBad(k + 1)) {
        fail(k + 1, 'not valid UTF-8');
        return;
      }
      let v: unknown;
      try {
        v = JSON.parse(l);
      } catch (e) {
        fail(k + 1, `invalid JSON: ${(e as Error).message}`);
        return;
      }
      if (!v || typeof v !== 'object' || Array.isArray(v)) {
        fail(k + 1, 'expected a JSON object');
        return;
      }
      for (const c of Object.keys(v)) cols.add(c);
      rows.push({ line: k + 1, values: v as Record<string, unknown> });
    });
    return { file, columns: [...cols], rows, bad };
  }
  const records = parseCsvRecords(text, file);
  if (!records.length) throw new DataError(file, 'empty CSV file (a header row is expected)');
  const head = records[0]!;
  if (hasBad(head.line, head.end)) throw notUtf8(head.line);
  const header = head.cells.map((c) => c.trim());
  for (const r of records.slice(1)) {
    if (hasBad(r.line, r.end)) {
      fail(r.line, 'not valid UTF-8');
      continue;
    }
    if (r.cells.length !== header.length) {
      fail(r.line, `${r.cells.length} fields, the header has ${header.length}`);
      continue;
    }
    rows.push({ line: r.line, values: Object.fromEntries(header.map((h, k) => [h, r.cells[k]])) });
  }
  return { file, columns: header, rows, bad };
}

/** The first of `names` that the table has, or an error listing what it has. */
export function pickColumn(t: Table, names: readonly string[], what: string): string {
  const c = names.find((n) => t.columns.includes(n));
  if (!c)
    throw new DataError(
      t.file,
      `no ${what} column: looked for ${names.map((n) => `'${n}'`).join(', ')}, found ${t.columns.map((n) => `'${n}'`).join(', ') || 'none'}`,
      `name the column with the ${what}Column option`,
    );
  return c;
}

/** Compares strings by code point, as Python's sorted() (JS's default sort is by UTF-16 unit). */
export function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d) return d;
  }
  return x.length - y.length;
}
