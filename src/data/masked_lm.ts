// Masked-LM data for BERT pretraining, with transformers' DataCollatorForLanguageModeling semantics:
// each token that is not special ([CLS], [SEP], [PAD], [UNK], [MASK]) is picked with probability
// 0.15; a picked token becomes [MASK] 80 % of the time, a random token of the vocabulary 10 %, and
// stays as it is 10 %; labels are the original ids at picked positions and -100 elsewhere.
// Masks are drawn per batch ("dynamic masking", as the collator), from a generator keyed by the
// loader's seed, the epoch and the sample's position, so a run is reproducible and each epoch
// masks differently. The draws are graft's own generator, not torch's: the same rates, other masks.
// Texts are tokenised as run_mlm.py does: [CLS] text [SEP] per text, then either concatenated and
// cut into blocks of blockSize tokens (the last partial block dropped, as group_texts), or one
// truncated text per row (lineByLine).
import { ArgumentError } from '../errors.ts';
import { Rng } from '../util/rng.ts';
import type { BatchContext, Dataset, LoadedBatch } from './dataset.ts';
import type { TextTokenizer } from './tokenizer.ts';

/** The label of tokens that are not predicted (PyTorch's cross-entropy ignore_index). */
export const MLM_IGNORE_INDEX = -100;

/** The collator's rates (transformers' mlm_probability, mask_replace_prob, random_replace_prob). */
export interface MaskingOptions {
  /** share of the (non-special) tokens picked for prediction (default 0.15) */
  mlmProbability?: number;
  /** share of the picked tokens replaced by [MASK] (default 0.8) */
  maskReplaceProb?: number;
  /** share of the picked tokens replaced by a random token (default 0.1); the rest stay as they are */
  randomReplaceProb?: number;
}

/** The rates plus what masking needs to know of the tokenizer. */
export interface MaskingSpec extends MaskingOptions {
  maskId: number;
  /** random replacements are drawn from 0..vocabSize-1 (transformers: len(tokenizer)) */
  vocabSize: number;
  /** ids never picked (special tokens and padding) */
  specialIds: ReadonlySet<number>;
}

function checkMasking(o: MaskingOptions): Required<MaskingOptions> {
  const p = o.mlmProbability ?? 0.15;
  const m = o.maskReplaceProb ?? 0.8;
  const r = o.randomReplaceProb ?? 0.1;
  const prob = (name: string, v: number) => {
    if (!(v >= 0 && v <= 1)) throw new ArgumentError(`${name} must be in [0, 1], got ${v}`);
  };
  prob('mlmProbability', p);
  prob('maskReplaceProb', m);
  prob('randomReplaceProb', r);
  if (m + r > 1 + 1e-12) throw new ArgumentError(`maskReplaceProb + randomReplaceProb must be <= 1, got ${m} + ${r}`);
  return { mlmProbability: p, maskReplaceProb: m, randomReplaceProb: r };
}

/**
 * One sequence masked: inputs (with [MASK] / random tokens) and labels (original id or -100).
 * The collator's three Bernoulli draws per token: picked (p), [MASK] (maskReplaceProb), random
 * (randomReplaceProb / (1 - maskReplaceProb) of the rest), then a uniform random id.
 */
export function maskTokens(
  ids: ArrayLike<number>,
  spec: MaskingSpec,
  rng: Rng,
): { inputs: Int32Array; labels: Int32Array } {
  const o = checkMasking(spec);
  const randomShare = o.maskReplaceProb >= 1 ? 0 : o.randomReplaceProb / (1 - o.maskReplaceProb);
  const inputs = Int32Array.from(ids);
  const labels = new Int32Array(ids.length).fill(MLM_IGNORE_INDEX);
  for (let i = 0; i < inputs.length; i++) {
    const id = inputs[i]!;
    if (spec.specialIds.has(id) || !(rng.random() < o.mlmProbability)) continue;
    labels[i] = id;
    if (rng.random() < o.maskReplaceProb) inputs[i] = spec.maskId;
    else if (rng.random() < randomShare) inputs[i] = rng.int(spec.vocabSize);
  }
  return { inputs, labels };
}

