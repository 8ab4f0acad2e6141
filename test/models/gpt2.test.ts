// GPT-2 parity with the plain-PyTorch HF reference (scripts/fixtures/transformer_fixtures.py).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Conv1D, causalLMLoss, GPT2LMHeadModel, GPT2Model } from '../../src/models/gpt2.ts';
import * as models from '../../src/models/index.ts';
import { crossEntropy, linear, noGrad, ones, randn, type Tensor, tensor, zeros } from '../../src/tensor/index.ts';
import { assertClose, readJson, readTensors } from './_fixture.ts';

type KeyRow = [string, number[], string];
const meta = readJson('transformers.json').gpt2 as {
  config: Record<string, unknown>;
  keys: KeyRow[];
  legacy_keys: KeyRow[];
  params: { tiny_lm: number; tiny_state_dict_numel: number };
  full: { config: Record<string, unknown>; lm: number; gpt2_model: number };
};
const weights = readTensors('gpt2_tiny.safetensors');
const io = readTensors('gpt2_tiny_io.safetensors');
const t = (k: string): Tensor => io.get(k)!;

const rows = (m: { stateDict(): Map<string, Tensor> }): KeyRow[] =>
  [...m.stateDict()].map(([k, v]) => [k, v.shape, v.dtype] as KeyRow);

function loaded(): GPT2LMHeadModel {
  const m = GPT2LMHeadModel.fromConfig(meta.config);
  m.loadStateDict(weights);
  return m.eval();
}

describe('GPT-2 structure', () => {
  test('state-dict keys, order and shapes equal the reference (lm_head.weight included)', () => {
    const m = GPT2LMHeadModel.fromConfig(meta.config);
    assert.deepEqual(rows(m), meta.keys);
    assert.equal(meta.keys.at(-1)![0], 'lm_head.weight');
    assert.deepEqual([...m.namedBuffers()], []);
  });

  test('Conv1D stores its weight [in, out] and computes x W + b', () => {
    const c = new Conv1D(6, 4);
    assert.deepEqual(c.weight.shape, [4, 6]);
    noGrad(() => c.bias.copy_(randn([6])));
    const x = randn([2, 3, 4]);
    const y = c.call(x);
    assert.deepEqual(y.shape, [2, 3, 6]);
    assertClose(y, linear(x, c.weight.T, c.bias), 'Conv1D');
  });

  test('parameter counts equal the reference (tiny and gpt2 124M); tied lm_head counted once', () => {
    const m = GPT2LMHeadModel.fromConfig(meta.config);
    assert.equal(m.numParameters(), meta.params.tiny_lm);
    let sdNumel = 0;
    for (const v of m.stateDict().values()) sdNumel += v.numel();
    assert.equal(sdNumel, meta.params.tiny_state_dict_numel);
    const base = GPT2LMHeadModel.fromConfig(meta.full.config);
    try {
      assert.equal(base.numParameters(), meta.full.lm);
      assert.equal(base.transformer.numParameters(), meta.full.gpt2_model);
    } finally {
      base.dispose();
    }
  });

  test('config.json: n_inner, eps, defaults and errors', () => {
    const m = GPT2Model.fromConfig({ ...meta.config, n_inner: 48, layer_norm_epsilon: 1e-6 });
    assert.deepEqual(m.h.at(0).mlp.c_fc.weight.shape, [32, 48]);
    assert.equal(m.ln_f.eps, 1e-6);
    assert.equal(GPT2Model.fromConfig(meta.config).h.at(0).mlp.c_fc.nf, 128);
    assert.throws(() => GPT2Model.fromConfig({ ...meta.config, n_head: 3 }), /multiple of/);
  });
});

describe('GPT-2 parity (eval)', () => {
  const m = loaded();

  test('logits and shifted LM loss with a padding mask', () => {
    noGrad(() => {
      const out = m.call(t('input_ids'), { attentionMask: t('attention_mask'), labels: t('labels') });
      assertClose(out.logits, t('logits'), 'logits');
      assertClose(out.loss!, t('loss'), 'loss');
      const h = m.transformer.call(t('input_ids'), { attentionMask: t('attention_mask') }).lastHiddenState;
      assertClose(h, t('last_hidden_state'), 'last_hidden_state');
    });
  });

  test('logits and loss without a mask (causal only)', () => {
    noGrad(() => {
      const out = m.call({ inputIds: t('input_ids'), labels: t('input_ids') });
      assertClose(out.logits, t('logits_nomask'), 'logits');
      assertClose(out.loss!, t('loss_nomask'), 'loss');
    });
  });

  test('causalLMLoss shifts by one and ignores -100', () => {
    noGrad(() => {
      const logits = randn([1, 4, 5]);
      const labels = tensor([[3, 1, -100, 4]], { dtype: 'int64' });
      const manual = crossEntropy(logits.select(1, 0), tensor([1], { dtype: 'int64' }))
        .add(crossEntropy(logits.select(1, 2), tensor([4], { dtype: 'int64' })))
        .div(2);
      assertClose(causalLMLoss(logits, labels), manual, 'loss');
    });
  });
});

