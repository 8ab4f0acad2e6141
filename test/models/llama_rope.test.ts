// Rope scaling ('dynamic', 'yarn', 'longrope') and Qwen2's sliding window against the plain-PyTorch
// reference of transformers' maths (scripts/fixtures/llama_fixtures.py), the in-place KV cache, and
// generation's fast path (no padding: no mask, fused q/k/v, rotary tables).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generate } from '../../src/models/generate.ts';
import { LlamaForCausalLM } from '../../src/models/llama.ts';
import { LlamaKVCache } from '../../src/models/llama_cache.ts';
import { llamaConfigJson, parseLlamaConfig } from '../../src/models/llama_config.ts';
import { cat, liveTensors, noGrad, type Tensor, tensor } from '../../src/tensor/index.ts';
import { assertClose, readJson, readTensors } from './_fixture.ts';

const meta = readJson('llama.json') as Record<string, { config: Record<string, unknown> }>;
const genFx = readJson('llama_generate.json') as {
  input_ids: number[][];
  cases: Record<string, { sequences: number[][] }>;
};

function loaded(name: string): LlamaForCausalLM {
  const m = LlamaForCausalLM.fromConfig(meta[name]!.config);
  m.loadStateDict(readTensors(`llama_${name}.safetensors`));
  return m.eval();
}
const rows = (t: Tensor): number[][] => {
  const [B, L] = t.shape as [number, number];
  const flat = t.toArray();
  return Array.from({ length: B }, (_, b) => flat.slice(b * L, (b + 1) * L));
};
const i64 = (rows: number[][]): Tensor =>
  tensor(
    BigInt64Array.from(rows.flat(), (v) => BigInt(v)),
    { shape: [rows.length, rows[0]!.length] },
  );

describe('rope scaling as transformers computes it', () => {
  test('dynamic: frequencies grow past max_position_embeddings, reset for a short sequence', () => {
    const io = readTensors('llama_dynamic_io.safetensors');
    const m = loaded('dynamic');
    noGrad(() => {
      m.call(io.get('input_ids')!.narrow(0, 0, 1));
      assertClose(m.model.invFreq('cpu'), io.get('inv_freq_7')!, 'inv_freq after 7 tokens', 1e-6, 0);
      m.call(io.get('decode_prompt')!);
      assertClose(m.model.invFreq('cpu'), io.get('inv_freq')!, 'inv_freq reset', 1e-6, 0);
    });
    m.dispose();
  });

  test('dynamic: cached greedy decoding past the limit follows the growing frequencies', () => {
    const io = readTensors('llama_dynamic_io.safetensors');
    const m = loaded('dynamic');
    const out = generate(m, io.get('decode_prompt')!, { maxNewTokens: 7, eosTokenId: [] });
    assert.deepEqual(rows(out), rows(io.get('decode_tokens')!));
    m.dispose();
    // the last step's logits, token by token through an in-place cache (one-row projections)
    const d = loaded('dynamic');
    noGrad(() => {
      const tokens = io.get('decode_tokens')!;
      const cache = d.newCache(4, { fuseQkv: true });
      let logits = d.call(tokens.narrow(1, 0, 3), { cache, logitsToKeep: 1 }).logits;
      for (let i = 3; i < 9; i++) logits = d.call(tokens.narrow(1, i, 1), { cache, logitsToKeep: 1 }).logits;
      assertClose(logits, io.get('decode_logits')!, 'last decode logits', 1e-5, 1);
      cache.dispose();
    });
    d.dispose();
  });

  test('yarn: the attention factor (default and mscale / mscale_all_dim) scales cos and sin', () => {
    for (const name of ['yarn', 'yarn_mscale']) {
      const io = readTensors(`llama_${name}_io.safetensors`);
      const m = loaded(name);
      const want = io.get('attention_scaling')!.item();
      assert.ok(Math.abs(m.model.rotary.attentionScaling() - want) < 1e-6, `${name}: ${want}`);
      assert.notEqual(want, 1);
      m.dispose();
    }
  });

  test('longrope: long factors past original_max_position_embeddings', () => {
    const io = readTensors('llama_longrope_io.safetensors');
    const m = loaded('longrope');
    noGrad(() => {
      const logits = m.call(io.get('long_input_ids')!).logits;
      assertClose(logits, io.get('long_logits')!, 'long logits', 1e-5, 1);
      assertClose(m.model.invFreq('cpu'), io.get('inv_freq_long')!, 'long inv_freq', 1e-6, 0);
    });
    m.dispose();
  });

  test('config: defaults, errors and config.json round trip', () => {
    const y = parseLlamaConfig({ model_type: 'qwen2', rope_scaling: { type: 'yarn', factor: 4 } });
    assert.deepEqual(y.ropeScaling, {
      ropeType: 'yarn',
      factor: 4,
      attentionFactor: undefined,
      betaFast: 32,
      betaSlow: 1,
      mscale: undefined,
      mscaleAllDim: undefined,
      originalMaxPositionEmbeddings: 32768,
      truncate: true,
    });
    for (const name of ['dynamic', 'yarn_mscale', 'longrope']) {
      const c = parseLlamaConfig(meta[name]!.config);
      assert.deepEqual(parseLlamaConfig(llamaConfigJson(c)).ropeScaling, c.ropeScaling, name);
    }
    const bad = {
      ...meta.longrope!.config,
      rope_scaling: { rope_type: 'longrope', short_factor: [1], long_factor: [1] },
    };
    assert.throws(() => parseLlamaConfig(bad), /short_factor.*head_dim \/ 2/);
    assert.throws(() => parseLlamaConfig({ rope_scaling: { rope_type: 'dynamic' } }), /factor is required/);
  });
});

