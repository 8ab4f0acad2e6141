// generate(): tokens equal transformers' generate() (plain-PyTorch reference in
// scripts/fixtures/llama_generate_fixtures.py), cached and uncached decoding agree (Llama and GPT-2).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GPT2LMHeadModel, generate, repetitionPenalty, topKFilter, topPFilter } from '../../src/models/index.ts';
import { LlamaForCausalLM } from '../../src/models/llama.ts';
import { liveTensors, manualSeed, randint, type Tensor, tensor } from '../../src/tensor/index.ts';
import { readJson, readTensors } from './_fixture.ts';

type Case = { options: Record<string, unknown>; sequences: number[][] };
const fx = readJson('llama_generate.json') as {
  input_ids: number[][];
  attention_mask: number[][];
  cases: Record<string, Case>;
  processors: Record<string, number[][]>;
};
const config = (readJson('llama.json') as Record<string, { config: Record<string, unknown> }>).gqa!.config;

const i64 = (rows: number[][]): Tensor =>
  tensor(
    BigInt64Array.from(rows.flat(), (v) => BigInt(v)),
    { shape: [rows.length, rows[0]!.length] },
  );
const rows = (t: Tensor): number[][] => {
  const [B, L] = t.shape as [number, number];
  const flat = t.toArray();
  return Array.from({ length: B }, (_, b) => flat.slice(b * L, (b + 1) * L));
};

function loaded(): LlamaForCausalLM {
  const m = LlamaForCausalLM.fromConfig(config);
  m.loadStateDict(readTensors('llama_gqa.safetensors'));
  return m.eval();
}

function opts(o: Record<string, unknown>) {
  return {
    maxNewTokens: o.max_new_tokens as number,
    doSample: o.do_sample as boolean | undefined,
    seed: o.seed as number | undefined,
    temperature: o.temperature as number | undefined,
    topK: o.top_k as number | undefined,
    topP: o.top_p as number | undefined,
    repetitionPenalty: o.repetition_penalty as number | undefined,
    eosTokenId: (o.eos_token_id as number[] | undefined) ?? [],
    padTokenId: o.pad_token_id as number | undefined,
  };
}

describe('logits processors equal transformers', () => {
  const p = fx.processors;
  const scores = tensor(p.scores!);
  const ids = i64(p.input_ids!);
  const near = (a: Tensor, b: number[][], what: string) => {
    const got = rows(a);
    for (let i = 0; i < b.length; i++)
      for (let j = 0; j < b[i]!.length; j++) {
        const want = b[i]![j]!;
        const x = got[i]![j]!;
        if (want === Number.NEGATIVE_INFINITY || x === Number.NEGATIVE_INFINITY)
          assert.equal(x, want, `${what} [${i},${j}]`);
        else assert.ok(Math.abs(x - want) <= 1e-6 * Math.abs(want) + 1e-7, `${what} [${i},${j}]: ${x} vs ${want}`);
      }
  };
  const inf = (v: number[][]) => v.map((r) => r.map((x) => (x === null ? Number.NEGATIVE_INFINITY : x)));
  test('repetition penalty, top-k, top-p (min tokens kept)', () => {
    near(repetitionPenalty(ids, scores, 1.7), p['repetition_penalty_1.7']!, 'repetition penalty');
    near(topKFilter(scores, 3), inf(p.top_k_3!), 'top-k');
    near(topPFilter(scores, 0.8), inf(p['top_p_0.8']!), 'top-p 0.8');
    near(topPFilter(scores, 0.01), inf(p['top_p_0.01']!), 'top-p 0.01');
    assert.throws(() => topKFilter(scores, 0), /topK/);
    assert.throws(() => topPFilter(scores, 1.5), /topP/);
  });
});

