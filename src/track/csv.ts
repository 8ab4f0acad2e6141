// metrics.csv: one row per logScalars call, columns `step`, `time`, then every tag in the order it
// was first logged. The header is stable: a column never moves or disappears; a tag logged for the
// first time gets a new column at the right end, and the file is rewritten once with the longer
// header (the rows before it get an empty cell there). An empty cell means "not logged in this
// row"; non-finite values are written nan, inf, -inf (what pandas and numpy read back).
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { appendText, ensureDir, truncateFile, writeFileAtomic } from '../report/index.ts';
import type { Logger } from './logger.ts';
import type { HparamValue, SessionStatus } from './summary.ts';

/** A header cell, quoted as RFC 4180 asks when it holds a comma, a quote or a line break. */
export function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvNumber(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  return String(v);
}

/** Splits one line of a CSV file written by CsvLogger into its cells (quoted cells unquoted). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export interface CsvLoggerOptions {
  path: string;
  /** keep the file's rows (a resumed run: see rewind); default: start the file empty */
  append?: boolean;
}

export class CsvLogger implements Logger {
  readonly path: string;
  #columns: string[] = [];
  #started = false;
  #append: boolean;

  constructor(o: CsvLoggerOptions) {
    this.path = o.path;
    this.#append = o.append ?? false;
  }

  /** The columns so far (step and time first). */
  get columns(): readonly string[] {
    return this.#columns;
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    ensureDir(dirname(this.path));
    if (this.#append && existsSync(this.path)) {
      const head = readFileSync(this.path, 'utf8').split('\n', 1)[0] ?? '';
      this.#columns = head ? splitCsvLine(head) : [];
    } else truncateFile(this.path);
  }

  logScalars(step: number, scalars: Record<string, number>, wallTime = Date.now() / 1000): void {
    this.#start();
    const fresh = this.#columns.length === 0;
    if (fresh) this.#columns = ['step', 'time'];
    const added = Object.keys(scalars).filter((k) => !this.#columns.includes(k));
    if (added.length) {
      const before = this.#columns.length;
      this.#columns.push(...added);
      const header = `${this.#columns.map(csvCell).join(',')}\n`;
      if (fresh) writeFileAtomic(this.path, header);
      else {
        // old rows keep their cells; the new columns are empty for them
        const pad = ','.repeat(this.#columns.length - before);
        const rows = readFileSync(this.path, 'utf8')
          .split('\n')
          .slice(1)
          .filter((l) => l !== '');
        writeFileAtomic(this.path, header + rows.map((l) => `${l}${pad}\n`).join(''));
      }
    }
    const cells = this.#columns.map((c) => {
      if (c === 'step') return String(step);
      if (c === 'time') return String(wallTime);
      const v = scalars[c];
      return v === undefined ? '' : csvNumber(v);
    });
    appendText(this.path, `${cells.join(',')}\n`);
  }

  /** CSV holds scalars only: histograms are not written. */
  logHistogram(): void {}

  /** The hyper-parameters are not written to the CSV file (a recipe run keeps them in recipe.yaml). */
  logHparams(_hparams: Record<string, HparamValue>): void {}

  /** Drops the rows past `step` (a run resumed from a checkpoint at that step). */
  rewind(step: number): void {
    this.#append = true;
    this.#started = false;
    if (!existsSync(this.path)) return;
    const lines = readFileSync(this.path, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    if (lines.length === 0) return;
    const keep = lines.slice(1).filter((l) => Number(l.slice(0, l.indexOf(','))) <= step);
    writeFileAtomic(this.path, [lines[0]!, ...keep].map((l) => `${l}\n`).join(''));
  }

  flush(): void {}

  close(_status?: SessionStatus): void {}
}