describe('Qwen2 sliding window', () => {
  test('use_sliding_window: layers from max_window_layers on (or layer_types); off without the flag', () => {
    const c = parseLlamaConfig(meta.qwen2_sw!.config);
    assert.deepEqual([c.slidingWindow, c.slidingLayers], [3, [false, true]]);
    const off = parseLlamaConfig({ ...meta.qwen2_sw!.config, use_sliding_window: false });
    assert.deepEqual([off.slidingWindow, off.slidingLayers], [undefined, [false, false]]);
    const typed = parseLlamaConfig({ ...meta.qwen2_sw!.config, layer_types: ['sliding_attention', 'full_attention'] });
    assert.deepEqual(typed.slidingLayers, [true, false]);
    assert.throws(() => parseLlamaConfig({ ...meta.qwen2_sw!.config, layer_types: ['sliding'] }), /layer_types/);
    assert.deepEqual(parseLlamaConfig(meta.mistral!.config).slidingLayers, [true, true]);
  });

  test('cached and uncached generation agree for sliding windows shorter than the sequence', () => {
    for (const name of ['qwen2_sw', 'mistral']) {
      const m = loaded(name);
      const ids = i64([[5, 9, 17, 4, 30]]);
      const a = rows(generate(m, ids, { maxNewTokens: 8, eosTokenId: [] }));
      const b = rows(generate(m, ids, { maxNewTokens: 8, eosTokenId: [], useCache: false }));
      assert.deepEqual(a, b, name);
      m.dispose();
    }
  });
});

describe('in-place KV cache', () => {
  test('equals the legacy cache, growing past its first capacity', () => {
    const io = readTensors('llama_gqa_io.safetensors');
    const m = loaded('gqa');
    const ids = io.get('input_ids')!;
    noGrad(() => {
      const cache = new LlamaKVCache(2, 2);
      const a = m.call(ids.slice(1, 0, 3), { cache });
      const b = m.call(ids.slice(1, 3, 4), { cache });
      const c = m.call(ids.slice(1, 4), { cache });
      assert.equal(cache.length, 7);
      const full = m.call(ids).logits;
      assertClose(cat([a.logits, b.logits, c.logits], 1), full, 'cached logits', 1e-4, 1);
      const legacy = m.call(ids, { useCache: true }).pastKeyValues!;
      assertClose(cache.toLegacy()[1]![0], legacy[1]![0], 'keys', 1e-5, 1);
      assertClose(cache.toLegacy()[1]![1], legacy[1]![1], 'values', 1e-5, 1);
      cache.dispose();
      assert.throws(() => m.call(ids, { cache: new LlamaKVCache(3) }), /3 layers/);
    });
    m.dispose();
  });

  test('an unpadded prompt (no mask, fused q/k/v, rotary tables) gives the reference tokens; nothing leaks', () => {
    const m = loaded('gqa');
    const prompt = i64([genFx.input_ids[0]!]);
    generate(m, prompt, { maxNewTokens: 1 }).dispose(); // the model's rotary tables are made once, and kept
    const before = liveTensors();
    const out = generate(m, prompt, { maxNewTokens: 8, eosTokenId: [] });
    assert.deepEqual(rows(out)[0], genFx.cases.greedy!.sequences[0]);
    out.dispose();
    assert.equal(liveTensors(), before);
    m.dispose();
  });
});