describe('Llama generation equals transformers generate()', () => {
  const m = loaded();
  const ids = i64(fx.input_ids);
  const attentionMask = i64(fx.attention_mask);
  for (const [name, c] of Object.entries(fx.cases))
    test(`${name}: cached and uncached tokens equal the reference`, () => {
      const cached = generate(m, ids, { ...opts(c.options), attentionMask });
      assert.deepEqual(rows(cached), c.sequences);
      const plain = generate(m, ids, { ...opts(c.options), attentionMask, useCache: false });
      assert.deepEqual(rows(plain), c.sequences);
    });

  test('no tensor outlives a call (the cache included)', () => {
    for (const useCache of [true, false]) {
      const before = liveTensors();
      generate(m, ids, { attentionMask, maxNewTokens: 5, useCache, repetitionPenalty: 1.3 }).dispose();
      assert.equal(liveTensors(), before, `useCache ${useCache}`);
    }
  });

  test('unseeded sampling differs between runs; the same seed repeats', () => {
    const o = { maxNewTokens: 12, doSample: true, temperature: 1.5 };
    const a = rows(generate(m, ids, { ...o, seed: 11 }));
    const b = rows(generate(m, ids, { ...o, seed: 11 }));
    assert.deepEqual(a, b);
    manualSeed(1);
    const c = rows(generate(m, ids, o));
    const d = rows(generate(m, ids, o));
    assert.notDeepEqual(c, d);
  });

  test('stop sequences finish a row (then padding); maxNewTokens 0 returns the prompt', () => {
    const greedy = fx.cases.greedy!.sequences;
    const stop = greedy[0]!.slice(6, 8); // the 2nd and 3rd generated tokens of row 0
    const out = rows(generate(m, ids, { maxNewTokens: 8, attentionMask, stopSequences: [stop], padTokenId: 0 }));
    assert.deepEqual(out[0], [...greedy[0]!.slice(0, 8), 0, 0, 0, 0, 0]);
    assert.deepEqual(out[1], greedy[1]);
    assert.deepEqual(rows(generate(m, ids, { maxNewTokens: 0 })), fx.input_ids);
    const steps: number[][] = [];
    generate(m, ids, { maxNewTokens: 3, attentionMask, onToken: (t) => steps.push(t) });
    assert.deepEqual(
      steps,
      [0, 1, 2].map((i) => greedy.map((r) => r[5 + i]!)),
    );
    assert.throws(() => generate(m, ids, { maxNewTokens: -1 }), /maxNewTokens/);
  });
});

describe('GPT-2 with a KV cache', () => {
  test('cached and uncached decoding give the same tokens, padded batch included', () => {
    manualSeed(0);
    const g = GPT2LMHeadModel.fromConfig({ vocab_size: 50, n_embd: 32, n_layer: 2, n_head: 4, n_positions: 32 }).eval();
    const ids = randint(0, 50, [2, 6], { dtype: 'int64' });
    const attentionMask = i64([
      [1, 1, 1, 1, 1, 1],
      [0, 0, 0, 1, 1, 1],
    ]);
    for (const o of [{ maxNewTokens: 10 }, { maxNewTokens: 10, doSample: true, seed: 4, topK: 20, topP: 0.95 }]) {
      const a = rows(generate(g, ids, { ...o, attentionMask }));
      const b = rows(generate(g, ids, { ...o, attentionMask, useCache: false }));
      assert.deepEqual(a, b);
      assert.equal(a[0]!.length, 16);
    }
    // the cache's logits equal a full forward at every new position
    const full = g.call(ids).logits;
    const first = g.call(ids.slice(1, 0, 4), { useCache: true });
    const rest = g.call(ids.slice(1, 4), { pastKeyValues: first.pastKeyValues });
    const diff = full.slice(1, 4).sub(rest.logits).abs().max().item();
    assert.ok(diff < 1e-5, `cached logits differ by ${diff}`);
    assert.throws(() => g.call(ids, { pastKeyValues: first.pastKeyValues!.slice(1) }), /pastKeyValues/);
  });
});
