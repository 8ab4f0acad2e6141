// Masked-LM data (DataCollatorForLanguageModeling's rules) and WordPiece vocabulary training.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MaskedLMDataset, maskedLMDataset, maskTokens } from '../../src/data/masked_lm.ts';
import { TextTokenizer, wordPieceJson } from '../../src/data/tokenizer.ts';
import { trainWordPiece, vocabTxt } from '../../src/data/wordpiece_train.ts';
import { Rng } from '../../src/util/rng.ts';

const tmp = mkdtempSync(join(tmpdir(), 'graft-bert-mlm-data-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const V = 1000;
const SPECIAL = new Set([0, 1, 2, 3, 4]);
const spec = { maskId: 4, vocabSize: V, specialIds: SPECIAL };

describe('maskTokens: 15 % picked; of those 80 % [MASK], 10 % random, 10 % kept', () => {
  const n = 40_000;
  // every 10th token is special ([CLS] / [SEP]): never picked
  const ids = Int32Array.from({ length: n }, (_, i) => (i % 10 === 0 ? 2 + (i % 20 === 0 ? 0 : 1) : 5 + (i % 900)));
  const { inputs, labels } = maskTokens(ids, spec, new Rng(7));

  test('rates', () => {
    let picked = 0;
    let masked = 0;
    let kept = 0;
    let other = 0;
    let eligible = 0;
    for (let i = 0; i < n; i++) {
      if (!SPECIAL.has(ids[i]!)) eligible++;
      if (labels[i] === -100) continue;
      picked++;
      if (inputs[i] === 4) masked++;
      else if (inputs[i] === ids[i]) kept++;
      else other++;
    }
    const near = (x: number, want: number, tol: number, what: string) =>
      assert.ok(Math.abs(x - want) < tol, `${what}: ${x.toFixed(4)}, want ${want} +- ${tol}`);
    near(picked / eligible, 0.15, 0.01, 'picked');
    near(masked / picked, 0.8, 0.02, '[MASK]');
    near(other / picked, 0.1, 0.015, 'random');
    near(kept / picked, 0.1, 0.015, 'kept');
  });

  test('labels: the original id where picked, -100 elsewhere; unpicked and special tokens unchanged', () => {
    for (let i = 0; i < n; i++) {
      if (SPECIAL.has(ids[i]!)) assert.equal(labels[i], -100, `special token at ${i} picked`);
      if (labels[i] === -100) assert.equal(inputs[i], ids[i], `unpicked token at ${i} changed`);
      else assert.equal(labels[i], ids[i]);
      assert.ok(inputs[i]! >= 0 && inputs[i]! < V);
    }
  });

  test('the same generator state gives the same masks; options are checked', () => {
    const again = maskTokens(ids, spec, new Rng(7));
    assert.deepEqual(again.inputs, inputs);
    assert.deepEqual(again.labels, labels);
    assert.notDeepEqual(maskTokens(ids, spec, new Rng(8)).labels, labels);
    const all = maskTokens(
      ids.subarray(0, 100),
      { ...spec, mlmProbability: 1, maskReplaceProb: 1, randomReplaceProb: 0 },
      new Rng(0),
    );
    for (let i = 0; i < 100; i++) assert.equal(all.inputs[i], SPECIAL.has(ids[i]!) ? ids[i] : 4);
    assert.throws(() => maskTokens(ids, { ...spec, mlmProbability: 1.5 }, new Rng(0)), /mlmProbability/);
    assert.throws(() => maskTokens(ids, { ...spec, maskReplaceProb: 0.9, randomReplaceProb: 0.2 }, new Rng(0)), /<= 1/);
  });
});

describe('MaskedLMDataset', () => {
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'cat', 'sat', 'on', 'mat', 'a', 'dog', '.'];
  const tok = new TextTokenizer(wordPieceJson(`${vocab.join('\n')}\n`));
  const texts = ['The cat sat on the mat.', 'A dog sat.', 'The dog sat on a cat.'];

  test("packed as run_mlm's group_texts: [CLS] text [SEP] per text, blocks of blockSize, the rest dropped", () => {
    const ds = maskedLMDataset(texts, tok, { blockSize: 4 });
    // 9 + 6 + 9 = 24 tokens -> 6 blocks of 4
    assert.equal(ds.length, 6);
    assert.deepEqual([...ds.rows[0]!], [2, 5, 6, 7]);
    assert.deepEqual([...ds.rows[2]!], [3, 2, 10, 11]);
    const lines = maskedLMDataset(texts, tok, { blockSize: 7, lineByLine: true });
    assert.deepEqual(
      lines.rows.map((r) => r.length),
      [7, 6, 7],
    );
    assert.equal(lines.rows[0]![6], 3, 'truncated rows end with [SEP]');
  });

  test('batches: padding never picked, labels -100 there, items = picked tokens, masks keyed by epoch and position', () => {
    const ds = maskedLMDataset(texts, tok, { lineByLine: true, mlmProbability: 0.5 });
    const ctx = (epoch: number) => ({ seed: 3, epoch, positions: [0, 1, 2], onBadSample: 'error' as const });
    const b = ds.loadBatch([0, 1, 2], ctx(0));
    const x = b.fields.x as { data: BigInt64Array; shape: number[] };
    const y = (b.fields.y as { data: BigInt64Array }).data;
    const m = (b.fields.attentionMask as { data: BigInt64Array }).data;
    assert.deepEqual(x.shape, [3, 9]);
    let picked = 0;
    for (let i = 0; i < y.length; i++) {
      if (m[i] === 0n) {
        assert.equal(x.data[i], 0n);
        assert.equal(y[i], -100n);
      }
      if (y[i] !== -100n) picked++;
    }
    assert.ok(picked > 0);
    assert.equal(b.items, picked);
    const same = ds.loadBatch([0, 1, 2], ctx(0));
    assert.deepEqual((same.fields.y as { data: BigInt64Array }).data, y);
    const next = ds.loadBatch([0, 1, 2], ctx(1));
    assert.notDeepEqual((next.fields.y as { data: BigInt64Array }).data, y, 'another epoch masks differently');
    assert.equal(ds.subset([2, 0]).length, 2);
  });

  test('a tokenizer without [MASK] is refused; blockSize is checked', () => {
    const noMask = new TextTokenizer(wordPieceJson('[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n'));
    assert.throws(() => maskedLMDataset(texts, noMask), /no \[MASK\]/);
    assert.throws(() => maskedLMDataset(texts, tok, { blockSize: 2 }), /blockSize/);
    assert.throws(
      () => new MaskedLMDataset([], { maskId: 4, vocabSize: 5, specialIds: new Set(), padId: 0, mlmProbability: -1 }),
      /mlmProbability/,
    );
  });
});

describe('trainWordPiece', () => {
  const texts = [
    'The quick brown fox jumps over the lazy dog.',
    'The lazy dog sleeps; the quick fox runs.',
    'Quick, quicker, quickest: the foxes jumped over the dogs!',
    'Über café naïve — résumé.',
  ];

  test('special tokens first, then characters (## for inner ones), then merged pieces; frequent words whole', () => {
    const tok = trainWordPiece(texts, { vocabSize: 120 });
    const lines = vocabTxt(tok).trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, 5), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
    assert.ok(lines.length <= 120 && lines.length > 60, `vocabulary of ${lines.length}`);
    assert.ok(lines.includes('##k') && lines.includes('q'));
    assert.equal(new Set(lines).size, lines.length, 'no token twice');
    assert.deepEqual(tok.tokenize('the quick fox'), ['the', 'quick', 'fox']);
    const uber = tok.tokenize('Über').map((t) => t.replace(/^##/, ''));
    assert.equal(uber.join(''), 'uber', 'lowercased, accents stripped (BertNormalizer)');
    assert.deepEqual(tok.encode('dog.').tokens, ['[CLS]', 'dog', '.', '[SEP]']);
    assert.ok(tok.tokenize('quickest').length >= 2 && tok.tokenize('quickest')[1]!.startsWith('##'));
  });

  test('deterministic, whatever the order of the texts; vocab.txt loads back as the same tokenizer', () => {
    const a = vocabTxt(trainWordPiece(texts, { vocabSize: 100 }));
    const b = vocabTxt(trainWordPiece([...texts].reverse(), { vocabSize: 100 }));
    assert.equal(a, b);
    const file = join(tmp, 'vocab.txt');
    writeFileSync(file, a);
    const back = TextTokenizer.fromVocabTxt(file);
    const trained = trainWordPiece(texts, { vocabSize: 100 });
    for (const t of texts) assert.deepEqual(back.encode(t).ids, trained.encode(t).ids);
    assert.deepEqual([...trained.specialIds].sort(), [0, 1, 2, 3, 4]);
  });

  test('minFrequency stops merging; a vocabulary smaller than the alphabet is refused', () => {
    const few = vocabTxt(trainWordPiece(texts, { vocabSize: 10_000, minFrequency: 1000 }));
    const all = vocabTxt(trainWordPiece(texts, { vocabSize: 10_000 }));
    assert.ok(few.split('\n').length < all.split('\n').length);
    assert.throws(() => trainWordPiece(texts, { vocabSize: 20 }), /vocabSize must be/);
  });
});
