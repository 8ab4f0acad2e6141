// Causal-LM examples: documents tokenised into ids and labels (labels = the ids, -100 where no loss
// is taken: prompt tokens of instruction / chat data, padding), then either packed into blocks of
// a fixed length (Hugging Face's run_clm group_texts, with the last partial block padded instead of
// dropped) or truncated one example per row and padded per batch. Labels stay aligned with the
// inputs: the one shift happens inside the loss. A batch carries its count of predicted tokens
// (labels[:, 1:] != -100) so losses average over tokens, not rows, across accumulation steps.
import { ArgumentError } from '../errors.ts';
import { type ChatTemplate, chatTemplate } from './causal_lm_chat.ts';
import { jinjaChatTemplate } from './causal_lm_jinja.ts';
import { type LMRecord, type ReadLMOptions, readLMRecords } from './causal_lm_sources.ts';
import type { BatchContext, Dataset, LoadedBatch } from './dataset.ts';
import type { BadSample } from './errors.ts';
import type { TextTokenizer } from './tokenizer.ts';
import { defaultWarn, type WarnFn } from './warn.ts';

export const IGNORE_INDEX = -100;

export interface LMExample {
  ids: Int32Array;
  /** the id where the token is trained on, IGNORE_INDEX where not */
  labels: Int32Array;
}

export interface TokenizeLMOptions {
  /** built-in chat template for chat and instruction rows (see causal_lm_chat.ts; default from the tokenizer) */
  chatTemplate?: string;
  /** end each plain-text document with EOS (default true: packed documents stay apart) */
  appendEos?: boolean;
}

/**
 * The chat template to use: the built-in one named; else the tokenizer's own Jinja chat_template
 * (the 'default' one of a list, as apply_chat_template picks); else 'simple'.
 */
export function resolveChatTemplate(tok: TextTokenizer, name?: string): ChatTemplate {
  if (name) return chatTemplate(name);
  const own = tok.config.chat_template;
  if (typeof own === 'string') return jinjaChatTemplate(own);
  if (Array.isArray(own)) {
    const d = own.find((t) => (t as { name?: unknown })?.name === 'default') as { template?: unknown } | undefined;
    if (typeof d?.template === 'string') return jinjaChatTemplate(d.template);
    throw new ArgumentError(
      "the tokenizer's chat_template is a list without a 'default' template",
      "name a built-in template: chatTemplate: 'chatml' (Qwen2 / ChatML), 'llama3' or 'simple'",
    );
  }
  return chatTemplate('simple');
}

/** One document as ids and labels (no truncation). */
export function tokenizeRecord(rec: LMRecord, tok: TextTokenizer, o: TokenizeLMOptions = {}): LMExample {
  const ids: number[] = [];
  const labels: number[] = [];
  if ('text' in rec) {
    // the tokenizer's own special tokens for one sequence (Llama's BOS; none for GPT-2)
    ids.push(...tok.encode(rec.text, null, { truncation: false }).ids);
    const eos = tok.eosId;
    if ((o.appendEos ?? true) && eos !== undefined && ids[ids.length - 1] !== eos) ids.push(eos);
    labels.push(...ids);
  } else {
    const t = resolveChatTemplate(tok, o.chatTemplate);
    for (const piece of t.render(rec.messages, { bos: tok.bosToken, eos: tok.eosToken })) {
      if (!piece.text) continue;
      const p = tok.encode(piece.text, null, { truncation: false, addSpecialTokens: false }).ids;
      ids.push(...p);
      for (const id of p) labels.push(piece.train ? id : IGNORE_INDEX);
    }
  }
  return { ids: Int32Array.from(ids), labels: Int32Array.from(labels) };
}

/**
 * Examples concatenated and cut into blocks of blockSize tokens; the last partial block is kept
 * (padded in the batch) so every token is trained or evaluated once.
 */
export function packExamples(examples: readonly LMExample[], blockSize: number): LMExample[] {
  if (!Number.isInteger(blockSize) || blockSize < 2)
    throw new ArgumentError(`blockSize must be an integer >= 2, got ${blockSize}`);
  const total = examples.reduce((n, e) => n + e.ids.length, 0);
  const ids = new Int32Array(total);
  const labels = new Int32Array(total);
  let at = 0;
  for (const e of examples) {
    ids.set(e.ids, at);
    labels.set(e.labels, at);
    at += e.ids.length;
  }
  const out: LMExample[] = [];
  for (let s = 0; s < total; s += blockSize)
    out.push({ ids: ids.subarray(s, s + blockSize), labels: labels.subarray(s, s + blockSize) });
  return out;
}

