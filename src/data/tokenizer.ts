// Tokenizers through @huggingface/tokenizers (pure JS, the tokenizers of transformers.js): a
// tokenizer.json as it is, BERT's vocab.txt as WordPiece (BertNormalizer + BertPreTokenizer +
// [CLS] A [SEP] B [SEP]) and GPT-2's vocab.json + merges.txt as byte-level BPE. Truncation and
// padding follow Hugging Face's rules (longest_first for pairs) and produce int64 batches.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ArgumentError } from '../errors.ts';
import { DataError } from './errors.ts';

type Json = Record<string, any>;

export interface EncodeOptions {
  /** longest sequence kept, special tokens included (default: the tokenizer's, else 512) */
  maxLength?: number;
  /** cut sequences longer than maxLength (default true); pairs lose tokens longest-first */
  truncation?: boolean;
  addSpecialTokens?: boolean;
}

export interface BatchEncodeOptions extends EncodeOptions {
  /** 'longest' (default): to the longest in the batch; 'max_length': to maxLength; false: none (all must be equal) */
  padding?: 'longest' | 'max_length' | false;
  paddingSide?: 'right' | 'left';
}

export interface Encoded {
  ids: number[];
  tokens: string[];
  typeIds: number[];
}

export interface EncodedBatch {
  /** [N, L] int64 */
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  tokenTypeIds: BigInt64Array;
  shape: [number, number];
}

const specialToken = (content: string, id: number) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

function parseVocabTxt(text: string): Record<string, number> {
  // BertTokenizer's load_vocab: one token per line, id = line number (a repeated token keeps the last)
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const vocab: Record<string, number> = {};
  lines.forEach((line, i) => {
    vocab[line.replace(/\r$/, '')] = i;
  });
  return vocab;
}

/** A tokenizer.json for BERT's WordPiece from the lines of vocab.txt. */
export function wordPieceJson(vocabTxt: string, o: { lowercase?: boolean; stripAccents?: boolean } = {}): Json {
  const vocab = parseVocabTxt(vocabTxt);
  for (const t of ['[CLS]', '[SEP]', '[UNK]'])
    if (!(t in vocab))
      throw new ArgumentError(`vocab.txt has no ${t} token`, 'a BERT vocab lists [PAD], [UNK], [CLS], [SEP], [MASK]');
  const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].filter((t) => t in vocab);
  const cls = vocab['[CLS]']!;
  const sep = vocab['[SEP]']!;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((t) => specialToken(t, vocab[t]!)),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: o.stripAccents ?? null,
      lowercase: o.lowercase ?? true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [cls], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [sep], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab,
    },
  };
}

/** A tokenizer.json for GPT-2's byte-level BPE from vocab.json and the lines of merges.txt. */
export function byteLevelBpeJson(
  vocab: Record<string, number>,
  mergesTxt: string,
  o: { addPrefixSpace?: boolean } = {},
): Json {
  const merges = mergesTxt
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l && !l.startsWith('#version'));
  const specials = Object.keys(vocab).filter((t) => /^<\|.*\|>$/.test(t));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((t) => specialToken(t, vocab[t]!)),
    normalizer: null,
    pre_tokenizer: {
      type: 'ByteLevel',
      add_prefix_space: o.addPrefixSpace ?? false,
      trim_offsets: true,
      use_regex: true,
    },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

export class TextTokenizer {
  readonly impl: Tokenizer;
  readonly json: Json;
  readonly padId: number;
  readonly padToken: string | null;
  readonly maxLength: number;
  /** tokenizer_config.json as read (bos_token, eos_token, chat_template, ...) */
  readonly config: Json;
  /** the end-of-sequence token (config eos_token, else '<|endoftext|>' or '</s>' when in the vocabulary) */
  readonly eosToken: string | undefined;
  readonly eosId: number | undefined;
  /** the beginning-of-sequence token (config bos_token), if any */
  readonly bosToken: string | undefined;
  private readonly nSpecial: [number, number];

