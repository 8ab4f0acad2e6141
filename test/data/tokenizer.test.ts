// Tokenizers on hand-made fixtures (test/fixtures/data/wordpiece, bpe): the expected ids are worked
// out by hand from BERT's BasicTokenizer + WordPiece rules and from GPT-2's byte-level BPE merges.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DataError, DataLoader, TextTokenizer, textDataset } from '../../src/data/index.ts';
import { tempDir } from './_helpers.ts';

const fixtures = new URL('../fixtures/data/', import.meta.url).pathname;
const wp = TextTokenizer.load(join(fixtures, 'wordpiece'));
const bpe = TextTokenizer.load(join(fixtures, 'bpe', 'vocab.json'));
const tmp = tempDir();
after(() => tmp.cleanup());

// vocab.txt ids: [PAD]0 [UNK]1 [CLS]2 [SEP]3 [MASK]4 the5 quick6 brown7 fox8 jump9 ##s10 ##ed11 over12
// lazy13 dog14 .15 ,16 !17 hello18 world19 un20 ##aff21 ##able22 cafe23 a24 b25 ##c26 '27 s28 中29 文30
describe('WordPiece (BERT, uncased)', () => {
  const cases: [string, number[]][] = [
    ['Hello, World! The quick brown fox jumped.', [2, 18, 16, 19, 17, 5, 6, 7, 8, 9, 11, 15, 3]], // lower case, punctuation split
    ['Unaffable CAFÉ', [2, 20, 21, 22, 23, 3]], // sub-words, accents stripped
    ['foxes jumps', [2, 1, 9, 10, 3]], // a word that cannot be covered is one [UNK]
    ['ac abc', [2, 24, 26, 1, 3]],
    [`a${'c'.repeat(99)}`, [2, 24, ...new Array(99).fill(26), 3]], // 100 chars: still split
    [`a${'c'.repeat(100)}`, [2, 1, 3]], // 101 chars: [UNK]
    ["dog's", [2, 14, 27, 28, 3]],
    ['中文', [2, 29, 30, 3]], // CJK characters are words of their own
    ['the\tdog\u0000', [2, 5, 14, 3]], // whitespace normalised, control characters dropped
  ];
  for (const [text, ids] of cases)
    test(JSON.stringify(text.slice(0, 24)), () => {
      assert.deepEqual(wp.encode(text).ids, ids);
    });

  test('pairs: [CLS] A [SEP] B [SEP] with token type ids 0 then 1', () => {
    const e = wp.encode('the dog', 'a fox');
    assert.deepEqual(e.ids, [2, 5, 14, 3, 24, 8, 3]);
    assert.deepEqual(e.typeIds, [0, 0, 0, 0, 1, 1, 1]);
  });

  test('truncation keeps room for the special tokens; pairs lose tokens longest-first', () => {
    assert.deepEqual(wp.encode('the quick brown fox jumped', null, { maxLength: 6 }).ids, [2, 5, 6, 7, 8, 3]);
    assert.deepEqual(wp.encode('the quick brown fox', 'lazy dog', { maxLength: 7 }).ids, [2, 5, 6, 3, 13, 14, 3]);
    // both too long (4 + 4 > 5): HF gives floor(5 / 2) = 2 to the first and 3 to the second
    assert.deepEqual(
      wp.encode('the quick brown fox', 'lazy dog over the', { maxLength: 8 }).ids,
      [2, 5, 6, 3, 13, 14, 12, 3],
    );
  });

  test('batches pad to the longest (or max length) with [PAD] and mask it', () => {
    const b = wp.encodeBatch(['the dog', 'hello world !']);
    assert.deepEqual(b.shape, [2, 5]);
    assert.deepEqual(Array.from(b.inputIds, Number), [2, 5, 14, 3, 0, 2, 18, 19, 17, 3]);
    assert.deepEqual(Array.from(b.attentionMask, Number), [1, 1, 1, 1, 0, 1, 1, 1, 1, 1]);
    const m = wp.encodeBatch(['the dog'], null, { padding: 'max_length', maxLength: 6, paddingSide: 'left' });
    assert.deepEqual(Array.from(m.inputIds, Number), [0, 0, 2, 5, 14, 3]);
    assert.deepEqual(Array.from(m.attentionMask, Number), [0, 0, 1, 1, 1, 1]);
  });

  test('decode', () => {
    assert.equal(wp.decode([2, 18, 19, 17, 3], { skipSpecialTokens: true }), 'hello world!');
    assert.equal(wp.decode([20, 21, 22]), 'unaffable');
  });
});

