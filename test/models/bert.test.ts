// BERT parity with the plain-PyTorch HF reference (scripts/fixtures/transformer_fixtures.py).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BertForSequenceClassification, BertModel } from '../../src/models/bert.ts';
import * as models from '../../src/models/index.ts';
import { noGrad, type Tensor, tensor, zeros } from '../../src/tensor/index.ts';
import { assertClose, readJson, readTensors } from './_fixture.ts';

type KeyRow = [string, number[], string];
const meta = readJson('transformers.json').bert as {
  config: Record<string, unknown>;
  keys: KeyRow[];
  bert_model_keys: KeyRow[];
  legacy_keys: KeyRow[];
  params: { tiny_seq_cls: number; tiny_bert_model: number };
  full: { config: Record<string, unknown>; bert_model: number; seq_cls: number; bert_model_no_pooler: number };
};
const weights = readTensors('bert_tiny.safetensors');
const io = readTensors('bert_tiny_io.safetensors');
const t = (k: string): Tensor => io.get(k)!;

function stripped(prefix: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [k, v] of weights) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

const rows = (m: { stateDict(): Map<string, Tensor> }): KeyRow[] =>
  [...m.stateDict()].map(([k, v]) => [k, v.shape, v.dtype] as KeyRow);

describe('BERT structure', () => {
  test('state-dict keys, order and shapes equal the reference', () => {
    const cls = BertForSequenceClassification.fromConfig(meta.config);
    assert.deepEqual(rows(cls), meta.keys);
    assert.deepEqual(rows(BertModel.fromConfig(meta.config)), meta.bert_model_keys);
  });

  test('buffers position_ids and token_type_ids are non-persistent, as transformers >= 4.31', () => {
    const m = BertModel.fromConfig(meta.config);
    assert.deepEqual(
      [...m.namedBuffers()].map(([k, v]) => [k, v.shape, v.dtype]),
      [
        ['embeddings.position_ids', [1, 64], 'int64'],
        ['embeddings.token_type_ids', [1, 64], 'int64'],
      ],
    );
  });

  test('parameter counts equal the reference (tiny and bert-base-uncased)', () => {
    assert.equal(BertForSequenceClassification.fromConfig(meta.config).numParameters(), meta.params.tiny_seq_cls);
    assert.equal(BertModel.fromConfig(meta.config).numParameters(), meta.params.tiny_bert_model);
    const base = BertForSequenceClassification.fromConfig(meta.full.config);
    try {
      assert.equal(base.numParameters(), meta.full.seq_cls);
      assert.equal(base.bert.numParameters(), meta.full.bert_model);
      assert.equal(base.bert.numParameters() - base.bert.pooler!.numParameters(), meta.full.bert_model_no_pooler);
    } finally {
      base.dispose();
    }
  });

  test('config.json defaults, errors and LayerNorm eps', () => {
    const m = BertModel.fromConfig({ ...meta.config, layer_norm_eps: 1e-7 });
    assert.equal(m.embeddings.LayerNorm.eps, 1e-7);
    assert.equal(m.encoder.layer.at(1).output.LayerNorm.eps, 1e-7);
    assert.throws(() => BertModel.fromConfig({ ...meta.config, num_attention_heads: 5 }), /multiple of/);
    assert.throws(() => BertModel.fromConfig({ ...meta.config, hidden_dropout_prob: 2 }), /hidden_dropout_prob/);
    assert.equal(
      BertForSequenceClassification.fromConfig({
        ...meta.config,
        num_labels: undefined,
        id2label: { 0: 'a', 1: 'b', 2: 'c', 3: 'd' },
      }).numLabels,
      4,
    );
  });
});

describe('BERT parity (eval)', () => {
  const cls = BertForSequenceClassification.fromConfig(meta.config);
  cls.loadStateDict(weights);
  cls.eval();

  test('BertModel: last_hidden_state and pooler_output with padding mask and token types', () => {
    noGrad(() => {
      const out = cls.bert.call({
        inputIds: t('input_ids'),
        attentionMask: t('attention_mask'),
        tokenTypeIds: t('token_type_ids'),
      });
      assertClose(out.lastHiddenState, t('last_hidden_state'), 'last_hidden_state');
      assertClose(out.poolerOutput!, t('pooler_output'), 'pooler_output');
    });
  });

  test('BertModel without mask or token types', () => {
    noGrad(() => {
      const out = cls.bert.call(t('input_ids'));
      assertClose(out.lastHiddenState, t('last_hidden_state_nomask'), 'last_hidden_state (no mask)');
      assertClose(out.poolerOutput!, t('pooler_output_nomask'), 'pooler_output (no mask)');
    });
  });

  test('BertForSequenceClassification: logits and cross-entropy loss', () => {
    noGrad(() => {
      const out = cls.call(t('input_ids'), {
        attentionMask: t('attention_mask'),
        tokenTypeIds: t('token_type_ids'),
        labels: t('labels'),
      });
      assertClose(out.logits, t('logits'), 'logits');
      assertClose(out.loss!, t('loss'), 'loss');
    });
  });

  test('a bare BertModel loads the bert.* weights', () => {
    const m = BertModel.fromConfig(meta.config);
    m.loadStateDict(stripped('bert.'));
    m.eval();
    noGrad(() => {
      const out = m.call(t('input_ids'), { attentionMask: t('attention_mask'), tokenTypeIds: t('token_type_ids') });
      assertClose(out.lastHiddenState, t('last_hidden_state'), 'last_hidden_state');
    });
  });

  test('checkpoints from older transformers (persistent embeddings.position_ids) load strictly', () => {
    const legacy = new Map<string, Tensor>();
    for (const [k, shape] of meta.legacy_keys)
      legacy.set(
        k,
        k.endsWith('position_ids')
          ? tensor([Array.from({ length: shape[1]! }, (_, i) => i)], { dtype: 'int64' })
          : weights.get(k)!,
      );
    assert.equal([...legacy.keys()][0], 'bert.embeddings.position_ids');
    assert.equal(meta.legacy_keys[0]![2], 'int64');
    const m = BertForSequenceClassification.fromConfig(meta.config);
    assert.deepEqual(m.loadStateDict(legacy), { missingKeys: [], unexpectedKeys: [] });
    const bare = BertModel.fromConfig(meta.config);
    const res = bare.loadStateDict(
      new Map([['embeddings.position_ids', legacy.get('bert.embeddings.position_ids')!], ...stripped('bert.')]),
    );
    assert.deepEqual(res, { missingKeys: [], unexpectedKeys: [] });
  });
});

