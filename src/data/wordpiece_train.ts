// Training a BERT WordPiece vocabulary on texts, as Hugging Face tokenizers' WordPieceTrainer does:
// BERT's normalizer (lowercase, accents stripped) and pre-tokenizer (whitespace and punctuation)
// split the texts into words; each word starts as characters, the ones after the first carrying
// the '##' continuation prefix; the most frequent adjacent pair is merged (ties: the smaller pair
// of symbol ids) until the vocabulary is full or no pair occurs minFrequency times. The vocabulary
// is the special tokens, the characters, then the merged pieces; tokenising with it is WordPiece's
// greedy longest match, as for any BERT vocab.txt. Pair counts are updated incrementally (only the
// words holding the merged pair are touched), so a few megabytes train in seconds.
import { ArgumentError } from '../errors.ts';
import { TextTokenizer, wordPieceJson } from './tokenizer.ts';

/** BERT's special tokens in bert-base-uncased's order (ids 0..4 of a trained vocabulary). */
export const BERT_SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

/** Options of trainWordPiece. */
export interface TrainWordPieceOptions {
  /** entries in the vocabulary: special tokens + characters + merged pieces */
  vocabSize: number;
  /** a pair merges only when it occurs this often (default 2, as BertWordPieceTokenizer.train) */
  minFrequency?: number;
  /** uncased, as bert-base-uncased (default true) */
  lowercase?: boolean;
  /** first in the vocabulary, in this order (default [PAD] [UNK] [CLS] [SEP] [MASK]: ids 0..4) */
  specialTokens?: string[];
  /** model_max_length of the tokenizer (default 512) */
  modelMaxLength?: number;
}

const PREFIX = '##';

