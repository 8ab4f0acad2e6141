// Causal-LM data: files and rows read into documents, chats rendered with a built-in template and
// masked so only replies are trained, packing and truncation, batches padded with -100 labels
// that count their predicted tokens, and the small byte-level BPE trainer.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  byteLevelBpeJson,
  CausalLMDataset,
  causalLMDataset,
  causalLMFromRecords,
  DataError,
  IGNORE_INDEX,
  packExamples,
  predictedTokens,
  readLMRecords,
  TextTokenizer,
  tokenizeRecord,
  trainByteLevelBpe,
  truncateExamples,
} from '../../src/data/index.ts';
import { tempDir } from './_helpers.ts';

const tmp = tempDir('graft-lm-');
after(() => tmp.cleanup());
const file = (name: string, text: string) => {
  const p = join(tmp.dir, name);
  writeFileSync(p, text);
  return p;
};

// a word-level tokenizer.json with ChatML's special tokens: ids are easy to read
const WORDS = [
  '<|endoftext|>',
  '<|im_start|>',
  '<|im_end|>',
  'user',
  'assistant',
  'hi',
  'there',
  'the',
  'cat',
  'sat',
  '\n',
  ':',
  ' ',
];
function wordTokenizer(config: Record<string, unknown> = {}): TextTokenizer {
  const vocab = Object.fromEntries(WORDS.map((w, i) => [w, i]));
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: WORDS.slice(0, 3).map((w, i) => ({
      id: i,
      content: w,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'Split', pattern: { Regex: '\\n| ' }, behavior: 'Isolated', invert: false },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '<|endoftext|>' },
  };
  return new TextTokenizer(json, { eos_token: '<|endoftext|>', ...config });
}

test('plain text files: one document per file, paragraph or line; JSONL rows by their keys', () => {
  const txt = file('a.txt', 'first para\nstill first\n\n  second para \n\n\nthird\n');
  assert.equal(readLMRecords(txt).records.length, 1);
  assert.deepEqual(
    readLMRecords(txt, { split: 'paragraph' }).records.map((r) => ('text' in r ? r.text : '')),
    ['first para\nstill first', 'second para', 'third'],
  );
  assert.equal(readLMRecords(txt, { split: 'line' }).records.length, 4);
  const jl = file(
    'b.jsonl',
    [
      JSON.stringify({ text: 'the cat' }),
      JSON.stringify({ instruction: 'say hi', input: 'now', output: 'hi' }),
      JSON.stringify({
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'there' },
        ],
      }),
      '',
    ].join('\n'),
  );
  const { records } = readLMRecords(jl);
  assert.deepEqual(records[0], { text: 'the cat', where: `${jl}:1` });
  assert.deepEqual((records[1] as { messages: unknown }).messages, [
    { role: 'user', content: 'say hi\n\nnow' },
    { role: 'assistant', content: 'hi' },
  ]);
  assert.equal((records[2] as { messages: unknown[] }).messages.length, 2);
});

test('a row that fits no form names its file and line; skip drops and counts it', () => {
  const jl = file('bad.jsonl', `${JSON.stringify({ text: 'ok' })}\n{"instruction": "x"}\nnot json\n`);
  assert.throws(
    () => readLMRecords(jl),
    (e: unknown) => e instanceof DataError && /bad\.jsonl: line 2: 'output' is missing/.test(e.message),
  );
  const got = readLMRecords(jl, { onBadSample: 'skip' });
  assert.equal(got.records.length, 1);
  assert.deepEqual(
    got.bad.map((b) => b.file),
    [`${jl}:2`, `${jl}:3`],
  );
  const noReply = file('noreply.jsonl', `${JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] })}\n`);
  assert.throws(() => readLMRecords(noReply), /no assistant message/);
  assert.throws(() => readLMRecords(file('c.txt', 'x'), { format: 'chat' }), /plain text file cannot hold chat/);
  assert.throws(() => readLMRecords(join(tmp.dir, 'nope-*.txt')), /no such file/);
});

