// The documents of causal-LM data: plain text files (one document per file, paragraph or line),
// and JSONL / JSON rows of {text}, instruction pairs {instruction, input?, output} or chats
// {messages: [{role, content}]}. A row that fits no form names its file and line.
import { statSync } from 'node:fs';
import { extname } from 'node:path';
import { type ChatMessage, instructionMessages } from './causal_lm_chat.ts';
import { type BadSample, DataError, type OnBadSample } from './errors.ts';
import { expandGlob } from './files.ts';
import { readUtf8Strict } from './utf8.ts';

export type LMFormat = 'auto' | 'text' | 'instruction' | 'chat';
export type DocumentSplit = 'file' | 'paragraph' | 'line';

/** One training document: plain text (every token trained) or a chat (replies trained). */
export type LMRecord = { text: string; where: string } | { messages: ChatMessage[]; where: string };

export interface ReadLMOptions {
  /** what the rows are (default 'auto': decided per row by its keys) */
  format?: LMFormat;
  /** plain text files: one document per file (default), per blank-line paragraph, or per line */
  split?: DocumentSplit;
  onBadSample?: OnBadSample;
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);

function rowToRecord(row: unknown, format: LMFormat, where: string): LMRecord | string {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) return 'expected a JSON object';
  const r = row as Record<string, unknown>;
  const want = format === 'auto' ? ('messages' in r ? 'chat' : 'instruction' in r ? 'instruction' : 'text') : format;
  if (want === 'text') {
    if (typeof r.text !== 'string') return `'text' is ${r.text === undefined ? 'missing' : 'not a string'}`;
    return { text: r.text, where };
  }
  if (want === 'instruction') {
    if (typeof r.instruction !== 'string') return "'instruction' is missing or not a string";
    if (typeof r.output !== 'string') return "'output' is missing or not a string";
    if (r.input !== undefined && r.input !== null && typeof r.input !== 'string') return "'input' is not a string";
    return { messages: instructionMessages(r.instruction, (r.input as string | null) ?? undefined, r.output), where };
  }
  if (!Array.isArray(r.messages) || r.messages.length === 0) return "'messages' is missing or not a non-empty list";
  const messages: ChatMessage[] = [];
  for (const [i, m] of (r.messages as unknown[]).entries()) {
    const mm = m as Record<string, unknown> | null;
    if (!mm || typeof mm.role !== 'string' || typeof mm.content !== 'string')
      return `messages[${i}] needs a string role and content`;
    if (!ROLES.has(mm.role)) return `messages[${i}]: unknown role '${mm.role}' (system, user, assistant or tool)`;
    messages.push({ role: mm.role, content: mm.content });
  }
  if (!messages.some((m) => m.role === 'assistant')) return 'no assistant message: nothing to train on';
  return { messages, where };
}

function jsonRows(file: string, text: string): { row: unknown; line: number }[] {
  if (extname(file).toLowerCase() === '.json') {
    let all: unknown;
    try {
      all = JSON.parse(text);
    } catch (e) {
      throw new DataError(file, `invalid JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(all)) throw new DataError(file, 'expected a JSON array of rows', 'or use a .jsonl file');
    return all.map((row, i) => ({ row, line: i + 1 }));
  }
  const out: { row: unknown; line: number }[] = [];
  text.split('\n').forEach((l, i) => {
    if (!l.trim()) return;
    try {
      out.push({ row: JSON.parse(l), line: i + 1 });
    } catch (e) {
      out.push({ row: new Error((e as Error).message), line: i + 1 });
    }
  });
  return out;
}

function splitText(text: string, split: DocumentSplit): string[] {
  if (split === 'file') return text.trim() ? [text] : [];
  const parts = split === 'line' ? text.split(/\r?\n/) : text.split(/\r?\n[ \t]*\r?\n/);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/** The files a pattern names: a file, a folder (its files, sorted) or a glob. */
export function lmFiles(pattern: string): string[] {
  const found = expandGlob(pattern).flatMap((p) => {
    const st = statSync(p);
    return st.isDirectory() ? expandGlob(`${p}/**/*`).filter((f) => statSync(f).isFile()) : [p];
  });
  if (!found.length) throw new DataError(pattern, 'no such file (or nothing matches the pattern)');
  return found;
}

/** Reads every document of the files (or globs / folders) given. */
export function readLMRecords(
  inputs: string | readonly string[],
  o: ReadLMOptions = {},
): { records: LMRecord[]; bad: BadSample[] } {
  const format = o.format ?? 'auto';
  const records: LMRecord[] = [];
  const bad: BadSample[] = [];
  for (const file of (typeof inputs === 'string' ? [inputs] : inputs).flatMap(lmFiles)) {
    const text = readUtf8Strict(file);
    const ext = extname(file).toLowerCase();
    if (ext !== '.jsonl' && ext !== '.json') {
      if (format !== 'auto' && format !== 'text')
        throw new DataError(file, `a plain text file cannot hold ${format} data`, 'give .jsonl rows for chats');
      splitText(text, o.split ?? 'file').forEach((t, i) => {
        records.push({ text: t, where: `${file}#${i + 1}` });
      });
      continue;
    }
    for (const { row, line } of jsonRows(file, text)) {
      const got = row instanceof Error ? `invalid JSON: ${row.message}` : rowToRecord(row, format, `${file}:${line}`);
      if (typeof got !== 'string') {
        records.push(got);
        continue;
      }
      if (o.onBadSample !== 'skip') throw new DataError(file, `line ${line}: ${got}`);
      bad.push({ file: `${file}:${line}`, reason: got });
    }
  }
  return { records, bad };
}
