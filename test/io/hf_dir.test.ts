// Hugging Face model directories: reading what save_pretrained writes (sharded, tied), writing it
// back byte for byte, dtype on load, tokenizer files and chat templates, and the errors.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { byteLevelBpeJson } from '../../src/data/tokenizer.ts';
import { CheckpointError } from '../../src/errors.ts';
import {
  hfTensorInfo,
  hfTensors,
  isHfDir,
  loadHfWeights,
  parseShardSize,
  readHfDir,
  readSafetensorsHeader,
  summarizeHfDir,
  writeHfDir,
  writePth,
} from '../../src/io/index.ts';
import { tensorToRaw } from '../../src/io/tensors.ts';
import {
  BertForSequenceClassification,
  BertModel,
  fromHfDir,
  GPT2LMHeadModel,
  loadHfModel,
  toHfDir,
} from '../../src/models/index.ts';
import { LlamaForCausalLM } from '../../src/models/llama.ts';
import { cat, liveTensors, noGrad, randint, type Tensor } from '../../src/tensor/index.ts';
import { assertClose, FIXTURES, readJson, readTensors } from '../models/_fixture.ts';

const SHARDED = join(FIXTURES, 'hf_qwen2_sharded');
const meta = readJson('llama.json') as Record<string, { config: Record<string, unknown> }>;
const qio = readTensors('llama_qwen2_io.safetensors');
const tmp = mkdtempSync(join(tmpdir(), 'graft-hfdir-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function qwenLogits(m: LlamaForCausalLM) {
  return noGrad(() => m.call(qio.get('input_ids')!, { attentionMask: qio.get('attention_mask')! }).logits);
}

function writeTokenizer(dir: string): void {
  const vocab = JSON.parse(
    readFileSync(join(import.meta.dirname, '..', 'fixtures', 'data', 'bpe', 'vocab.json'), 'utf8'),
  );
  const merges = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'data', 'bpe', 'merges.txt'), 'utf8');
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(byteLevelBpeJson(vocab, merges)));
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({ chat_template: "{% for m in messages %}{{ m['content'] }}{% endfor %}", eos_token: '!' }),
  );
}

describe('reading a directory save_pretrained wrote', () => {
  test('sharded qwen2 (tied head saved once): layout, headers and logits equal the reference', () => {
    assert.ok(isHfDir(SHARDED));
    const d = readHfDir(SHARDED);
    assert.equal(d.sharded, true);
    assert.deepEqual(
      d.weightFiles,
      [1, 2, 3].map((i) => `model-0000${i}-of-00003.safetensors`),
    );
    const infos = hfTensorInfo(d);
    assert.ok(!infos.some((t) => t.name === 'lm_head.weight'));
    const { model, load } = loadHfModel(SHARDED);
    assert.ok(model instanceof LlamaForCausalLM);
    assert.ok(model.tied);
    assert.deepEqual(load.missing, []);
    assert.deepEqual(load.files, d.weightFiles);
    assertClose(qwenLogits(model), qio.get('logits')!, 'logits', 1e-5, 1);
  });

  test("dtype on load: bfloat16 parameters straight from float32 shards; 'auto' reads torch_dtype", () => {
    const m = fromHfDir(SHARDED, { dtype: 'bfloat16' }) as LlamaForCausalLM;
    for (const p of m.parameters()) assert.equal(p.dtype, 'bfloat16');
    assertClose(qwenLogits(m).to('float32'), qio.get('logits')!, 'bf16 logits', 5e-2, 2);
    const auto = fromHfDir(SHARDED, { dtype: 'auto' }) as LlamaForCausalLM;
    assert.equal(auto.lm_head.weight.dtype, 'float32');
  });

  test('weights stream one tensor at a time: at most one checkpoint tensor alive while loading', () => {
    const d = readHfDir(SHARDED);
    const m = LlamaForCausalLM.fromConfig(meta.qwen2!.config, { init: false });
    const base = liveTensors();
    let peak = 0;
    let n = 0;
    for (const [, t] of hfTensors(d)) {
      peak = Math.max(peak, liveTensors() - base);
      t.dispose();
      n++;
    }
    assert.equal(n, hfTensorInfo(d).length);
    assert.equal(peak, 1);
    loadHfWeights(m, d);
    assert.equal(liveTensors(), base);
  });

  test('summary for graft inspect: architecture, parameters, dtypes, shards', () => {
    const s = summarizeHfDir(SHARDED);
    assert.equal(s.architecture, 'Qwen2ForCausalLM');
    assert.equal(s.modelType, 'qwen2');
    const m = LlamaForCausalLM.fromConfig(meta.qwen2!.config);
    assert.equal(s.parameters, m.numParameters());
    assert.deepEqual(s.dtypes, { float32: m.stateDict().size - 1 });
    assert.equal(s.files.length, 3);
    assert.equal(s.sharded, true);
  });
});