  constructor(json: Json, config: Json = {}) {
    this.json = json;
    this.config = config;
    try {
      this.impl = new Tokenizer(json, config);
    } catch (e) {
      throw new ArgumentError(`cannot build the tokenizer: ${(e as Error).message}`);
    }
    const named = (v: unknown) =>
      typeof v === 'string' ? v : v && typeof v === 'object' ? (v as Json).content : undefined;
    const candidates = [named(config.pad_token), '[PAD]', '<pad>', named(config.eos_token), '<|endoftext|>', '</s>'];
    const pad = candidates.find((t): t is string => typeof t === 'string' && this.impl.token_to_id(t) !== undefined);
    this.padToken = pad ?? null;
    this.padId = pad !== undefined ? this.impl.token_to_id(pad)! : 0;
    const known = (t: unknown): t is string => typeof t === 'string' && this.impl.token_to_id(t) !== undefined;
    this.eosToken = [named(config.eos_token), '<|endoftext|>', '</s>'].find(known);
    this.eosId = this.eosToken !== undefined ? this.impl.token_to_id(this.eosToken) : undefined;
    const bos = named(config.bos_token);
    this.bosToken = known(bos) ? bos : undefined;
    const cfgMax = Number(config.model_max_length);
    this.maxLength =
      Number.isFinite(cfgMax) && cfgMax > 0 && cfgMax < 1e6 ? cfgMax : (json.truncation?.max_length ?? 512);
    this.nSpecial = [this.postProcess([], null).ids.length, this.postProcess([], []).ids.length];
  }

  /** BERT WordPiece from a vocab.txt file (uncased by default, as BertTokenizer). */
  static fromVocabTxt(file: string, o: { lowercase?: boolean; stripAccents?: boolean } = {}): TextTokenizer {
    return new TextTokenizer(wordPieceJson(readText(file), o), { model_max_length: 512 });
  }

  /** GPT-2 byte-level BPE from vocab.json + merges.txt. */
  static fromBpeFiles(vocabJson: string, mergesTxt: string, o: { addPrefixSpace?: boolean } = {}): TextTokenizer {
    let vocab: Record<string, number>;
    try {
      vocab = JSON.parse(readText(vocabJson));
    } catch (e) {
      throw new DataError(vocabJson, `invalid JSON: ${(e as Error).message}`);
    }
    return new TextTokenizer(byteLevelBpeJson(vocab, readText(mergesTxt), o), { model_max_length: 1024 });
  }

  /**
   * From a tokenizer.json, vocab.txt or vocab.json (merges.txt beside it), or a folder with one of them
   * (tokenizer_config.json beside it is read too: do_lower_case, pad_token, model_max_length).
   */
  static load(path: string): TextTokenizer {
    const dir = existsSync(path) && statSync(path).isDirectory() ? path : null;
    const pick = (name: string) => (dir ? join(dir, name) : path.endsWith(name) ? path : null);
    const sibling = (name: string) => join(dir ?? join(path, '..'), name);
    const cfgFile = sibling('tokenizer_config.json');
    const config: Json = existsSync(cfgFile) ? readJson(cfgFile) : {};
    const tj = pick('tokenizer.json');
    if (tj && existsSync(tj)) return new TextTokenizer(readJson(tj), config);
    const vt = pick('vocab.txt');
    if (vt && existsSync(vt))
      return new TextTokenizer(
        wordPieceJson(readText(vt), {
          lowercase: config.do_lower_case ?? true,
          stripAccents: config.strip_accents ?? undefined,
        }),
        { model_max_length: 512, ...config },
      );
    const vj = pick('vocab.json');
    if (vj && existsSync(vj)) {
      const merges = sibling('merges.txt');
      if (!existsSync(merges))
        throw new DataError(merges, 'not found: byte-level BPE needs merges.txt beside vocab.json');
      return new TextTokenizer(
        byteLevelBpeJson(readJson(vj), readText(merges), { addPrefixSpace: config.add_prefix_space }),
        {
          model_max_length: 1024,
          ...config,
        },
      );
    }
    throw new DataError(path, 'no tokenizer.json, vocab.txt or vocab.json here');
  }

  get vocabSize(): number {
    return this.impl.get_vocab(true).size;
  }

  /**
   * Ids of the special tokens (tokenizer.json's added tokens marked special: [CLS], [SEP], [PAD],
   * [UNK], [MASK] for BERT), what transformers' get_special_tokens_mask marks.
   */
  get specialIds(): Set<number> {
    const added = (this.json.added_tokens ?? []) as { id: number; special?: boolean }[];
    return new Set(added.filter((t) => t.special).map((t) => t.id));
  }

  tokenToId(token: string): number | undefined {
    return this.impl.token_to_id(token);
  }

  /** Tokens without special tokens. */
  tokenize(text: string): string[] {
    return this.impl.tokenize(text, { add_special_tokens: false });
  }

