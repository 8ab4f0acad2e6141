// PEFT's adapter format: graft loads what PEFT writes (same logits) and writes what PEFT writes (same
// keys, shapes and adapter_config.json). Fixtures: scripts/fixtures/lora_fixtures.py.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CheckpointError } from '../../src/errors.ts';
import {
  applyLora,
  fromPeftKey,
  loadAdapter,
  loraLayers,
  mergeLora,
  saveAdapter,
  toPeftKey,
  unloadLora,
} from '../../src/finetune/index.ts';
import { readSafetensorsHeader } from '../../src/io/index.ts';
import { BertForSequenceClassification } from '../../src/models/bert.ts';
import { Linear } from '../../src/nn/index.ts';
import { noGrad, type Tensor } from '../../src/tensor/index.ts';
import { assertClose } from '../models/_fixture.ts';
import { BERT_CONFIG, caseConfig, caseDir, caseIo, casePeft, maxDiff, tinyBert, tinyGpt2, tinyLlama } from './_lora.ts';

const tmp = mkdtempSync(join(tmpdir(), 'graft-lora-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const bertLogits = (m: BertForSequenceClassification, io: Map<string, Tensor>): Tensor =>
  noGrad(
    () => m.call(io.get('input_ids')!.to('int64'), { attentionMask: io.get('attention_mask')!.to('int64') }).logits,
  );

function savedKeys(dir: string): [string, number[]][] {
  const h = readSafetensorsHeader(join(dir, 'adapter_model.safetensors'));
  return h.entries.map((e) => [e.name, e.shape] as [string, number[]]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

describe('loading adapters PEFT wrote', () => {
  test('BERT sequence classification (query/value + classifier): logits equal PEFT forward', () => {
    const io = caseIo('bert_seq_cls');
    const m = tinyBert();
    const before = bertLogits(m, io);
    const info = loadAdapter(caseDir('bert_seq_cls'), m);
    assert.deepEqual(info.targets, [
      'bert.encoder.layer.0.attention.self.query',
      'bert.encoder.layer.0.attention.self.value',
      'bert.encoder.layer.1.attention.self.query',
      'bert.encoder.layer.1.attention.self.value',
    ]);
    assert.deepEqual(info.modulesToSave, ['classifier']);
    assert.equal(info.trainableParameters, casePeft('bert_seq_cls').trainable);
    const logits = bertLogits(m, io);
    assertClose(logits, io.get('logits')!, 'logits with the adapter', 1e-5);
    // the adapter changes the output: a loader that dropped it would fail above
    assert.ok(maxDiff(before, io.get('logits')!) > 1e-2);
    mergeLora(m);
    assertClose(bertLogits(m, io), io.get('logits_merged')!, 'merged logits', 1e-5);
    assert.ok(maxDiff(bertLogits(m, io), logits) < 1e-5);
  });

  test('GPT-2 (Conv1D, fan_in_fan_out) with a regex target, rslora, rank/alpha patterns, bias lora_only', () => {
    const io = caseIo('gpt2_regex');
    const m = tinyGpt2();
    const info = loadAdapter(caseDir('gpt2_regex'), m);
    assert.deepEqual(info.targets, [
      'transformer.h.0.attn.c_attn',
      'transformer.h.0.mlp.c_fc',
      'transformer.h.1.attn.c_attn',
      'transformer.h.1.mlp.c_fc',
    ]);
    const fc = m.transformer.h.at(0).mlp.c_fc as unknown as { r: number; scaling: number; fanInFanOut: boolean };
    assert.deepEqual([fc.r, fc.scaling, fc.fanInFanOut], [2, 4 / Math.sqrt(2), true]);
    assert.equal(info.trainableParameters, casePeft('gpt2_regex').trainable);
    const ids = io.get('input_ids')!.to('int64');
    const logits = noGrad(() => m.call(ids).logits);
    assertClose(logits, io.get('logits')!, 'logits with the adapter', 1e-5);
    mergeLora(m);
    assertClose(
      noGrad(() => m.call(ids).logits),
      io.get('logits_merged')!,
      'merged logits',
      1e-5,
    );
  });

  test('Llama (GQA, left padding): every projection adapted, logits and merged logits equal PEFT', () => {
    const io = caseIo('llama_all');
    const m = tinyLlama();
    const run = () =>
      noGrad(
        () => m.call(io.get('input_ids')!.to('int64'), { attentionMask: io.get('attention_mask')!.to('int64') }).logits,
      );
    const info = loadAdapter(caseDir('llama_all'), m);
    assert.equal(info.targets.length, 14);
    assert.equal(info.trainableParameters, casePeft('llama_all').trainable);
    assert.equal(info.config.base_model_name_or_path, 'tiny-llama');
    assertClose(run(), io.get('logits')!, 'logits with the adapter', 1e-5);
    mergeLora(m);
    assertClose(run(), io.get('logits_merged')!, 'merged logits', 1e-5);
  });

  test('adapter_model.bin (older PEFT) with modules_to_save on a nested module', () => {
    const io = caseIo('bert_bin');
    const m = tinyBert();
    const info = loadAdapter(caseDir('bert_bin'), m);
    assert.deepEqual(info.modulesToSave, ['bert.pooler.dense']);
    assertClose(bertLogits(m, io), io.get('logits')!, 'logits with the adapter', 1e-5);
  });
});

describe('writing adapters PEFT reads', () => {
  test('BERT: same adapter_config.json text, keys and shapes as PEFT save_pretrained', () => {
    const m = tinyBert();
    applyLora(m, { r: 4, alpha: 8, targetModules: ['query', 'value'] });
    const dir = join(tmp, 'bert');
    saveAdapter(dir, m);
    assert.equal(
      readFileSync(join(dir, 'adapter_config.json'), 'utf8'),
      readFileSync(join(caseDir('bert_seq_cls'), 'adapter_config.json'), 'utf8'),
    );
    assert.deepEqual(savedKeys(dir), casePeft('bert_seq_cls').saved);
    assert.deepEqual(readSafetensorsHeader(join(dir, 'adapter_model.safetensors')).metadata, { format: 'pt' });
  });

  test('GPT-2: regex target, patterns, rslora and bias lora_only give PEFT config, keys and shapes', () => {
    const m = tinyGpt2();
    applyLora(m, {
      r: 4,
      alpha: 16,
      useRslora: true,
      bias: 'lora_only',
      targetModules: '.*\\.(attn\\.c_attn|mlp\\.c_fc)',
      rankPattern: { c_fc: 2 },
      alphaPattern: { c_fc: 4 },
    });
    const dir = join(tmp, 'gpt2');
    saveAdapter(dir, m);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')), caseConfig('gpt2_regex'));
    assert.deepEqual(savedKeys(dir), casePeft('gpt2_regex').saved);
  });

  test('Llama: the same config (dropout 0.05, base model name) and keys as PEFT', () => {
    const m = tinyLlama();
    applyLora(m, {
      r: 8,
      alpha: 16,
      dropout: 0.05,
      targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      baseModelNameOrPath: 'tiny-llama',
    });
    const dir = join(tmp, 'llama');
    saveAdapter(dir, m);
    assert.equal(
      readFileSync(join(dir, 'adapter_config.json'), 'utf8'),
      readFileSync(join(caseDir('llama_all'), 'adapter_config.json'), 'utf8'),
    );
    assert.deepEqual(savedKeys(dir), casePeft('llama_all').saved);
  });

  test('save -> load round trip gives the same logits, modules_to_save included', () => {
    const io = caseIo('bert_seq_cls');
    const a = tinyBert();
    loadAdapter(caseDir('bert_seq_cls'), a);
    const dir = join(tmp, 'roundtrip');
    saveAdapter(dir, a);
    const b = tinyBert();
    loadAdapter(dir, b);
    assert.equal(maxDiff(bertLogits(a, io), bertLogits(b, io)), 0);
    assert.deepEqual(caseConfig('bert_seq_cls'), JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')));
  });
});

describe('adapter into a model that has LoRA layers already', () => {
  test('fills the existing layers (a resumed run), refuses a merged model', () => {
    const io = caseIo('bert_seq_cls');
    const m = tinyBert();
    applyLora(m, { r: 4, alpha: 8, targetModules: ['query', 'value'] });
    const info = loadAdapter(caseDir('bert_seq_cls'), m);
    assert.equal(info.targets.length, 4);
    assert.deepEqual(info.modulesToSave, ['classifier']);
    assertClose(bertLogits(m, io), io.get('logits')!, 'logits', 1e-5);
    mergeLora(m);
    assert.throws(() => loadAdapter(caseDir('bert_seq_cls'), m), /merged/);
    unloadLora(m);
    assert.throws(() => saveAdapter(join(tmp, 'none'), m), /no LoRA adapter/);
  });
});

test('PEFT key names map to graft names', () => {
  const m = 'base_model.model.bert.encoder.layer.0.attention.self.query';
  assert.equal(fromPeftKey(`${m}.lora_A.weight`), 'bert.encoder.layer.0.attention.self.query.lora_A.weight');
  assert.equal(fromPeftKey(`${m}.base_layer.bias`), 'bert.encoder.layer.0.attention.self.query.bias');
  assert.equal(fromPeftKey('base_model.model.classifier.modules_to_save.bias'), 'classifier.bias');
  assert.equal(fromPeftKey('base_model.model.classifier.weight'), 'classifier.weight');
  const lora = new Set(['bert.encoder.layer.0.attention.self.query']);
  assert.equal(toPeftKey('bert.encoder.layer.0.attention.self.query.bias', lora), `${m}.base_layer.bias`);
  assert.equal(toPeftKey('bert.pooler.dense.bias', lora), 'base_model.model.bert.pooler.dense.bias');
});

describe('adapter errors', () => {
  test('a head of another size, unknown keys, other PEFT types and a missing folder are coded errors', () => {
    const five = BertForSequenceClassification.fromConfig({ ...BERT_CONFIG, num_labels: 5 });
    assert.throws(
      () => loadAdapter(caseDir('bert_seq_cls'), five),
      (e: unknown) => {
        assert.ok(e instanceof CheckpointError);
        assert.match(e.message, /size mismatch.*classifier\.weight: file \[3, 32\], model \[5, 32\]/);
        return true;
      },
    );
    // and leaves the model as it was
    assert.equal(loraLayers(five).length, 0);
    assert.equal(five.numParameters({ trainableOnly: true }), five.numParameters());
    assert.ok(five.bert.encoder.layer.at(0).attention.self.query instanceof Linear);
    // the GPT-2 adapter's keys fit no layer of BERT: its regex matches nothing
    assert.throws(() => loadAdapter(caseDir('gpt2_regex'), tinyBert()), /match no layer/);
    assert.throws(() => loadAdapter(join(tmp, 'nope'), tinyBert()), CheckpointError);
    const dora = join(tmp, 'dora');
    saveAdapter(dora, loadedBert());
    const cfg = JSON.parse(readFileSync(join(dora, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(dora, 'adapter_config.json'), JSON.stringify({ ...cfg, use_dora: true }));
    assert.throws(() => loadAdapter(dora, tinyBert()), /DoRA/);
    writeFileSync(join(dora, 'adapter_config.json'), JSON.stringify({ ...cfg, peft_type: 'IA3' }));
    assert.throws(() => loadAdapter(dora, tinyBert()), /peft_type is "IA3"/);
  });

  test('an adapter with tensors for layers the config does not target is refused unless strict: false', () => {
    const dir = join(tmp, 'extra');
    saveAdapter(dir, loadedBert());
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['query'] }));
    assert.throws(() => loadAdapter(dir, tinyBert()), /fit no LoRA layer.*value\.lora_A/);
    const info = loadAdapter(dir, tinyBert(), { strict: false });
    assert.equal(info.targets.length, 2);
  });
});

function loadedBert(): BertForSequenceClassification {
  const m = tinyBert();
  loadAdapter(caseDir('bert_seq_cls'), m);
  return m;
}