// bpe/vocab.json: the 256 byte symbols (ids 0..255), then he256 ll257 hell258 hello259 Ġw260 or261
// Ġwor262 ld263 'm264 <|endoftext|>265
describe('byte-level BPE (GPT-2)', () => {
  test('merges apply by rank, a space is Ġ, unmerged bytes stay bytes', () => {
    assert.deepEqual(bpe.encode('hello world').tokens, ['hello', 'Ġwor', 'ld']);
    assert.deepEqual(bpe.encode('hello world').ids, [259, 262, 263]);
    // GPT-2's pre-tokenizer: "I", "'m", " hello", "!!"; 'Ġhello' has no Ġ+hello merge
    assert.deepEqual(bpe.encode("I'm hello!!").ids, [40, 264, 220, 259, 0, 0]);
    // é is bytes C3 A9 -> symbols Ã (id 127) and © (id 102)
    assert.deepEqual(bpe.encode('é').tokens, ['Ã', '©']);
    assert.deepEqual(bpe.encode('é').ids, [127, 102]);
    assert.deepEqual(bpe.encode('hello<|endoftext|>').ids, [259, 265]);
  });

  test('decode round-trips; padding uses <|endoftext|> when there is no pad token', () => {
    assert.equal(bpe.decode([259, 262, 263]), 'hello world');
    assert.equal(bpe.decode(bpe.encode('héllo, wörld 42').ids), 'héllo, wörld 42');
    assert.equal(bpe.padId, 265);
    const b = bpe.encodeBatch(['hello', 'hello world']);
    assert.deepEqual(Array.from(b.inputIds, Number), [259, 265, 265, 259, 262, 263]);
    assert.deepEqual(Array.from(b.attentionMask, Number), [1, 0, 0, 1, 1, 1]);
  });
});

describe('text datasets', () => {
  test('CSV with quotes and label names -> int64 batches of ids, mask, types, labels', async () => {
    const f = join(tmp.dir, 'reviews.csv');
    writeFileSync(f, 'text,label\n"the dog, the fox",pos\n"hello ""world""",neg\nthe lazy dog,pos\n');
    const ds = textDataset(f, wp, { maxLength: 16 });
    assert.deepEqual(ds.classes, ['neg', 'pos']);
    assert.deepEqual(ds.targets, [1, 0, 1]);
    const loader = new DataLoader(ds, { batchSize: 3 });
    for await (const b of loader) {
      assert.deepEqual(b.x.shape, [3, 7]);
      assert.equal(b.x.dtype, 'int64');
      assert.deepEqual(b.x.toArray().slice(0, 7), [2, 5, 14, 16, 5, 8, 3]);
      assert.deepEqual(b.attentionMask!.toArray().slice(14), [1, 1, 1, 1, 1, 0, 0]);
      assert.deepEqual(b.tokenTypeIds!.shape, [3, 7]);
      assert.deepEqual(b.y!.toArray(), [1, 0, 1]);
      b.dispose();
    }
  });

  test('JSONL pairs; a bad row names its line, or is skipped and counted', () => {
    const f = join(tmp.dir, 'nli.jsonl');
    writeFileSync(f, '{"premise":"the dog","hypothesis":"a fox","label":1}\n{"premise":"the fox","label":0}\n');
    assert.throws(
      () => textDataset(f, wp, { textColumn: 'premise', pairColumn: 'hypothesis' }),
      (e: DataError) => e instanceof DataError && /nli\.jsonl: line 2: 'hypothesis' is missing/.test(e.message),
    );
    const ds = textDataset(f, wp, { textColumn: 'premise', pairColumn: 'hypothesis', onBadSample: 'skip' });
    assert.equal(ds.length, 1);
    assert.equal(ds.bad.length, 1);
    const b = ds.loadBatch([0], { seed: 0, epoch: 0, positions: [0], onBadSample: 'error' });
    assert.deepEqual(
      Array.from((b.fields.tokenTypeIds as { data: BigInt64Array }).data, Number),
      [0, 0, 0, 0, 1, 1, 1],
    );
    assert.equal(new DataLoader(ds).badSamples.size, 1);
  });
});
