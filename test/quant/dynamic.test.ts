// Dynamic int8 Linear against torch.ao.quantization.quantize_dynamic (fixtures: dynamic.json).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BertForSequenceClassification } from '../../src/models/bert.ts';
import { Linear, ReLU, Sequential } from '../../src/nn/index.ts';
import * as quant from '../../src/quant/index.ts';
import { manualSeed, noGrad, randn, type Tensor } from '../../src/tensor/index.ts';
import { readJson, readTensors } from '../models/_fixture.ts';
import { assertClose, assertExact, fill, nums, readFixture } from './_fixtures.ts';

const fx = readFixture('dynamic.json');

function mlp(): Sequential {
  const m = new Sequential(new Linear(8, 16), new ReLU(), new Linear(16, 4));
  fill(m, 11);
  return m.eval();
}

function inputs(): [Tensor, Tensor] {
  manualSeed(12);
  return [randn([3, 8]).mul(2), randn([2, 3, 8])];
}

describe('quantizeDynamic: tiny MLP', () => {
  for (const scheme of ['per_tensor', 'per_channel'] as const) {
    test(`${scheme}: int8 weights, qparams and outputs equal torch's`, () => {
      const want = fx[scheme];
      const m = mlp();
      const [x2, x3] = inputs();
      noGrad(() => assertExact(m.call(x2), want.float_y2, 'float model'));
      const r = quant.quantizeDynamic(m, { perChannel: scheme === 'per_channel' });
      assert.deepEqual(r.quantized, ['0', '2']);
      for (const name of ['0', '2']) {
        const q = m.getSubmodule(name) as quant.DynamicQuantizedLinear;
        assert.ok(q instanceof quant.DynamicQuantizedLinear);
        const w = want.layers[name];
        assert.deepEqual(nums(q.weight), w.weight, `${name}: int8 weight`);
        assert.equal(q.weight.dtype, 'int8');
        const qp = q.qparams();
        if (qp.scheme === 'per_tensor') {
          assert.equal(qp.scale, w.scale, `${name}: scale`);
          assert.equal(qp.zeroPoint, w.zero_point);
        } else {
          assert.deepEqual(nums(qp.scales), w.scale, `${name}: scales`);
          assert.deepEqual(nums(qp.zeroPoints), w.zero_point);
        }
      }
      noGrad(() => {
        assertExact(m.call(x2), want.y2, 'y (2-d input)');
        assertExact(m.call(x3), want.y3, 'y (3-d input)');
      });
    });
  }

  test('modules / exclude pick layers; unknown names are refused with a suggestion', () => {
    const m = mlp();
    assert.deepEqual(quant.quantizeDynamic(m, { exclude: ['2'] }).quantized, ['0']);
    assert.ok(m.getSubmodule('2') instanceof Linear);
    assert.throws(() => quant.quantizeDynamic(mlp(), { modules: ['fc'] }), /no module 'fc'/);
  });

  test('a quantized state dict saves plain tensors and loads back into a quantized twin', () => {
    const a = mlp();
    quant.quantizeDynamic(a, { perChannel: true });
    const sd = a.stateDict();
    assert.deepEqual(
      [...sd.keys()],
      [
        '0.weight',
        '0.weight_scale',
        '0.weight_zero_point',
        '0.bias',
        '2.weight',
        '2.weight_scale',
        '2.weight_zero_point',
        '2.bias',
      ],
    );
    const b = new Sequential(new Linear(8, 16), new ReLU(), new Linear(16, 4)).eval();
    quant.quantizeDynamic(b, { perChannel: true });
    quant.loadQuantizedStateDict(b, sd);
    const [x2] = inputs();
    noGrad(() => assertExact(b.call(x2), fx.per_channel.y2, 'reloaded'));
    // a float model refuses the quantized keys
    assert.throws(() => mlp().loadStateDict(sd), /weight_scale/);
  });

  test('packed weights are freed with their module', () => {
    const before = quant.livePacked();
    const m = mlp();
    quant.quantizeDynamic(m);
    assert.equal(quant.livePacked(), before + 2);
    quant.releasePacked(m);
    assert.equal(quant.livePacked(), before);
    assert.throws(() => m.call(randn([1, 8])), /released/);
  });
});

describe('quantizeDynamic: tiny BERT', () => {
  test('every Linear quantized as torch does; logits within 1e-5 of torch', () => {
    const meta = readJson('transformers.json').bert as { config: Record<string, unknown> };
    const io = readTensors('bert_tiny_io.safetensors');
    const m = BertForSequenceClassification.fromConfig(meta.config);
    m.loadStateDict(readTensors('bert_tiny.safetensors'));
    m.eval();
    const r = quant.quantizeDynamic(m);
    assert.deepEqual([...r.quantized].sort(), fx.bert.quantized);
    const q = m.getSubmodule('bert.encoder.layer.0.attention.self.query') as quant.DynamicQuantizedLinear;
    assert.deepEqual(nums(q.weight), fx.bert.query0.weight);
    noGrad(() => {
      const out = m.call({
        inputIds: io.get('input_ids')!,
        attentionMask: io.get('attention_mask')!,
        tokenTypeIds: io.get('token_type_ids')!,
      });
      const logits = out.logits;
      assertClose(logits, fx.bert.logits, 1e-5, 'logits');
    });
  });
});