test('chats: ChatML rendering, loss only on the replies and the token that ends them', () => {
  const tok = wordTokenizer();
  const rec = {
    messages: [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'the cat sat' },
    ],
    where: 'x',
  };
  const e = tokenizeRecord(rec, tok, { chatTemplate: 'chatml' });
  // <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nthe cat sat<|im_end|>\n (12 is ' ')
  assert.deepEqual([...e.ids], [1, 3, 10, 5, 2, 10, 1, 4, 10, 7, 12, 8, 12, 9, 2, 10]);
  const X = IGNORE_INDEX;
  assert.deepEqual([...e.labels], [X, X, X, X, X, X, X, X, X, 7, 12, 8, 12, 9, 2, X]);
  assert.equal(predictedTokens(e), 6);
  // plain text: every token, EOS appended once
  const t = tokenizeRecord({ text: 'the cat', where: 'y' }, tok);
  assert.deepEqual([...t.ids], [7, 12, 8, 0]);
  assert.deepEqual([...t.labels], [7, 12, 8, 0]);
});

test("a tokenizer's Jinja chat_template is evaluated: ChatML in Jinja gives the built-in chatml's ids and labels", () => {
  const qwenLike =
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  const jinja = wordTokenizer({ chat_template: qwenLike });
  const rec = {
    messages: [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'the cat sat' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'the cat' },
    ],
    where: 'x',
  };
  const own = tokenizeRecord(rec, jinja);
  const builtIn = tokenizeRecord(rec, jinja, { chatTemplate: 'chatml' });
  assert.deepEqual([...own.ids], [...builtIn.ids]);
  assert.deepEqual([...own.labels], [...builtIn.labels]);
  assert.equal(predictedTokens(own), 6 + 4, 'both replies and their <|im_end|>, nothing else');
  // a list of templates: the 'default' one; a template that cannot tell replies apart is refused
  const listed = wordTokenizer({ chat_template: [{ name: 'default', template: qwenLike }] });
  assert.deepEqual([...tokenizeRecord(rec, listed).labels], [...builtIn.labels]);
  const reversed = wordTokenizer({ chat_template: '{% for m in messages | reverse %}{{ m.content }}{% endfor %}' });
  assert.throws(() => tokenizeRecord(rec, reversed), /cannot be told apart.*hint: name a built-in template/s);
  assert.throws(() => tokenizeRecord(rec, wordTokenizer({ chat_template: '{% for %}' })), /does not parse/);
  assert.throws(() => tokenizeRecord(rec, jinja, { chatTemplate: 'nope' }), /unknown chat template 'nope'/);
});

test("a tokenizer without a chat_template uses 'simple'", () => {
  const rec = {
    messages: [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'there' },
    ],
    where: 'x',
  };
  const bpe = trainByteLevelBpe(['User: hi\nAssistant: there'], { vocabSize: 270 });
  const e = tokenizeRecord(rec, bpe);
  assert.equal(bpe.decode([...e.ids]), 'User: hi\nAssistant: there<|endoftext|>\n');
  assert.equal(bpe.decode([...e.labels].filter((l) => l !== IGNORE_INDEX)), ' there<|endoftext|>');
});

test('packing cuts the concatenation into blocks and keeps the last partial one; truncation cuts rows', () => {
  const ex = [3, 5, 4].map((n, k) => ({
    ids: Int32Array.from({ length: n }, (_, i) => k * 10 + i),
    labels: Int32Array.from({ length: n }, (_, i) => (i === 0 ? IGNORE_INDEX : k * 10 + i)),
  }));
  const blocks = packExamples(ex, 5);
  assert.deepEqual(
    blocks.map((b) => [...b.ids]),
    [
      [0, 1, 2, 10, 11],
      [12, 13, 14, 20, 21],
      [22, 23],
    ],
  );
  assert.deepEqual([...blocks[0]!.labels], [IGNORE_INDEX, 1, 2, IGNORE_INDEX, 11]);
  assert.deepEqual(
    truncateExamples(ex, 4).map((e) => e.ids.length),
    [3, 4, 4],
  );
  assert.throws(() => packExamples(ex, 1), /blockSize must be an integer >= 2/);
});

