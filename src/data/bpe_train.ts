// Training a small byte-level BPE tokenizer (GPT-2's scheme) on texts: for models trained from
// scratch where no pretrained tokenizer exists. Plain greedy BPE: the most frequent adjacent pair
// (ties broken by the pair's text, so the result is the same everywhere) is merged until the
// vocabulary has vocabSize entries. Slow for big corpora (it recounts pairs every merge); meant
// for vocabularies of a few thousand over a few megabytes.
import { ArgumentError } from '../errors.ts';
import { byteLevelBpeJson, TextTokenizer } from './tokenizer.ts';

// GPT-2's pre-tokenizer: contractions, letters, numbers, other runs, whitespace
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's bytes_to_unicode: printable characters for the 256 bytes. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const map: string[] = new Array(256);
  for (const b of bs) map[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCharCode(256 + n++);
  return map;
}

export interface TrainBpeOptions {
  /** entries in the vocabulary: 256 bytes + merges + special tokens */
  vocabSize: number;
  /** added after the merges (default ['<|endoftext|>']: EOS and padding) */
  specialTokens?: string[];
  /** the longest sequence the tokenizer claims to handle (model_max_length; default 1024) */
  modelMaxLength?: number;
}

/** A byte-level BPE tokenizer trained on `texts`; `json` is its tokenizer.json. */
export function trainByteLevelBpe(texts: Iterable<string>, o: TrainBpeOptions): TextTokenizer {
  const specials = o.specialTokens ?? ['<|endoftext|>'];
  const nMerges = o.vocabSize - 256 - specials.length;
  if (!Number.isInteger(o.vocabSize) || nMerges < 0)
    throw new ArgumentError(`vocabSize must be an integer >= ${256 + specials.length}, got ${o.vocabSize}`);
  const b2u = bytesToUnicode();
  const enc = new TextEncoder();
  const counts = new Map<string, number>();
  for (const t of texts)
    for (const m of t.matchAll(GPT2_SPLIT)) {
      const w = Array.from(enc.encode(m[0]), (b) => b2u[b]!).join('');
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  const words = [...counts].map(([w, c]) => ({ syms: [...w], c }));
  const vocab: Record<string, number> = {};
  b2u.forEach((ch, i) => {
    vocab[ch] = i;
  });
  const merges: string[] = [];
  for (let k = 0; k < nMerges; k++) {
    const pairs = new Map<string, number>();
    for (const { syms, c } of words)
      for (let i = 0; i + 1 < syms.length; i++) {
        const key = `${syms[i]} ${syms[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + c);
      }
    let best: string | undefined;
    let bestN = 0;
    for (const [key, n] of pairs)
      if (n > bestN || (n === bestN && best !== undefined && key < best)) [best, bestN] = [key, n];
    if (best === undefined || bestN < 2) break;
    const [a, b] = best.split(' ') as [string, string];
    const ab = a + b;
    merges.push(best);
    vocab[ab] = 256 + k;
    for (const w of words) {
      const s = w.syms;
      const out: string[] = [];
      for (let i = 0; i < s.length; i++)
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(ab);
          i++;
        } else out.push(s[i]!);
      w.syms = out;
    }
  }
  let id = 256 + merges.length;
  for (const s of specials) vocab[s] = id++;
  const json = byteLevelBpeJson(vocab, merges.join('\n'));
  // byteLevelBpeJson marks <|...|> tokens as special; other special tokens are added here
  for (const s of specials)
    if (!json.added_tokens.some((t: { content: string }) => t.content === s))
      json.added_tokens.push({
        id: vocab[s],
        content: s,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      });
  const eos = specials[0];
  return new TextTokenizer(json, {
    model_max_length: o.modelMaxLength ?? 1024,
    ...(eos ? { eos_token: eos, pad_token: eos } : {}),
  });
}