  private toIds(tokens: string[]): number[] {
    const unk = this.impl.model?.unk_token_id;
    return tokens.map((t) => {
      const id = this.impl.token_to_id(t) ?? unk;
      if (id === undefined)
        throw new ArgumentError(`token '${t}' is not in the vocabulary and there is no unknown token`);
      return id;
    });
  }

  private postProcess(a: string[], b: string[] | null, addSpecial = true): Encoded {
    const pp = this.impl.post_processor;
    let tokens: string[];
    let typeIds: number[];
    if (!pp) {
      tokens = [...a, ...(b ?? [])];
      typeIds = [...a.map(() => 0), ...(b ?? []).map(() => 1)];
    } else {
      const r = pp(a, b, addSpecial) as { tokens: string[]; tokens_pair?: string[]; token_type_ids?: number[] };
      if (r.token_type_ids) {
        tokens = r.tokens;
        typeIds = r.token_type_ids;
      } else {
        // byte-level post-processing leaves the pair apart
        const second = r.tokens_pair ?? [];
        tokens = [...r.tokens, ...second];
        typeIds = [...r.tokens.map(() => 0), ...second.map(() => 1)];
      }
    }
    return { ids: this.toIds(tokens), tokens, typeIds };
  }

  /** One text (or a pair) to ids, with special tokens and truncation. */
  encode(text: string, pair?: string | null, o: EncodeOptions = {}): Encoded {
    const add = o.addSpecialTokens ?? true;
    let a = this.tokenize(text);
    let b = pair === undefined || pair === null ? null : this.tokenize(pair);
    if (o.truncation ?? true) {
      const max = (o.maxLength ?? this.maxLength) - (add ? this.nSpecial[b ? 1 : 0] : 0);
      if (max < 0) throw new ArgumentError(`maxLength ${o.maxLength} leaves no room after the special tokens`);
      if (!b) a = a.slice(0, max);
      else if (a.length + b.length > max) {
        // Hugging Face's LongestFirst truncation
        let n1 = Math.min(a.length, b.length);
        let n2 = Math.max(a.length, b.length);
        const swap = a.length > b.length;
        n2 = n1 > max ? n1 : Math.max(n1, max - n1);
        if (n1 + n2 > max) {
          n1 = Math.floor(max / 2);
          n2 = n1 + (max % 2);
        }
        const [na, nb] = swap ? [n2, n1] : [n1, n2];
        a = a.slice(0, na);
        b = b.slice(0, nb);
      }
    }
    return this.postProcess(a, b, add);
  }

  /** A batch as int64 [N, L] arrays: ids, attention mask (1 = token), token type ids; padded with padId. */
  encodeBatch(
    texts: readonly string[],
    pairs?: readonly (string | null)[] | null,
    o: BatchEncodeOptions = {},
  ): EncodedBatch {
    if (pairs && pairs.length !== texts.length)
      throw new ArgumentError(`${texts.length} texts but ${pairs.length} pairs`);
    const enc = texts.map((t, i) => this.encode(t, pairs?.[i] ?? null, o));
    const padding = o.padding ?? 'longest';
    const longest = Math.max(0, ...enc.map((e) => e.ids.length));
    const L = padding === 'max_length' ? Math.max(o.maxLength ?? this.maxLength, longest) : longest;
    if (padding === false && enc.some((e) => e.ids.length !== L))
      throw new ArgumentError('sequences have different lengths and padding is off', "use padding: 'longest'");
    const N = enc.length;
    const inputIds = new BigInt64Array(N * L).fill(BigInt(this.padId));
    const attentionMask = new BigInt64Array(N * L);
    const tokenTypeIds = new BigInt64Array(N * L);
    enc.forEach((e, i) => {
      const off = i * L + (o.paddingSide === 'left' ? L - e.ids.length : 0);
      e.ids.forEach((id, j) => {
        inputIds[off + j] = BigInt(id);
        attentionMask[off + j] = 1n;
        tokenTypeIds[off + j] = BigInt(e.typeIds[j] ?? 0);
      });
    });
    return { inputIds, attentionMask, tokenTypeIds, shape: [N, L] };
  }

  decode(ids: readonly number[], o: { skipSpecialTokens?: boolean } = {}): string {
    if (!ids.length) return '';
    return this.impl.decode([...ids], { skip_special_tokens: o.skipSpecialTokens ?? false });
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataError(file, `cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function readJson(file: string): Json {
  try {
    return JSON.parse(readText(file));
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(file, `invalid JSON: ${(e as Error).message}`);
  }
}