/** A max-heap of [count, pairKey] (ties: smaller key first); stale entries are skipped by the caller. */
class PairHeap {
  private readonly c: number[] = [];
  private readonly k: number[] = [];
  get size(): number {
    return this.c.length;
  }
  private above(i: number, j: number): boolean {
    return this.c[i]! > this.c[j]! || (this.c[i] === this.c[j] && this.k[i]! < this.k[j]!);
  }
  private swap(i: number, j: number): void {
    [this.c[i], this.c[j]] = [this.c[j]!, this.c[i]!];
    [this.k[i], this.k[j]] = [this.k[j]!, this.k[i]!];
  }
  push(count: number, key: number): void {
    this.c.push(count);
    this.k.push(key);
    for (let i = this.c.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): [number, number] {
    const top: [number, number] = [this.c[0]!, this.k[0]!];
    const lastC = this.c.pop()!;
    const lastK = this.k.pop()!;
    if (this.c.length) {
      this.c[0] = lastC;
      this.k[0] = lastK;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.c.length && this.above(l, m)) m = l;
        if (r < this.c.length && this.above(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

/** The words of the texts after BERT's normalizer and pre-tokenizer, with their counts. */
function countWords(texts: Iterable<string>, lowercase: boolean): Map<string, number> {
  const probe = new TextTokenizer(wordPieceJson(`${BERT_SPECIAL_TOKENS.join('\n')}\n`, { lowercase }));
  const norm = probe.impl.normalizer;
  const pre = probe.impl.pre_tokenizer!;
  const counts = new Map<string, number>();
  for (const t of texts)
    for (const w of pre.pre_tokenize_text(norm ? norm.normalize(t) : t)) if (w) counts.set(w, (counts.get(w) ?? 0) + 1);
  return counts;
}

/** A WordPiece tokenizer (BERT's normalizer, pre-tokenizer and [CLS] A [SEP] template) trained on `texts`. */
export function trainWordPiece(texts: Iterable<string>, o: TrainWordPieceOptions): TextTokenizer {
  const specials = o.specialTokens ?? [...BERT_SPECIAL_TOKENS];
  for (const t of ['[CLS]', '[SEP]', '[UNK]'])
    if (!specials.includes(t)) throw new ArgumentError(`specialTokens must include ${t}`);
  const minFrequency = o.minFrequency ?? 2;
  const lowercase = o.lowercase ?? true;
  const counts = countWords(texts, lowercase);
  // symbols: the alphabet (sorted, so ids do not depend on the texts' order), then merged pieces
  const alphabet = new Set<string>();
  for (const w of counts.keys()) {
    const chars = [...w];
    for (let i = 0; i < chars.length; i++) alphabet.add(i === 0 ? chars[i]! : PREFIX + chars[i]);
  }
  const sym = [...alphabet].sort();
  if (!Number.isInteger(o.vocabSize) || o.vocabSize < specials.length + sym.length)
    throw new ArgumentError(
      `vocabSize must be an integer >= ${specials.length + sym.length} (special tokens + the ${sym.length} characters of the texts), got ${o.vocabSize}`,
    );
  const idOf = new Map(sym.map((s, i) => [s, i]));
  const words = [...counts].map(([w, c]) => ({ s: [...w].map((ch, i) => idOf.get(i === 0 ? ch : PREFIX + ch)!), c }));
  const SHIFT = 2 ** 21;
  const key = (a: number, b: number) => a * SHIFT + b;
  const pairCount = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const addPairs = (wi: number, sign: number, touched: Set<number>) => {
    const { s, c } = words[wi]!;
    for (let i = 0; i + 1 < s.length; i++) {
      const k = key(s[i]!, s[i + 1]!);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * c);
      touched.add(k);
      if (sign > 0) {
        const set = where.get(k);
        if (set) set.add(wi);
        else where.set(k, new Set([wi]));
      }
    }
  };
  const heap = new PairHeap();
  const all = new Set<number>();
  for (let wi = 0; wi < words.length; wi++) addPairs(wi, 1, all);
  for (const k of all) heap.push(pairCount.get(k)!, k);
  const merged: string[] = [];
  const inVocab = new Set([...specials, ...sym]);
  const base = specials.length + alphabet.size;
  while (base + merged.length < o.vocabSize && heap.size) {
    const [n, k] = heap.pop();
    if (pairCount.get(k) !== n) continue; // stale: the count changed since it was pushed
    if (n < minFrequency || n <= 0) break;
    const a = Math.floor(k / SHIFT);
    const b = k % SHIFT;
    const piece = sym[a]! + sym[b]!.slice(PREFIX.length);
    let id = idOf.get(piece);
    if (id === undefined) {
      id = sym.length;
      sym.push(piece);
      idOf.set(piece, id);
    }
    if (!inVocab.has(piece)) {
      inVocab.add(piece);
      merged.push(piece);
    }
    const touched = new Set<number>();
    for (const wi of where.get(k) ?? []) {
      const w = words[wi]!;
      addPairs(wi, -1, touched);
      const out: number[] = [];
      for (let i = 0; i < w.s.length; i++)
        if (i + 1 < w.s.length && w.s[i] === a && w.s[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(w.s[i]!);
      w.s = out;
      addPairs(wi, 1, touched);
    }
    where.delete(k);
    for (const t of touched) {
      const c = pairCount.get(t)!;
      if (c > 0) heap.push(c, t);
      else pairCount.delete(t);
    }
  }
  const vocab = [...specials, ...[...alphabet].sort(), ...merged];
  return new TextTokenizer(wordPieceJson(`${vocab.join('\n')}\n`, { lowercase }), {
    model_max_length: o.modelMaxLength ?? 512,
    do_lower_case: lowercase,
  });
}

/** The vocabulary as vocab.txt lines (one token per line, id = line number), as BertTokenizer reads it. */
export function vocabTxt(tok: TextTokenizer): string {
  const vocab = tok.json.model?.vocab as Record<string, number> | undefined;
  if (!vocab || tok.json.model?.type !== 'WordPiece')
    throw new ArgumentError('vocabTxt: not a WordPiece tokenizer', 'vocab.txt is the format of BERT vocabularies');
  const lines = Object.entries(vocab)
    .sort((x, y) => x[1] - y[1])
    .map(([t]) => t);
  return `${lines.join('\n')}\n`;
}