describe('GPT-2 tied head', () => {
  test('a checkpoint without lm_head.weight (save_pretrained) loads strictly and stays tied', () => {
    assert.ok(!weights.has('lm_head.weight'));
    const m = GPT2LMHeadModel.fromConfig(meta.config);
    assert.ok(m.tied);
    assert.deepEqual(m.loadStateDict(weights), { missingKeys: [], unexpectedKeys: [] });
    assert.ok(m.tied);
    assert.equal(m.lm_head.weight, m.transformer.wte.weight);
    assertClose(m.stateDict().get('lm_head.weight')!, weights.get('transformer.wte.weight')!, 'lm_head');
  });

  test('a state dict with lm_head.weight (state_dict()) loads and wte wins, as transformers ties after loading', () => {
    const full = new Map(weights);
    full.set('lm_head.weight', zeros([100, 32]));
    const m = GPT2LMHeadModel.fromConfig(meta.config);
    m.loadStateDict(full);
    assert.ok(m.tied);
    assertClose(m.lm_head.weight, weights.get('transformer.wte.weight')!, 'lm_head');
    // and our own state dict round-trips
    const again = GPT2LMHeadModel.fromConfig(meta.config);
    assert.deepEqual(again.loadStateDict(m.stateDict()), { missingKeys: [], unexpectedKeys: [] });
    assertClose(again.lm_head.weight, weights.get('transformer.wte.weight')!, 'lm_head');
  });

  test('an optimizer-style in-place update of wte moves lm_head too; to(dtype) keeps the tie', () => {
    const m = loaded();
    const before = m.lm_head.weight.clone();
    noGrad(() => m.transformer.wte.weight.sub_(ones([100, 32]), 0.5));
    assertClose(m.lm_head.weight, before.sub(0.5), 'lm_head after update');
    m.to('float64');
    assert.ok(m.tied);
    assert.equal(m.lm_head.weight.dtype, 'float64');
    m.to('float32');
    assert.ok(m.tied);
    assert.equal([...m.namedParameters()].filter(([n]) => n === 'lm_head.weight').length, 0);
  });

  test('gradients of the tied weight accumulate from both uses', () => {
    const m = loaded();
    m.call(t('input_ids'), { labels: t('labels') }).loss!.backward();
    const g = m.transformer.wte.weight.grad!;
    assert.ok(g.abs().sum().item() > 0);
    assert.equal(m.lm_head.weight.grad!.sub(g).abs().max().item(), 0);
  });

  test('checkpoints from older transformers (attn.bias, attn.masked_bias) load strictly', () => {
    const legacy = new Map<string, Tensor>();
    for (const [k, shape, dtype] of meta.legacy_keys) {
      if (k.endsWith('.attn.bias')) legacy.set(k, ones(shape, { dtype: dtype as 'bool' }));
      else if (k.endsWith('.attn.masked_bias')) legacy.set(k, tensor(-1e4));
      else if (k !== 'lm_head.weight') legacy.set(k, weights.get(k)!);
    }
    assert.equal([...legacy.keys()].filter((k) => k.includes('.attn.bias')).length, 2);
    const m = GPT2LMHeadModel.fromConfig(meta.config);
    assert.deepEqual(m.loadStateDict(legacy), { missingKeys: [], unexpectedKeys: [] });
    m.eval();
    noGrad(() => assertClose(m.call(t('input_ids')).logits, t('logits_nomask'), 'logits'));
  });
});

describe('GPT-2 training', () => {
  test('every parameter receives a gradient from one backward pass', () => {
    const m = GPT2LMHeadModel.fromConfig(meta.config);
    m.train();
    const out = m.call(t('input_ids'), { attentionMask: t('attention_mask'), labels: t('labels') });
    out.loss!.backward();
    for (const [name, p] of m.namedParameters()) {
      const g = p.grad;
      assert.ok(g, `${name} has no gradient`);
      assert.deepEqual(g.shape, p.shape, name);
      assert.ok(Number.isFinite(g.abs().sum().item()), `${name}: non-finite gradient`);
    }
  });
});

describe('GPT-2 in the registry', () => {
  test('create with a config: groups embeddings, h.N, head cover every parameter once', () => {
    const m = models.create('gpt2', { config: meta.config });
    assert.ok(m instanceof GPT2LMHeadModel);
    const groups = models.layerGroups(m);
    assert.deepEqual(
      groups.map((g) => g.name),
      ['embeddings', 'h.0', 'h.1', 'head'],
    );
    assert.deepEqual(
      groups[0]!.parameters.map(([n]) => n),
      ['transformer.wte.weight', 'transformer.wpe.weight'],
    );
    assert.deepEqual(
      groups[3]!.parameters.map(([n]) => n),
      ['transformer.ln_f.weight', 'transformer.ln_f.bias'],
    );
    assert.deepEqual(models.metaOf(m)!.classifier, ['lm_head']);
    assert.throws(() => models.create('gpt2', { config: meta.config, numClasses: 3 }), /config/);
  });

  test('resetClassifier unties and gives a fresh head', () => {
    const m = models.create('gpt2', { config: meta.config }) as GPT2LMHeadModel;
    models.resetClassifier(m, 10);
    assert.ok(!m.tied);
    assert.deepEqual(m.lm_head.weight.shape, [10, 32]);
    assert.deepEqual(m.call(t('input_ids')).logits.shape, [2, 8, 10]);
    assert.equal(m.numParameters(), meta.params.tiny_lm + 320);
  });
});