describe('writing a directory', () => {
  test('same shard plan, files and index bytes as save_pretrained(max_shard_size=8000)', () => {
    const m = fromHfDir(SHARDED);
    const out = join(tmp, 'qwen-sharded');
    const r = toHfDir(m, out, { maxShardSize: 8000 });
    assert.deepEqual(r.weightFiles, readHfDir(SHARDED).weightFiles);
    for (const f of [...r.weightFiles, 'model.safetensors.index.json'])
      assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(SHARDED, f))), `${f} differs`);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.model_type, 'qwen2');
    assert.deepEqual(cfg.architectures, ['Qwen2ForCausalLM']);
    assert.equal(cfg.tie_word_embeddings, true);
    assert.equal(cfg.torch_dtype, 'float32');
    assert.equal(cfg.num_key_value_heads, 2);
  });

  test('round trip: single file, bf16 on write, tokenizer copied, stale shards removed', () => {
    const src = join(tmp, 'src');
    const m = LlamaForCausalLM.fromConfig(meta.gqa!.config);
    toHfDir(m, src, { maxShardSize: 4000 });
    assert.ok(readdirSync(src).includes('model.safetensors.index.json'));
    writeTokenizer(src);
    // rewrite as one file: the shards and index of the earlier layout go
    const r = toHfDir(m, src, { tokenizerFrom: src });
    assert.deepEqual(r.weightFiles, ['model.safetensors']);
    assert.deepEqual(readdirSync(src).sort(), [
      'config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const back = fromHfDir(src) as LlamaForCausalLM;
    assert.ok(!back.tied);
    const ids = randint(3, 48, [2, 5], { dtype: 'int64' });
    noGrad(() => assertClose(back.call(ids).logits, m.call(ids).logits, 'round trip', 1e-6, 0));
    const d = readHfDir(src);
    assert.equal(d.chatTemplate, "{% for m in messages %}{{ m['content'] }}{% endfor %}");
    assert.deepEqual(d.tokenizerFiles, ['tokenizer.json', 'tokenizer_config.json']);

    const half = join(tmp, 'bf16');
    toHfDir(m, half, { dtype: 'bfloat16', tokenizerFrom: src });
    const h = readSafetensorsHeader(join(half, 'model.safetensors'));
    assert.ok(h.entries.every((e) => e.dtype === 'bfloat16'));
    assert.deepEqual(h.metadata, { format: 'pt' });
    assert.equal(JSON.parse(readFileSync(join(half, 'config.json'), 'utf8')).torch_dtype, 'bfloat16');
    assert.deepEqual(readHfDir(half).tokenizerFiles, ['tokenizer.json', 'tokenizer_config.json']);
  });

  test('GPT-2 round trip through config.json keys; a bare GPT2Model checkpoint loads by prefix', () => {
    const g = GPT2LMHeadModel.fromConfig({ vocab_size: 40, n_embd: 16, n_layer: 1, n_head: 2, n_positions: 16 });
    const dir = join(tmp, 'gpt2');
    toHfDir(g, dir);
    const back = fromHfDir(dir) as GPT2LMHeadModel;
    assert.ok(back.tied);
    const ids = randint(0, 40, [1, 6], { dtype: 'int64' });
    noGrad(() => assertClose(back.eval().call(ids).logits, g.eval().call(ids).logits, 'gpt2', 1e-6, 0));
    // the hub's gpt2 checkpoint has GPT2Model keys (h.0..., wte.weight), without 'transformer.'
    const bare = join(tmp, 'gpt2-bare');
    const sd = new Map([...g.transformer.stateDict({ keepVars: true })]);
    writeHfDir(bare, { config: JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), stateDict: sd });
    const b2 = fromHfDir(bare) as GPT2LMHeadModel;
    noGrad(() => assertClose(b2.call(ids).logits, g.call(ids).logits, 'gpt2 bare', 1e-6, 0));
  });

  test('a Baichuan-7B-style directory (fused W_pack) loads as Llama and writes back as Llama', () => {
    const c = { ...meta.gqa!.config, num_key_value_heads: 2, rope_scaling: null };
    const m = LlamaForCausalLM.fromConfig(c);
    const sd = new Map<string, Tensor>();
    for (const [k, t] of m.stateDict()) {
      const at = k.indexOf('self_attn.q_proj.weight');
      if (at >= 0) {
        const base = k.slice(0, at);
        const qkv = ['q', 'k', 'v'].map((x) => m.stateDict().get(`${base}self_attn.${x}_proj.weight`)!);
        sd.set(`${base}self_attn.W_pack.weight`, cat(qkv, 0));
      } else if (!/self_attn\.[kv]_proj/.test(k)) sd.set(k, t);
    }
    const dir = join(tmp, 'baichuan');
    const config = {
      ...c,
      model_type: 'baichuan',
      architectures: ['BaichuanForCausalLM'],
      auto_map: { AutoModel: 'x' },
    };
    writeHfDir(dir, { config, stateDict: sd });
    const b = fromHfDir(dir) as LlamaForCausalLM;
    const ids = randint(3, 48, [2, 5], { dtype: 'int64' });
    noGrad(() => assertClose(b.call(ids).logits, m.call(ids).logits, 'baichuan', 1e-6, 0));
    const out = join(tmp, 'baichuan-as-llama');
    toHfDir(b, out);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.model_type, 'llama');
    assert.equal(cfg.auto_map, undefined);
    assert.ok(hfTensorInfo(readHfDir(out)).some((t) => t.name.endsWith('self_attn.k_proj.weight')));
    assert.throws(
      () => LlamaForCausalLM.fromConfig({ model_type: 'baichuan', hidden_size: 5120, num_hidden_layers: 40 }),
      /ALiBi/,
    );
  });

  test('a write that fails half-way leaves the weights already there whole, and no partial files', () => {
    const dir = join(tmp, 'keep');
    const m = LlamaForCausalLM.fromConfig(meta.gqa!.config);
    toHfDir(m, dir, { maxShardSize: 4000 });
    const before = new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]));
    const other = LlamaForCausalLM.fromConfig(meta.gqa!.config);
    const sd = other.stateDict();
    [...sd.values()].at(-1)!.dispose(); // the last shard cannot be written
    assert.throws(() => writeHfDir(dir, { config: {}, stateDict: sd, maxShardSize: 4000 }));
    assert.deepEqual(readdirSync(dir).sort(), [...before.keys()].sort());
    for (const [f, bytes] of before) assert.ok(readFileSync(join(dir, f)).equals(bytes), `${f} changed`);
  });

  test('pytorch_model.bin (torch.save of the state dict) loads like safetensors', () => {
    const m = LlamaForCausalLM.fromConfig(meta.linear!.config);
    const dir = join(tmp, 'bin');
    mkdirSync(dir);
    const sd = new Map([...m.stateDict()].filter(([k]) => k !== 'lm_head.weight').map(([k, t]) => [k, tensorToRaw(t)]));
    writePth(join(dir, 'pytorch_model.bin'), sd);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(meta.linear!.config));
    assert.equal(readHfDir(dir).format, 'pth');
    const back = fromHfDir(dir) as LlamaForCausalLM;
    const ids = randint(3, 48, [2, 5], { dtype: 'int64' });
    noGrad(() => assertClose(back.call(ids).logits, m.call(ids).logits, 'from .bin', 1e-6, 0));
  });

  test('BERT: a classifier round-trips; a pre-training checkpoint (bert. prefix, cls heads) loads as BertModel', () => {
    const cfg = {
      vocab_size: 50,
      hidden_size: 16,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      intermediate_size: 24,
      num_labels: 3,
    };
    const cls = BertForSequenceClassification.fromConfig(cfg).eval();
    const dir = join(tmp, 'bert');
    toHfDir(cls, dir);
    const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(saved.id2label, { 0: 'LABEL_0', 1: 'LABEL_1', 2: 'LABEL_2' });
    const back = fromHfDir(dir) as BertForSequenceClassification;
    const ids = randint(0, 50, [2, 6], { dtype: 'int64' });
    noGrad(() => assertClose(back.call(ids).logits, cls.call(ids).logits, 'bert classifier', 1e-6, 0));
    // bert-base-uncased's layout: BertForPreTraining keys, bert. prefix, MLM / NSP heads
    const pre = join(tmp, 'bert-pre');
    const sd = new Map([...cls.bert.stateDict({ keepVars: true })].map(([k, t]) => [`bert.${k}`, t]));
    sd.set('cls.predictions.bias', cls.classifier.bias!);
    writeHfDir(pre, { config: { ...saved, architectures: ['BertForPreTraining'] }, stateDict: sd });
    const base = fromHfDir(pre) as BertModel;
    assert.ok(base instanceof BertModel);
    noGrad(() => assertClose(base.call(ids).lastHiddenState, cls.bert.call(ids).lastHiddenState, 'bert base', 1e-6, 0));
  });

  test('shard sizes parse as transformers does', () => {
    assert.equal(parseShardSize('5GB'), 5e9);
    assert.equal(parseShardSize('10KiB'), 10240);
    assert.equal(parseShardSize(123), 123);
    assert.throws(() => parseShardSize('big'), /not a size/);
  });
});