/** Every example cut to its first maxLength tokens. */
export function truncateExamples(examples: readonly LMExample[], maxLength: number): LMExample[] {
  if (!Number.isInteger(maxLength) || maxLength < 2)
    throw new ArgumentError(`maxLength must be an integer >= 2, got ${maxLength}`);
  return examples.map((e) =>
    e.ids.length <= maxLength ? e : { ids: e.ids.subarray(0, maxLength), labels: e.labels.subarray(0, maxLength) },
  );
}

/** Tokens a batch of examples is trained on: labels after the first position that are not ignored. */
export function predictedTokens(e: LMExample): number {
  let n = 0;
  for (let i = 1; i < e.labels.length; i++) if (e.labels[i] !== IGNORE_INDEX) n++;
  return n;
}

/** Examples as a dataset; batches are right-padded to their longest row (padId, mask 0, label -100). */
export class CausalLMDataset implements Dataset {
  readonly examples: readonly LMExample[];
  readonly padId: number;
  readonly bad: readonly BadSample[];

  constructor(examples: readonly LMExample[], o: { padId?: number; bad?: BadSample[] } = {}) {
    this.examples = examples;
    this.padId = o.padId ?? 0;
    this.bad = o.bad ?? [];
  }

  get length(): number {
    return this.examples.length;
  }

  /** tokens in all examples (padding excluded) */
  get tokenCount(): number {
    return this.examples.reduce((n, e) => n + e.ids.length, 0);
  }

  /** tokens the loss is taken on */
  get predictedTokenCount(): number {
    return this.examples.reduce((n, e) => n + predictedTokens(e), 0);
  }

  subset(indices: readonly number[], o: { keepBad?: boolean } = {}): CausalLMDataset {
    const ex = indices.map((i) => {
      const e = this.examples[i];
      if (!e) throw new ArgumentError(`subset: index ${i} out of range for ${this.length} examples`);
      return e;
    });
    return new CausalLMDataset(ex, { padId: this.padId, bad: o.keepBad === false ? [] : [...this.bad] });
  }

  loadBatch(indices: number[], _ctx?: BatchContext): LoadedBatch {
    const rows = indices.map((i) => this.examples[i]!);
    const N = rows.length;
    const L = Math.max(1, ...rows.map((r) => r.ids.length));
    const x = new BigInt64Array(N * L).fill(BigInt(this.padId));
    const mask = new BigInt64Array(N * L);
    const y = new BigInt64Array(N * L).fill(BigInt(IGNORE_INDEX));
    let items = 0;
    rows.forEach((r, n) => {
      for (let j = 0; j < r.ids.length; j++) {
        x[n * L + j] = BigInt(r.ids[j]!);
        mask[n * L + j] = 1n;
        y[n * L + j] = BigInt(r.labels[j]!);
      }
      items += predictedTokens(r);
    });
    const shape = [N, L];
    return {
      fields: { x: { data: x, shape }, attentionMask: { data: mask, shape }, y: { data: y, shape } },
      indices,
      bad: [],
      items,
    };
  }
}

export interface CausalLMDataOptions extends ReadLMOptions, TokenizeLMOptions {
  /** pack documents into blocks of this many tokens (default when packing: 512 or the tokenizer's limit) */
  blockSize?: number;
  /** true (default for plain text): packed blocks; false (default for chats): one truncated example per row */
  packing?: boolean;
  /** without packing: the longest example kept (default: the tokenizer's limit) */
  maxLength?: number;
  warn?: WarnFn;
}

/** Reads, renders and tokenises causal-LM files into a dataset (packed or truncated). */
export function causalLMDataset(
  inputs: string | readonly string[],
  tok: TextTokenizer,
  o: CausalLMDataOptions = {},
): CausalLMDataset {
  const { records, bad } = readLMRecords(inputs, o);
  for (const b of bad) (o.warn ?? defaultWarn)(`skipped ${b.file}: ${b.reason}`);
  return causalLMFromRecords(records, tok, { ...o, bad });
}

/** Records already read (or built in code) into a dataset. */
export function causalLMFromRecords(
  records: readonly LMRecord[],
  tok: TextTokenizer,
  o: CausalLMDataOptions & { bad?: BadSample[] } = {},
): CausalLMDataset {
  const examples = records.map((r) => tokenizeRecord(r, tok, o));
  const packing = o.packing ?? records.every((r) => 'text' in r);
  const limit = Math.min(tok.maxLength, 512);
  const shaped = packing
    ? packExamples(examples, o.blockSize ?? limit)
    : truncateExamples(examples, o.maxLength ?? limit);
  return new CausalLMDataset(shaped, { padId: tok.padId, bad: o.bad });
}