describe('BERT training', () => {
  test('every parameter receives a gradient from one backward pass', () => {
    const m = BertForSequenceClassification.fromConfig(meta.config);
    m.train();
    const out = m.call(t('input_ids'), {
      attentionMask: t('attention_mask'),
      tokenTypeIds: t('token_type_ids'),
      labels: t('labels'),
    });
    out.loss!.backward();
    for (const [name, p] of m.namedParameters()) {
      const g = p.grad;
      assert.ok(g, `${name} has no gradient`);
      assert.deepEqual(g.shape, p.shape, name);
      assert.ok(Number.isFinite(g.abs().sum().item()), `${name}: non-finite gradient`);
    }
    // padding_idx 0 (the [PAD] row) gets no gradient, as nn.Embedding(padding_idx=0)
    const pad = m.bert.embeddings.word_embeddings.weight.grad!.select(0, 0);
    assert.equal(pad.abs().sum().item(), 0);
  });

  test('dropout is active in train mode and off in eval mode', () => {
    const m = BertForSequenceClassification.fromConfig(meta.config);
    m.loadStateDict(weights);
    noGrad(() => {
      m.train();
      const a = m.call(t('input_ids')).logits;
      m.eval();
      const b = m.call(t('input_ids')).logits;
      const c = m.call(t('input_ids')).logits;
      assert.ok(a.sub(b).abs().max().item() > 0);
      assert.equal(b.sub(c).abs().max().item(), 0);
    });
  });

  test('regression (1 label) and multi-label losses follow transformers', () => {
    const reg = BertForSequenceClassification.fromConfig({ ...meta.config, num_labels: 1 });
    const y = tensor([0.5, -1]);
    const r = reg.call(t('input_ids'), { labels: y });
    assert.deepEqual(r.logits.shape, [2, 1]);
    const expect = r.logits.squeeze().sub(y).pow(2).mean().item();
    assert.ok(Math.abs(r.loss!.item() - expect) < 1e-6);
    const multi = BertForSequenceClassification.fromConfig(meta.config);
    const hot = zeros([2, 3]);
    const out = multi.call(t('input_ids'), { labels: hot });
    assert.equal(out.loss!.ndim, 0);
  });
});

describe('BERT in the registry', () => {
  test('create with a config: layer groups cover every parameter once', () => {
    const m = models.create('bert-base-uncased', { config: meta.config, numClasses: 5 });
    assert.ok(m instanceof BertForSequenceClassification);
    assert.equal(m.numLabels, 5);
    const groups = models.layerGroups(m);
    assert.deepEqual(
      groups.map((g) => g.name),
      ['embeddings', 'encoder.layer.0', 'encoder.layer.1', 'head'],
    );
    assert.deepEqual(
      groups[3]!.parameters.map(([n]) => n),
      ['bert.pooler.dense.weight', 'bert.pooler.dense.bias', 'classifier.weight', 'classifier.bias'],
    );
    const n = groups.reduce((a, g) => a + g.parameters.length, 0);
    assert.equal(n, [...m.namedParameters()].length);
    assert.equal(models.metaOf(m)!.numClasses, 5);
    assert.deepEqual(models.metaOf(m)!.classifier, ['classifier']);
  });

  test('"only the last encoder layer and the classifier trainable", by group', () => {
    const m = models.create('bert-base-uncased', { config: meta.config });
    const groups = models.layerGroups(m);
    m.requiresGrad_(false);
    for (const g of groups.slice(-2)) for (const [, p] of g.parameters) p.requiresGrad = true;
    const trainable = [...m.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n);
    assert.ok(
      trainable.every(
        (n) => n.startsWith('bert.encoder.layer.1.') || n.startsWith('bert.pooler.') || n.startsWith('classifier.'),
      ),
    );
    assert.ok(
      trainable.includes('classifier.weight') && trainable.includes('bert.encoder.layer.1.output.dense.weight'),
    );
  });

  test('resetClassifier gives a fresh HF-initialised head', () => {
    const m = models.create('bert-base-uncased', { config: meta.config }) as BertForSequenceClassification;
    models.resetClassifier(m, 7);
    assert.deepEqual(m.classifier.weight.shape, [7, 32]);
    assert.equal(m.classifier.bias!.abs().sum().item(), 0);
    assert.equal(m.stateDict().get('classifier.weight')!.shape[0], 7);
    assert.deepEqual(m.call(t('input_ids')).logits.shape, [2, 7]);
  });
});
