// LoRA layers and injection: the LoraLinear maths, merge / unmerge, PEFT's target matching, what
// trains, state-dict names, unloading.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ArgumentError } from '../../src/errors.ts';
import {
  applyLora,
  describeLora,
  fullMatch,
  isTargetModule,
  loraLayers,
  mergeLora,
  patternKey,
  setLoraEnabled,
  unloadLora,
  unmergeLora,
} from '../../src/finetune/index.ts';
import { Conv1D } from '../../src/models/index.ts';
import { Linear, LoraLinear } from '../../src/nn/index.ts';
import { linear, liveTensors, noGrad, randint, randn, type Tensor, tidy } from '../../src/tensor/index.ts';
import { readTensors } from '../models/_fixture.ts';
import { maxDiff, tinyBert, tinyGpt2 } from './_lora.ts';

const ids = (): Tensor => randint(1, 100, [2, 8]);
const bertLogits = (m: ReturnType<typeof tinyBert>, x: Tensor): Tensor => noGrad(() => m.call(x).logits);

function randomizeAdapters(layers: [string, LoraLinear][], scale = 0.3): void {
  noGrad(() => {
    for (const [, l] of layers) {
      l.lora_A.weight.copy_(randn(l.lora_A.weight.shape).mul(scale));
      l.lora_B.weight.copy_(randn(l.lora_B.weight.shape).mul(scale));
    }
  });
}

describe('LoraLinear', () => {
  test('starts equal to the base (B = 0), then adds B A x * alpha / r; rslora scales by alpha / sqrt(r)', () => {
    const base = new Linear(6, 5);
    const x = randn([3, 6]);
    const want = noGrad(() => base.call(x));
    const l = new LoraLinear(base, { r: 4, alpha: 8 });
    assert.equal(l.scaling, 2);
    assert.equal(new LoraLinear(new Linear(6, 5), { r: 4, alpha: 8, useRslora: true }).scaling, 4);
    assert.equal(
      maxDiff(
        noGrad(() => l.call(x)),
        want,
      ),
      0,
    );
    assert.equal(l.lora_B.weight.abs().sum().item(), 0);
    assert.ok((l.lora_A.weight.abs().sum().item() as number) > 0);
    noGrad(() => l.lora_B.weight.copy_(randn([5, 4])));
    const manual = noGrad(() =>
      want.add(x.matmul(l.lora_A.weight.transpose(0, 1)).matmul(l.lora_B.weight.transpose(0, 1)).mul(2)),
    );
    assert.ok(
      maxDiff(
        noGrad(() => l.call(x)),
        manual,
      ) < 1e-5,
    );
    // A is kaiming-uniform(a = sqrt(5)): bound 1 / sqrt(fan_in)
    assert.ok((l.lora_A.weight.abs().max().item() as number) <= 1 / Math.sqrt(6));
  });

  test('merge folds the update into the weight (fan_in_fan_out too) and unmerge takes it out', () => {
    for (const base of [new Linear(6, 5), new Conv1D(5, 6)]) {
      const fanIn = base instanceof Conv1D;
      const w0 = noGrad(() => base.weight.clone());
      const l = new LoraLinear(base, { r: 3, alpha: 6, fanInFanOut: fanIn, init: false });
      const x = randn([2, 4, 6]);
      const y = noGrad(() => l.call(x));
      l.merge();
      assert.equal(l.merged, true);
      assert.ok(
        maxDiff(
          noGrad(() => l.call(x)),
          y,
        ) < 1e-5,
        'merged output',
      );
      const delta = noGrad(() => l.weight.sub(w0));
      const ba = noGrad(() => l.lora_B.weight.matmul(l.lora_A.weight).mul(2));
      assert.ok(maxDiff(delta, fanIn ? ba.transpose(0, 1) : ba) < 1e-6, 'delta layout');
      l.unmerge();
      assert.ok(maxDiff(l.weight, w0) < 1e-6, 'unmerged weight');
      assert.ok(
        maxDiff(
          noGrad(() => l.call(x)),
          y,
        ) < 1e-6,
        'unmerged output',
      );
    }
  });

  test('a half-precision base gets float32 adapters and keeps its output dtype', () => {
    const base = new Linear(8, 4, { dtype: 'bfloat16' });
    const l = new LoraLinear(base, { r: 2, alpha: 2, init: false });
    assert.equal(l.adapterDtype, 'float32');
    const x = randn([3, 8]).to('bfloat16');
    const y = noGrad(() => l.call(x));
    assert.equal(y.dtype, 'bfloat16');
    // PEFT: base(x) + update, summed in float32, then cast back
    const want = noGrad(() =>
      linear(x, base.weight, base.bias)
        .add(x.to('float32').matmul(l.lora_A.weight.transpose(0, 1)).matmul(l.lora_B.weight.transpose(0, 1)))
        .to('bfloat16'),
    );
    assert.equal(maxDiff(y.to('float32'), want.to('float32')), 0);
    // gradients reach the float32 adapters through the casts
    tidy(() => l.call(x).to('float32').sum().backward());
    assert.equal(l.lora_A.weight.grad?.dtype, 'float32');
    assert.ok((l.lora_B.weight.grad!.abs().sum().item() as number) > 0);
  });

  test('training steps, merge and unmerge hold no extra tensors', () => {
    const l = new LoraLinear(new Linear(6, 5), { r: 2, alpha: 4, dropout: 0.1, init: false });
    const x = randn([3, 6]);
    const step = () => {
      tidy(() => l.call(x).sum().backward());
      l.zeroGrad();
      l.merge();
      noGrad(() => l.call(x).dispose());
      l.unmerge();
    };
    step();
    const live = liveTensors();
    for (let i = 0; i < 5; i++) step();
    assert.equal(liveTensors(), live);
  });

  test('refuses what is not a linear layer and bad ranks', () => {
    assert.throws(() => new LoraLinear(tinyBert().bert.pooler!, { r: 2, alpha: 2 }), ArgumentError);
    assert.throws(() => new LoraLinear(new Linear(3, 3), { r: 0, alpha: 2 }), /rank r/);
  });
});

