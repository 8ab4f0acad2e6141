// BertForMaskedLM parity with the plain-PyTorch HF reference (scripts/fixtures/bert_mlm_fixtures.py):
// names, tied decoder, logits and loss; transformers' checkpoint layouts; Hugging Face directories.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readSafetensorsHeader, writeHfDir } from '../../src/io/index.ts';
import { BertForMaskedLM, maskedLMLoss } from '../../src/models/bert_heads.ts';
import { loadHfModel, toHfDir } from '../../src/models/index.ts';
import { noGrad, type Tensor, tensor, zeros } from '../../src/tensor/index.ts';
import { assertClose, readJson, readTensors } from './_fixture.ts';

type KeyRow = [string, number[], string];
const meta = readJson('bert_mlm.json') as {
  config: Record<string, unknown>;
  keys: KeyRow[];
  saved_keys: string[];
  params: { tiny: number; base: number };
  full: { config: Record<string, unknown> };
};
const saved = readTensors('bert_mlm_tiny.safetensors');
const io = readTensors('bert_mlm_tiny_io.safetensors');
const t = (k: string): Tensor => io.get(k)!;
const tmp = mkdtempSync(join(tmpdir(), 'graft-bert-mlm-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function loaded(): BertForMaskedLM {
  const m = BertForMaskedLM.fromConfig(meta.config);
  assert.deepEqual(m.loadStateDict(saved), { missingKeys: [], unexpectedKeys: [] });
  return m.eval();
}

const logitsOf = (m: BertForMaskedLM): Tensor =>
  m.call(t('input_ids'), { attentionMask: t('attention_mask'), tokenTypeIds: t('token_type_ids') }).logits;

describe('BertForMaskedLM structure', () => {
  test("state-dict keys, order and shapes equal transformers' (tied entries included)", () => {
    const m = BertForMaskedLM.fromConfig(meta.config);
    assert.deepEqual(
      [...m.stateDict()].map(([k, v]) => [k, v.shape, v.dtype]),
      meta.keys,
    );
    assert.ok(m.tied);
    assert.equal(m.cls.predictions.decoder.bias, m.cls.predictions.bias);
    assert.equal(m.bert.pooler, undefined, 'no pooler, as BertForMaskedLM');
  });

  test('parameter counts (a tied tensor counts once): tiny and bert-base-uncased', () => {
    assert.equal(BertForMaskedLM.fromConfig(meta.config).numParameters(), meta.params.tiny);
    const base = BertForMaskedLM.fromConfig(meta.full.config);
    try {
      assert.equal(base.numParameters(), meta.params.base);
    } finally {
      base.dispose();
    }
  });
});

describe('BertForMaskedLM parity (eval)', () => {
  test('logits and loss with padding, token types and -100 labels; logits without a mask', () => {
    const m = loaded();
    noGrad(() => {
      const out = m.call({
        inputIds: t('input_ids'),
        attentionMask: t('attention_mask'),
        tokenTypeIds: t('token_type_ids'),
        labels: t('labels'),
      });
      assertClose(out.logits, t('logits'), 'logits');
      assertClose(out.loss!, t('loss'), 'loss');
      assertClose(m.call(t('input_ids')).logits, t('logits_nomask'), 'logits (no mask)');
    });
  });

  test('maskedLoss (scores at labelled positions only) equals the loss, and its gradients', () => {
    const m = loaded();
    const x = { inputIds: t('input_ids'), attentionMask: t('attention_mask'), labels: t('labels') };
    noGrad(() => assertClose(m.maskedLoss(x), t('loss'), 'maskedLoss'));
    // in eval mode (no dropout) both passes see the same network
    m.call(x).loss!.backward();
    const full = m.cls.predictions.transform.dense.weight.grad!.clone();
    m.zeroGrad();
    m.maskedLoss(x).backward();
    assertClose(m.cls.predictions.transform.dense.weight.grad!, full, 'gradient');
    assert.throws(() => m.maskedLoss({ inputIds: t('input_ids') }), /needs labels/);
  });

  test('the decoder is the word embeddings: one gradient, summed from both uses', () => {
    const m = loaded().train();
    const out = m.call({ inputIds: t('input_ids'), attentionMask: t('attention_mask'), labels: t('labels') });
    out.loss!.backward();
    const emb = m.bert.embeddings.word_embeddings.weight;
    assert.equal(m.cls.predictions.decoder.weight, emb);
    assert.ok(emb.grad, 'the tied weight has a gradient');
    assert.ok(m.cls.predictions.bias.grad);
    assert.equal([...m.parameters()].filter((p) => p === emb).length, 1);
  });

  test('an older pretraining checkpoint: LayerNorm gamma / beta, tied copies kept, pooler and NSP head ignored', () => {
    const legacy = new Map<string, Tensor>();
    for (const [k, v] of saved)
      legacy.set(k.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'), v);
    legacy.set('cls.predictions.decoder.weight', saved.get('bert.embeddings.word_embeddings.weight')!);
    legacy.set('bert.pooler.dense.weight', zeros([32, 32]));
    legacy.set('bert.pooler.dense.bias', zeros([32]));
    legacy.set('cls.seq_relationship.weight', zeros([2, 32]));
    legacy.set('cls.seq_relationship.bias', zeros([2]));
    assert.ok(legacy.has('bert.encoder.layer.1.output.LayerNorm.gamma'));
    const m = BertForMaskedLM.fromConfig(meta.config);
    assert.deepEqual(m.loadStateDict(legacy), { missingKeys: [], unexpectedKeys: [] });
    m.eval();
    noGrad(() => assertClose(logitsOf(m), t('logits'), 'logits from the legacy layout'));
    // the same files as a Hugging Face folder (bert-base-uncased's config says BertForMaskedLM)
    const dir = join(tmp, 'legacy');
    writeHfDir(dir, { config: { ...meta.config, architectures: ['BertForMaskedLM'] }, stateDict: legacy });
    const { model, load } = loadHfModel(dir);
    assert.ok(model instanceof BertForMaskedLM);
    assert.deepEqual(load.missing, []);
    noGrad(() => assertClose(logitsOf(model as BertForMaskedLM), t('logits'), 'logits from the legacy folder'));
  });
});

describe('BertForMaskedLM as a Hugging Face directory', () => {
  test('toHfDir writes what save_pretrained writes; loadHfModel builds a BertForMaskedLM back', () => {
    const m = loaded();
    const dir = join(tmp, 'mlm');
    toHfDir(m, dir);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(config.architectures, ['BertForMaskedLM']);
    assert.equal(config.model_type, 'bert');
    assert.deepEqual(
      readSafetensorsHeader(join(dir, 'model.safetensors'))
        .entries.map((e) => e.name)
        .sort(),
      [...meta.saved_keys].sort(),
      'tied copies (decoder.weight, decoder.bias) are not written',
    );
    const { model, load } = loadHfModel(dir);
    assert.ok(model instanceof BertForMaskedLM);
    assert.deepEqual(load.missing, []);
    assert.ok((model as BertForMaskedLM).tied);
    noGrad(() => assertClose(logitsOf(model as BertForMaskedLM), t('logits'), 'logits after the round trip'));
  });
});

test('maskedLMLoss: 0 without labels, an error when the labels do not fit the logits', () => {
  const logits = zeros([2, 3, 5]);
  const none = tensor(
    [
      [-100, -100, -100],
      [-100, -100, -100],
    ],
    { dtype: 'int64' },
  );
  assert.equal(maskedLMLoss(logits, none).item(), 0);
  const one = tensor(
    [
      [-100, 2, -100],
      [-100, -100, -100],
    ],
    { dtype: 'int64' },
  );
  assert.ok(Math.abs(maskedLMLoss(logits, one).item() - Math.log(5)) < 1e-6, 'uniform logits: log V');
  assert.throws(() => maskedLMLoss(logits, zeros([2, 4], { dtype: 'int64' })), /do not match/);
});