describe('errors', () => {
  test('not a directory, no config, no weights, a missing shard, wrong shapes, unknown model_type', () => {
    assert.throws(() => readHfDir(join(tmp, 'nope')), CheckpointError);
    const empty = join(tmp, 'empty');
    writeHfDir(empty, { config: {}, stateDict: new Map() });
    rmSync(join(empty, 'config.json'));
    assert.throws(() => readHfDir(empty), /no config.json/);
    writeFileSync(join(empty, 'config.json'), '{}');
    rmSync(join(empty, 'model.safetensors'));
    assert.throws(() => readHfDir(empty), /no weights/);

    const dir = join(tmp, 'broken');
    const m = LlamaForCausalLM.fromConfig(meta.gqa!.config);
    const shards = toHfDir(m, dir, { maxShardSize: 4000 }).weightFiles;
    assert.ok(shards.length > 2);
    rmSync(join(dir, shards[1]!));
    assert.throws(() => readHfDir(dir), /missing/);

    const wrong = join(tmp, 'wrong');
    toHfDir(m, wrong, { config: { intermediate_size: 30 } });
    assert.throws(() => fromHfDir(wrong), /has shape/);
    const other = LlamaForCausalLM.fromConfig({ ...meta.gqa!.config, num_hidden_layers: 3 });
    assert.throws(() => loadHfWeights(other, readHfDir(join(tmp, 'src'))), /missing 9/);
    const r = loadHfWeights(other, readHfDir(join(tmp, 'src')), { strict: false });
    assert.equal(r.missing.length, 9);

    writeFileSync(join(wrong, 'config.json'), JSON.stringify({ model_type: 't5' }));
    assert.throws(() => fromHfDir(wrong), /model_type 't5'/);
  });
});