test('batches: right-padded with the pad id, mask 0 and label -100; items = predicted tokens', () => {
  const ds = new CausalLMDataset(
    [
      { ids: Int32Array.from([5, 6, 7]), labels: Int32Array.from([5, 6, 7]) },
      { ids: Int32Array.from([8, 9]), labels: Int32Array.from([IGNORE_INDEX, 9]) },
    ],
    { padId: 0 },
  );
  const b = ds.loadBatch([0, 1]);
  const f = b.fields as Record<string, { data: BigInt64Array; shape: number[] }>;
  assert.deepEqual(f.x!.shape, [2, 3]);
  assert.deepEqual([...f.x!.data].map(Number), [5, 6, 7, 8, 9, 0]);
  assert.deepEqual([...f.attentionMask!.data].map(Number), [1, 1, 1, 1, 1, 0]);
  assert.deepEqual([...f.y!.data].map(Number), [5, 6, 7, -100, 9, -100]);
  // position 0 is never predicted (the shift): 2 + 1
  assert.equal(b.items, 3);
  assert.equal(ds.subset([1]).predictedTokenCount, 1);
});

test('a dataset from files: text packs by default, chats are truncated rows', () => {
  const tok = wordTokenizer();
  const txt = file('corpus.txt', 'the cat sat\n\nthe cat\n\nhi there');
  const packed = causalLMDataset(txt, tok, { split: 'paragraph', blockSize: 4 });
  // 'the cat sat' EOS, 'the cat' EOS, 'hi there' EOS: 6 + 4 + 4 tokens in blocks of 4
  assert.deepEqual(
    packed.examples.map((e) => e.ids.length),
    [4, 4, 4, 2],
  );
  const chat = causalLMFromRecords(
    [
      {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'the cat sat' },
        ],
        where: 'x',
      },
    ],
    tok,
    { chatTemplate: 'chatml', maxLength: 11 },
  );
  assert.equal(chat.length, 1);
  assert.equal(chat.examples[0]!.ids.length, 11);
  assert.equal(predictedTokens(chat.examples[0]!), 2, 'the cut reply keeps its first two tokens');
});

test('BPE trainer: deterministic merges, lossless round trip, EOS and pad from its special token', () => {
  const texts = ['the cat sat on the mat. ', 'the cat ate; the mat sat! ', 'Ünïcödé too: 3.14'];
  const a = trainByteLevelBpe(texts, { vocabSize: 300 });
  const b = trainByteLevelBpe(texts, { vocabSize: 300 });
  assert.deepEqual(a.json.model.merges, b.json.model.merges);
  assert.ok(a.json.model.merges.length > 5);
  assert.equal(a.json.model.merges[0], 'a t', 'the most frequent pair first (cat, sat, mat, ate: 7 times)');
  for (const t of [...texts, 'unseen words, 42 ☃'])
    assert.equal(a.decode(a.encode(t, null, { addSpecialTokens: false }).ids), t);
  assert.equal(a.eosToken, '<|endoftext|>');
  assert.equal(a.padId, a.eosId);
  // the same tokenizer.json loads back as an ordinary tokenizer
  const again = new TextTokenizer(byteLevelBpeJson(a.json.model.vocab, a.json.model.merges.join('\n')));
  assert.deepEqual(again.encode('the cat').ids, a.encode('the cat').ids);
  assert.throws(() => trainByteLevelBpe(texts, { vocabSize: 100 }), /vocabSize must be an integer >= 257/);
});