describe('applyLora', () => {
  test('BERT: query/value wrapped, base names unchanged, only adapters and the classifier train', () => {
    const m = tinyBert();
    const baseKeys = [...m.stateDict().keys()];
    const info = applyLora(m, { r: 4, alpha: 8, dropout: 0.1, targetModules: ['query', 'value'] });
    const keys = [...m.stateDict().keys()];
    const lora = keys.filter((k) => k.includes('.lora_'));
    assert.deepEqual(
      keys.filter((k) => !k.includes('.lora_')),
      baseKeys,
    );
    assert.equal(lora.length, 8);
    assert.ok(lora.includes('bert.encoder.layer.1.attention.self.value.lora_B.weight'));
    // an ordinary checkpoint of the base model loads, only the adapter keys are missing
    const res = m.loadStateDict(readTensors('bert_tiny.safetensors'), { strict: false });
    assert.deepEqual(res.missingKeys.sort(), lora.sort());
    // PEFT's count: 4 layers x r (in + out) + classifier (32 x 3 + 3)
    const want = 4 * 4 * (32 + 32) + 32 * 3 + 3;
    assert.equal(info.trainableParameters, want);
    assert.equal(m.numParameters({ trainableOnly: true }), want);
    assert.equal(info.totalParameters, m.numParameters());
    assert.deepEqual(
      [...m.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n),
      info.trainable,
    );
    assert.deepEqual(info.freezeSpec, { freeze: '*', train: info.trainable });
    assert.equal(info.config.task_type, 'SEQ_CLS');
    assert.equal(
      describeLora(info),
      `LoRA r 4, alpha 8 on 4 layers (query, value); modules to save: classifier; trainable params: 1,123 || all params: ${info.totalParameters.toLocaleString('en-US')} || trainable%: ${((100 * 1123) / info.totalParameters).toFixed(4)}`,
    );
    const q = m.bert.encoder.layer.at(0).attention.self.query as unknown as LoraLinear;
    assert.equal(q.lora_dropout.constructor.name, 'Dropout');
    // an eval model stays in eval: the new dropout must not be active
    assert.equal(q.lora_dropout.training, false);
    m.train();
    assert.equal(q.lora_dropout.training, true);
  });

  test('merged logits equal unmerged to 1e-5; unmerge restores the base weights', () => {
    const m = tinyBert();
    const w0 = noGrad(() => m.bert.encoder.layer.at(0).attention.self.query.weight.clone());
    applyLora(m, { r: 4, alpha: 16, targetModules: ['query', 'key', 'value', 'dense'] });
    randomizeAdapters(loraLayers(m), 0.1);
    const x = ids();
    const y = bertLogits(m, x);
    assert.equal(mergeLora(m), 13); // 'dense' matches the pooler's too
    const merged = bertLogits(m, x);
    assert.ok(maxDiff(merged, y) < 1e-5, `merged vs unmerged ${maxDiff(merged, y)}`);
    assert.ok(maxDiff(m.bert.encoder.layer.at(0).attention.self.query.weight, w0) > 1e-3);
    unmergeLora(m);
    assert.ok(maxDiff(m.bert.encoder.layer.at(0).attention.self.query.weight, w0) < 1e-6);
    assert.ok(maxDiff(bertLogits(m, x), y) < 1e-5);
    setLoraEnabled(m, false);
    const off = bertLogits(m, x);
    unloadLora(m, { merge: false });
    assert.equal(maxDiff(bertLogits(m, x), off), 0);
  });

  test('unloadLora (merge and unload) gives plain layers with the same outputs and state-dict keys', () => {
    const m = tinyGpt2();
    const keys = [...m.stateDict().keys()];
    const info = applyLora(m, {});
    assert.deepEqual(info.targets, ['transformer.h.0.attn.c_attn', 'transformer.h.1.attn.c_attn']);
    assert.equal(info.config.fan_in_fan_out, true);
    assert.equal(info.config.task_type, 'CAUSAL_LM');
    randomizeAdapters(loraLayers(m));
    const x = randint(0, 100, [2, 8]);
    const y = noGrad(() => m.call(x).logits);
    unloadLora(m);
    assert.equal(loraLayers(m).length, 0);
    assert.ok(m.transformer.h.at(0).attn.c_attn instanceof Conv1D);
    assert.deepEqual([...m.stateDict().keys()], keys);
    assert.ok(m.tied, 'lm_head stays tied to wte');
    assert.ok(
      maxDiff(
        noGrad(() => m.call(x).logits),
        y,
      ) < 1e-5,
    );
  });
});

