// Text classification data: CSV/JSONL rows of text (and an optional second text) with a label,
// tokenized per batch on the main thread (tokenizing is cheap next to a transformer step).
import { ArgumentError } from '../errors.ts';
import { type BatchContext, type Dataset, type LoadedBatch, labelField } from './dataset.ts';
import { type BadSample, DataError, type OnBadSample } from './errors.ts';
import { labelName, tableLabels, warnDropped } from './labels.ts';
import { pickColumn, readTable } from './manifest.ts';
import type { BatchEncodeOptions, TextTokenizer } from './tokenizer.ts';
import { defaultWarn, type WarnFn } from './warn.ts';

export interface TextSample {
  text: string;
  pair?: string;
  label: number;
}

export class TextDataset implements Dataset {
  readonly samples: readonly TextSample[];
  readonly classes: readonly string[];
  readonly tokenizer: TextTokenizer;
  readonly encode: BatchEncodeOptions;
  readonly bad: readonly BadSample[];
  readonly targets: readonly number[];

  constructor(
    samples: TextSample[],
    classes: string[],
    tokenizer: TextTokenizer,
    o: BatchEncodeOptions & { bad?: BadSample[] } = {},
  ) {
    const { bad, ...encode } = o;
    this.samples = samples;
    this.classes = classes;
    this.tokenizer = tokenizer;
    this.encode = encode;
    this.bad = bad ?? [];
    this.targets = samples.map((s) => s.label);
  }

  get length(): number {
    return this.samples.length;
  }

  subset(indices: readonly number[], o: { keepBad?: boolean } = {}): TextDataset {
    const s = indices.map((i) => {
      const v = this.samples[i];
      if (!v) throw new ArgumentError(`subset: index ${i} out of range for ${this.length} samples`);
      return v;
    });
    return new TextDataset(s, [...this.classes], this.tokenizer, {
      ...this.encode,
      bad: o.keepBad === false ? [] : [...this.bad],
    });
  }

  loadBatch(indices: number[], _ctx: BatchContext): LoadedBatch {
    const rows = indices.map((i) => this.samples[i]!);
    const hasPair = rows.some((r) => r.pair !== undefined);
    const e = this.tokenizer.encodeBatch(
      rows.map((r) => r.text),
      hasPair ? rows.map((r) => r.pair ?? null) : null,
      this.encode,
    );
    const shape = [...e.shape];
    return {
      fields: {
        x: { data: e.inputIds, shape },
        attentionMask: { data: e.attentionMask, shape },
        tokenTypeIds: { data: e.tokenTypeIds, shape },
        y: labelField(this.targets, indices),
      },
      indices,
      bad: [],
    };
  }
}

export interface TextFileOptions extends BatchEncodeOptions {
  textColumn?: string;
  /** a second text per row (sentence pairs: NLI, QA) */
  pairColumn?: string;
  labelColumn?: string;
  /**
   * class names in index order: a row with another label is an error naming its line (skipped under
   * onBadSample 'skip'); integer labels index into the list when no class name is an integer
   */
  classes?: string[];
  /** a row that cannot be used (or holds bytes that are not UTF-8): 'error' (default) or 'skip' it */
  onBadSample?: OnBadSample;
  /** where warnings go (default: a `graft: warning:` line on stderr) */
  warn?: WarnFn;
}

/** A CSV (with a header) or JSONL file of text,label rows; a row without text or label names its line. */
export function textDataset(file: string, tokenizer: TextTokenizer, o: TextFileOptions = {}): TextDataset {
  const { textColumn, pairColumn, labelColumn, classes, onBadSample, warn = defaultWarn, ...encode } = o;
  const t = readTable(file, { onBadSample });
  const textCol = pickColumn(t, textColumn ? [textColumn] : ['text', 'sentence', 'review', 'content'], 'text');
  const labelCol = pickColumn(t, labelColumn ? [labelColumn] : ['label', 'labels', 'class', 'target', 'y'], 'label');
  const pairCol = pairColumn ? pickColumn(t, [pairColumn], 'pair') : undefined;
  const bad = [...t.bad];
  const rows: { text: string; pair?: string; label: string; line: number }[] = [];
  for (const r of t.rows) {
    const text = r.values[textCol];
    const label = r.values[labelCol];
    const pair = pairCol ? r.values[pairCol] : undefined;
    let reason: string | undefined;
    if (typeof text !== 'string')
      reason = `'${textCol}' is ${text === undefined ? 'missing' : `not a string (${typeof text})`}`;
    else if (label === undefined || label === null || label === '') reason = `'${labelCol}' is missing`;
    else if (pairCol && typeof pair !== 'string') reason = `'${pairCol}' is missing`;
    if (reason) {
      if (onBadSample !== 'skip') throw new DataError(file, `line ${r.line}: ${reason}`);
      bad.push({ file: `${file}:${r.line}`, reason });
      continue;
    }
    rows.push({ text: text as string, pair: pair as string | undefined, label: labelName(label), line: r.line });
  }
  const lab = tableLabels(rows, file, { classes, onBadSample, warn, bad, badName: (r) => `${file}:${r.line}` });
  warnDropped(bad, warn);
  const samples = lab.rows.map((r, k) => ({
    text: r.text,
    ...(r.pair !== undefined ? { pair: r.pair } : {}),
    label: lab.targets[k]!,
  }));
  return new TextDataset(samples, lab.classes, tokenizer, { ...encode, bad });
}
