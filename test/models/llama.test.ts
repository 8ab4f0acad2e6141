// Llama-family parity with the plain-PyTorch HF reference (scripts/fixtures/llama_fixtures.py).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as models from '../../src/models/index.ts';
import { type KeyValue, LlamaForCausalLM } from '../../src/models/llama.ts';
import { parseLlamaConfig } from '../../src/models/llama_config.ts';
import { cat, noGrad, type Tensor } from '../../src/tensor/index.ts';
import { assertClose, readJson, readTensors } from './_fixture.ts';

type KeyRow = [string, number[], string];
type Case = { config: Record<string, unknown>; keys: KeyRow[]; params: number };
const meta = readJson('llama.json') as Record<string, Case> & { llama_2_7b_params: number };
const NAMES = ['gqa', 'linear', 'qwen2', 'mistral', 'dynamic', 'yarn', 'yarn_mscale', 'longrope', 'qwen2_sw'] as const;
// rope types whose frequencies follow the sequence length (transformers' dynamic_rope_update): a cached
// decode keeps keys rotated with earlier frequencies, so it need not equal one full forward
const STATEFUL = new Set(['dynamic', 'longrope']);

function loaded(name: string): LlamaForCausalLM {
  const m = LlamaForCausalLM.fromConfig(meta[name]!.config);
  m.loadStateDict(readTensors(`llama_${name}.safetensors`));
  return m.eval();
}

const rows = (m: LlamaForCausalLM): KeyRow[] => [...m.stateDict()].map(([k, v]) => [k, v.shape, v.dtype] as KeyRow);

describe('Llama structure', () => {
  for (const name of NAMES)
    test(`${name}: state-dict keys, order, shapes and parameter count equal the reference`, () => {
      const m = LlamaForCausalLM.fromConfig(meta[name]!.config);
      assert.deepEqual(rows(m), meta[name]!.keys);
      assert.equal(m.numParameters(), meta[name]!.params);
      assert.equal(m.tied, meta[name]!.config.tie_word_embeddings === true);
      m.dispose();
    });

  test('Llama-2-7B parameter count from its config, without building it', () => {
    const c = parseLlamaConfig({});
    const { hiddenSize: h, intermediateSize: i, numHiddenLayers: L, vocabSize: V } = c;
    const perLayer = 4 * h * h + 3 * h * i + 2 * h;
    assert.equal(2 * V * h + L * perLayer + h, meta.llama_2_7b_params);
    const tiny = LlamaForCausalLM.fromConfig({ ...meta.gqa!.config });
    const t = tiny.config;
    const kv = t.numKeyValueHeads * t.headDim;
    const tinyLayer =
      2 * t.hiddenSize * t.numAttentionHeads * t.headDim +
      2 * t.hiddenSize * kv +
      3 * t.hiddenSize * t.intermediateSize +
      2 * t.hiddenSize;
    assert.equal(tiny.numParameters(), 2 * t.vocabSize * t.hiddenSize + t.numHiddenLayers * tinyLayer + t.hiddenSize);
  });

  test('config: model_type defaults, biases, head_dim and errors', () => {
    const q = parseLlamaConfig({ model_type: 'qwen2' });
    assert.equal(q.vocabSize, 151936);
    assert.deepEqual([q.qkvBias, q.oBias, q.mlpBias], [true, false, false]);
    const mi = parseLlamaConfig({ model_type: 'mistral' });
    assert.deepEqual([mi.numKeyValueHeads, mi.slidingWindow, mi.qkvBias], [8, 4096, false]);
    const l = parseLlamaConfig({ attention_bias: true, head_dim: 64, eos_token_id: [128001, 128009] });
    assert.deepEqual([l.qkvBias, l.oBias, l.headDim, l.numKeyValueHeads], [true, true, 64, 32]);
    assert.deepEqual(l.eosTokenId, [128001, 128009]);
    assert.throws(() => parseLlamaConfig({ num_attention_heads: 32, num_key_value_heads: 5 }), /multiple of/);
    assert.throws(() => parseLlamaConfig({ rope_scaling: { rope_type: 'su', factor: 4 } }), /not supported/);
    assert.throws(() => parseLlamaConfig({ model_type: 'bert' }), /not a Llama-family/);
    assert.throws(() => parseLlamaConfig({ hidden_act: 'gelu' }), /hidden_act/);
    assert.throws(() => parseLlamaConfig({ hidden_size: 100, num_attention_heads: 3 }), /multiple of/);
  });

  test('registry: llama / mistral / qwen2 by name, with layer groups from the config', () => {
    const m = models.create('qwen2', { config: meta.qwen2!.config });
    assert.ok(m instanceof LlamaForCausalLM);
    const meta2 = models.metaOf(m)!;
    assert.equal(meta2.task, 'causal-lm');
    assert.deepEqual(
      models.layerGroups(m).map((g) => g.name),
      ['embeddings', 'layers.0', 'layers.1', 'head'],
    );
    assert.throws(() => models.create('llama', { config: meta.qwen2!.config }), /model_type 'qwen2'/);
    assert.throws(() => models.create('llama', { numClasses: 3 }), /from the config/);
    m.dispose();
  });
});