describe("PEFT's target matching", () => {
  const names = (m: ReturnType<typeof tinyBert>, o: Parameters<typeof applyLora>[1]) => applyLora(m, o).targets;

  test('a list matches whole names or dotted suffixes; a string or RegExp must match the whole name', () => {
    assert.equal(names(tinyBert(), { targetModules: ['self.query'] }).length, 2);
    assert.deepEqual(names(tinyBert(), { targetModules: ['bert.encoder.layer.1.attention.self.key'] }), [
      'bert.encoder.layer.1.attention.self.key',
    ]);
    assert.throws(() => applyLora(tinyBert(), { targetModules: ['uery'] }), /match no layer.*query/);
    assert.throws(() => applyLora(tinyBert(), { targetModules: 'query' }), /match no layer/);
    assert.equal(names(tinyBert(), { targetModules: '.*query' }).length, 2);
    assert.deepEqual(names(tinyBert(), { targetModules: /.*layer\.0\..*(query|value)/ }), [
      'bert.encoder.layer.0.attention.self.query',
      'bert.encoder.layer.0.attention.self.value',
    ]);
    assert.equal(fullMatch('a.b', 'axb'), true);
    assert.equal(fullMatch('a', 'ab'), false);
  });

  test('excludeModules, layersToTransform, rank / alpha patterns', () => {
    assert.deepEqual(names(tinyBert(), { targetModules: ['query', 'value'], excludeModules: ['value'] }), [
      'bert.encoder.layer.0.attention.self.query',
      'bert.encoder.layer.1.attention.self.query',
    ]);
    assert.deepEqual(names(tinyBert(), { targetModules: ['query'], layersToTransform: [1] }), [
      'bert.encoder.layer.1.attention.self.query',
    ]);
    assert.equal(
      isTargetModule({ targetModules: ['q'], layersToTransform: 2, layersPattern: 'layers' }, 'model.layers.2.attn.q'),
      true,
    );
    assert.equal(isTargetModule({ targetModules: ['q'], layersToTransform: 2 }, 'model.layers.3.attn.q'), false);
    const m = tinyBert();
    applyLora(m, {
      r: 4,
      alpha: 4,
      targetModules: ['query', 'value'],
      rankPattern: { value: 2 },
      alphaPattern: { 'layer\\.1\\..*query': 12 },
    });
    const byName = new Map(loraLayers(m));
    assert.equal(byName.get('bert.encoder.layer.0.attention.self.value')!.r, 2);
    assert.equal(byName.get('bert.encoder.layer.0.attention.self.query')!.scaling, 1);
    assert.equal(byName.get('bert.encoder.layer.1.attention.self.query')!.scaling, 3);
    assert.equal(patternKey(['c_fc'], 'transformer.h.0.mlp.c_fc'), 'c_fc');
    assert.equal(patternKey(['fc'], 'transformer.h.0.mlp.c_fc'), undefined);
  });

  test("'all-linear' skips the head; modules to save are never targeted; non-linear matches are refused", () => {
    const all = names(tinyBert(), { targetModules: 'all-linear' });
    assert.equal(all.length, 2 * 6 + 1); // q, k, v, attention dense, intermediate, output per layer + pooler
    assert.ok(!all.includes('classifier'));
    const gpt = applyLora(tinyGpt2(), { targetModules: 'all-linear' }).targets;
    assert.equal(gpt.length, 8);
    assert.ok(!gpt.includes('lm_head'));
    const saved = applyLora(tinyBert(), { targetModules: ['dense'], modulesToSave: ['pooler'] });
    assert.ok(!saved.targets.includes('bert.pooler.dense'));
    assert.deepEqual(saved.modulesToSave, ['bert.pooler', 'classifier']);
    assert.throws(() => applyLora(tinyBert(), { targetModules: ['attention'] }), /not linear.*BertAttention/);
    assert.throws(
      () => applyLora(tinyBert(), { targetModules: ['query'], modulesToSave: ['head'] }),
      /match no module/,
    );
    const twice = tinyBert();
    applyLora(twice, {});
    assert.throws(() => applyLora(twice, {}), /LoRA layers already/);
  });

  test("bias 'all' and 'lora_only' choose which biases train", () => {
    const only = applyLora(tinyBert(), { targetModules: ['query'], bias: 'lora_only', taskType: null });
    assert.deepEqual(
      only.trainable.filter((n) => n.endsWith('bias')),
      ['bert.encoder.layer.0.attention.self.query.bias', 'bert.encoder.layer.1.attention.self.query.bias'],
    );
    const all = applyLora(tinyBert(), { targetModules: ['query'], bias: 'all', taskType: null });
    // 8 per encoder layer, the embeddings' LayerNorm, the pooler, the classifier
    assert.equal(all.trainable.filter((n) => n.endsWith('.bias')).length, 2 * 8 + 3);
  });
});