/** How texts become masked-LM rows, and the masking rates. */
export interface MaskedLMDataOptions extends MaskingOptions {
  /** tokens per row (default 128); special tokens included */
  blockSize?: number;
  /** one text per row, truncated to blockSize (default false: texts concatenated and cut into blocks) */
  lineByLine?: boolean;
}

/** Token rows for masked-LM training; every batch is masked afresh (see maskTokens). */
export class MaskedLMDataset implements Dataset {
  readonly rows: readonly Int32Array[];
  readonly spec: MaskingSpec;
  readonly padId: number;

  constructor(rows: readonly Int32Array[], spec: MaskingSpec & { padId: number }) {
    const { padId, ...rest } = spec;
    checkMasking(rest);
    this.rows = rows;
    this.padId = padId;
    this.spec = { ...rest, specialIds: new Set([...rest.specialIds, padId]) };
  }

  get length(): number {
    return this.rows.length;
  }

  /** tokens in all rows */
  get tokenCount(): number {
    return this.rows.reduce((n, r) => n + r.length, 0);
  }

  subset(indices: readonly number[]): MaskedLMDataset {
    const rows = indices.map((i) => {
      const r = this.rows[i];
      if (!r) throw new ArgumentError(`subset: index ${i} out of range for ${this.length} rows`);
      return r;
    });
    return new MaskedLMDataset(rows, { ...this.spec, padId: this.padId });
  }

  /** x: masked ids, attentionMask, y: labels (-100 where not picked, and on padding); items: picked tokens. */
  loadBatch(indices: number[], ctx?: BatchContext): LoadedBatch {
    const rows = indices.map((i) => this.rows[i]!);
    const N = rows.length;
    const L = Math.max(1, ...rows.map((r) => r.length));
    const x = new BigInt64Array(N * L).fill(BigInt(this.padId));
    const mask = new BigInt64Array(N * L);
    const y = new BigInt64Array(N * L).fill(BigInt(MLM_IGNORE_INDEX));
    let items = 0;
    rows.forEach((r, n) => {
      const rng = Rng.derive(ctx?.seed ?? 0, 'mlm', ctx?.epoch ?? 0, ctx?.positions[n] ?? indices[n]!);
      const { inputs, labels } = maskTokens(r, this.spec, rng);
      for (let j = 0; j < r.length; j++) {
        x[n * L + j] = BigInt(inputs[j]!);
        mask[n * L + j] = 1n;
        y[n * L + j] = BigInt(labels[j]!);
        if (labels[j] !== MLM_IGNORE_INDEX) items++;
      }
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

/** Texts tokenised into masked-LM rows (run_mlm.py's grouping, or one text per row). */
export function maskedLMDataset(
  texts: Iterable<string>,
  tok: TextTokenizer,
  o: MaskedLMDataOptions = {},
): MaskedLMDataset {
  const blockSize = o.blockSize ?? 128;
  if (!Number.isInteger(blockSize) || blockSize < 3)
    throw new ArgumentError(`blockSize must be an integer >= 3, got ${blockSize}`);
  const maskId = tok.tokenToId('[MASK]') ?? tok.tokenToId('<mask>');
  if (maskId === undefined)
    throw new ArgumentError('the tokenizer has no [MASK] token', 'masked-LM training needs a BERT-style vocabulary');
  const { mlmProbability, maskReplaceProb, randomReplaceProb } = o;
  const spec = {
    maskId,
    vocabSize: tok.vocabSize,
    specialIds: tok.specialIds,
    padId: tok.padId,
    mlmProbability,
    maskReplaceProb,
    randomReplaceProb,
  };
  const rows: Int32Array[] = [];
  if (o.lineByLine) {
    for (const t of texts) if (t.trim()) rows.push(Int32Array.from(tok.encode(t, null, { maxLength: blockSize }).ids));
    return new MaskedLMDataset(rows, spec);
  }
  const all: number[] = [];
  for (const t of texts) if (t.trim()) for (const id of tok.encode(t, null, { truncation: false }).ids) all.push(id);
  for (let s = 0; s + blockSize <= all.length; s += blockSize) rows.push(Int32Array.from(all.slice(s, s + blockSize)));
  return new MaskedLMDataset(rows, spec);
}