describe('Llama parity (eval)', () => {
  for (const name of NAMES) {
    const io = readTensors(`llama_${name}_io.safetensors`);
    const t = (k: string): Tensor => io.get(k)!;
    test(`${name}: rotary inverse frequencies`, () => {
      const m = LlamaForCausalLM.fromConfig(meta[name]!.config);
      assertClose(m.model.invFreq('cpu'), t('inv_freq'), 'inv_freq', 1e-6, 0);
      m.dispose();
    });

    test(`${name}: logits and shifted loss, with and without a left-padding mask`, () => {
      const m = loaded(name);
      noGrad(() => {
        const out = m.call(t('input_ids'), { attentionMask: t('attention_mask'), labels: t('labels') });
        assertClose(out.logits, t('logits'), 'logits', 1e-5, 1);
        assertClose(out.loss!, t('loss'), 'loss', 1e-5);
        const plain = m.call(t('input_ids'), { labels: t('input_ids') });
        assertClose(plain.logits, t('logits_nomask'), 'logits (no mask)', 1e-5, 1);
        assertClose(plain.loss!, t('loss_nomask'), 'loss (no mask)', 1e-5);
        const pos = m.call(t('input_ids'), { attentionMask: t('attention_mask'), positionIds: t('position_ids') });
        assertClose(pos.logits, t('logits_pos'), 'logits (position ids)', 1e-5, 1);
      });
      m.dispose();
    });

    test(`${name}: a 4-token prefill then 3 cached tokens give the reference's logits and cache`, () => {
      const m = loaded(name);
      noGrad(() => {
        const ids = t('input_ids');
        const mask = t('attention_mask');
        const pos = t('position_ids');
        const a = m.call(ids.slice(1, 0, 4), {
          attentionMask: mask.slice(1, 0, 4),
          positionIds: pos.slice(1, 0, 4),
          useCache: true,
        });
        assert.equal(a.pastKeyValues!.length, 2);
        const b = m.call(ids.slice(1, 4), {
          attentionMask: mask,
          positionIds: pos.slice(1, 4),
          pastKeyValues: a.pastKeyValues,
          useCache: true,
        });
        assertClose(cat([a.logits, b.logits], 1), t('logits_cached'), 'cached logits', 1e-5, 1);
        const [k0, v0] = b.pastKeyValues![0] as KeyValue;
        assertClose(k0, t('cache_k0'), 'cache key 0', 1e-5, 1);
        assertClose(v0, t('cache_v0'), 'cache value 0', 1e-5, 1);
        // the cached result equals the uncached one on every real (unpadded) query position
        if (!STATEFUL.has(name)) {
          const full = m.call(ids, { attentionMask: mask, positionIds: pos }).logits;
          assertClose(cat([a.logits, b.logits], 1).slice(1, 2), full.slice(1, 2), 'cached vs full', 1e-4, 1);
        }
      });
      m.dispose();
    });
  }

  test('bfloat16 weights: logits near the reference run in bfloat16 (softmax and RMSNorm in float32)', () => {
    const io = readTensors('llama_gqa_io.safetensors');
    const m = loaded('gqa').to('bfloat16');
    noGrad(() => {
      const out = m.call(io.get('input_ids')!, { attentionMask: io.get('attention_mask')! });
      assert.equal(out.logits.dtype, 'bfloat16');
      assertClose(out.logits.to('float32'), io.get('logits_bf16')!, 'bf16 logits', 2e-2, 2);
    });
    m.dispose();
  });

  test('a float32 head over a bfloat16 body returns float32 logits', () => {
    const io = readTensors('llama_gqa_io.safetensors');
    const m = loaded('gqa');
    m.model.to('bfloat16');
    noGrad(() => {
      const out = m.call(io.get('input_ids')!, { labels: io.get('input_ids')! });
      assert.equal(out.logits.dtype, 'float32');
      assert.ok(Number.isFinite(out.loss!.item()));
    });
    m.dispose();
  });
});

describe('Llama training', () => {
  test('tied embeddings get one gradient (embedding + head), padding row none', () => {
    const m = loaded('qwen2');
    const io = readTensors('llama_qwen2_io.safetensors');
    const out = m.call(io.get('input_ids')!, { attentionMask: io.get('attention_mask')!, labels: io.get('labels')! });
    out.loss!.backward();
    const g = m.model.embed_tokens.weight.grad!;
    assert.ok(g.abs().sum().item() > 0);
    assert.ok(m.lm_head.weight.grad!.isSameAs(g));
    m.dispose();
    // gqa has pad_token_id 0 and its padded row holds 0s: that embedding row gets no gradient
    const p = loaded('gqa');
    const pio = readTensors('llama_gqa_io.safetensors');
    p.call(pio.get('input_ids')!, {
      attentionMask: pio.get('attention_mask')!,
      labels: pio.get('labels')!,
    }).loss!.backward();
    const pg = p.model.embed_tokens.weight.grad!;
    assert.equal(pg.select(0, 0).abs().sum().item(), 0);
    assert.ok(pg.abs().sum().item() > 0);
    p.dispose();
  });
});
