// `graft export RUN_DIR --format ...`: ONNX that onnxruntime runs to graft's logits, safetensors and
// .pth state dicts (int8 with --quantize), a Hugging Face folder; clear errors. And the serving example.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { decodeModel } from '../../src/export/onnx_proto.ts';
import { readPth, readSafetensors } from '../../src/io/index.ts';
import * as models from '../../src/models/index.ts';
import { rebuildFromConfig } from '../../src/recipe/index.ts';
import { fromArray, noGrad, randint, randn, type Tensor } from '../../src/tensor/index.ts';
import { loadModel, saveModel } from '../../src/train/index.ts';
import { capture, rmDir, textData, tinyBert, tmpDir } from '../recipe/_helpers.ts';
import { assertClose, runOnnx } from './_ort.ts';

const graft = (...args: string[]) => capture(() => main(args));
const dir = tmpDir('graft-export-');
const run = join(dir, 'run');
const bert = join(dir, 'bert');
const CLASSES = ['apple', 'banana', 'cherry'];
let vocabSize = 0;

before(() => {
  mkdirSync(run);
  const model = models.create('cifar_net', { numClasses: 3 });
  saveModel(run, model, { classNames: CLASSES, preprocessing: { kind: 'image', inputSize: [3, 32, 32] } });
  model.dispose();
  const text = textData(join(dir, 'text'));
  vocabSize = text.vocabSize;
  mkdirSync(bert);
  const b = models.create('bert-base-uncased', { config: tinyBert(vocabSize), numClasses: 2 });
  saveModel(bert, b, {
    architecture: 'bert-base-uncased',
    modelOptions: { config: tinyBert(vocabSize) },
    classNames: ['neg', 'pos'],
    preprocessing: { kind: 'text', tokenizer: { vocab: text.vocab }, maxLength: 16 },
  });
  b.dispose();
});
after(() => rmDir(dir));

test("--format onnx: an image run exports with its labels; onnxruntime gives the run model's logits", async () => {
  const r = await graft('export', run, '--format', 'onnx');
  assert.equal(r.code, 0, r.err);
  const file = join(run, 'export', 'model.onnx');
  const m = decodeModel(readFileSync(file));
  const meta = Object.fromEntries(m.metadataProps.map((p: { key: string; value: string }) => [p.key, p.value]));
  assert.deepEqual(JSON.parse(meta.labels), CLASSES);
  const { model } = loadModel(run, { build: rebuildFromConfig });
  const x = randn([4, 3, 32, 32]);
  assertClose(
    (await runOnnx(file, { input: x })).output!,
    noGrad(() => model.call(x) as Tensor),
  );
});

test('--format onnx: a BERT run takes input_ids, attention_mask and token_type_ids of any batch and length', async () => {
  const out = join(dir, 'bert.onnx');
  const r = await graft('export', bert, '--format', 'onnx', '--out', out);
  assert.equal(r.code, 0, r.err);
  const { model } = loadModel(bert, { build: rebuildFromConfig });
  for (const [b, L] of [
    [3, 8],
    [2, 5],
  ] as const) {
    const ids = randint(5, vocabSize, [b, L]);
    const mask = fromArray(
      BigInt64Array.from({ length: b * L }, (_, i) => (i % L < L - 2 ? 1n : 0n)),
      [b, L],
    );
    const types = fromArray(new BigInt64Array(b * L), [b, L]);
    const want = noGrad(
      () => (model.call({ inputIds: ids, attentionMask: mask, tokenTypeIds: types }) as { logits: Tensor }).logits,
    );
    const got = await runOnnx(out, { input_ids: ids, attention_mask: mask, token_type_ids: types });
    assertClose(got.logits!, want);
  }
  const fixed = join(dir, 'bert16.onnx');
  assert.equal((await graft('export', bert, '--format', 'onnx', '--seq-len', '16', '--out', fixed)).code, 0);
  const inputs = decodeModel(readFileSync(fixed)).graph.input;
  assert.deepEqual(
    inputs[0].type.tensorType.shape.dim.map((d: { dimParam?: string; dimValue?: number }) => d.dimParam ?? d.dimValue),
    ['batch', 16],
  );
});

test('--format safetensors / pth: the state dict; --quantize int8 stores int8 Linear weights with their scales', async () => {
  assert.equal((await graft('export', run, '--format', 'safetensors')).code, 0);
  assert.equal((await graft('export', run, '--format', 'pth')).code, 0);
  const keys = [...readSafetensors(join(run, 'model.safetensors')).tensors.keys()].sort();
  assert.deepEqual([...readSafetensors(join(run, 'export', 'model.safetensors')).tensors.keys()].sort(), keys);
  assert.deepEqual([...(readPth(join(run, 'export', 'model.pth')) as Map<string, unknown>).keys()].sort(), keys);
  const r = await graft('export', run, '--format', 'safetensors', '--quantize', 'int8', '--json');
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out).quantized, ['fc1', 'fc2', 'fc3']);
  const q = readSafetensors(join(run, 'export', 'model.int8.safetensors')).tensors;
  assert.equal(q.get('fc1.weight')!.dtype, 'int8');
  assert.ok(q.has('fc1.weight_scale') && q.has('fc1.weight_zero_point'));
  assert.equal(q.get('conv1.weight')!.dtype, 'float32');
  const onnx = await graft('export', run, '--format', 'onnx', '--quantize', 'int8');
  assert.equal(onnx.code, 0, onnx.err);
  const ops = decodeModel(readFileSync(join(run, 'export', 'model.int8.onnx'))).graph.node.map(
    (n: { opType: string }) => n.opType,
  );
  assert.ok(ops.includes('MatMulInteger'));
});

test('--format hf: a BERT run becomes a Hugging Face folder with its tokenizer files', async () => {
  const out = join(dir, 'hf');
  const r = await graft('export', bert, '--format', 'hf', '--out', out);
  assert.equal(r.code, 0, r.err);
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(cfg.model_type, 'bert');
  assert.deepEqual(cfg.architectures, ['BertForSequenceClassification']);
  assert.ok(existsSync(join(out, 'model.safetensors')));
  assert.ok(existsSync(join(out, 'vocab.txt')));
  const back = models.fromHfDir(out);
  const ids = randint(5, vocabSize, [2, 6]);
  const { model } = loadModel(bert, { build: rebuildFromConfig });
  const a = noGrad(() => (back.call({ inputIds: ids }) as { logits: Tensor }).logits);
  const b = noGrad(() => (model.call({ inputIds: ids }) as { logits: Tensor }).logits);
  assert.deepEqual(a.toArray(), b.toArray());
});

test('errors: an unknown format, a folder without a model, --quantize with hf or not int8, hf for an image model', async () => {
  let r = await graft('export', run, '--format', 'onx');
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown format 'onx'.*did you mean 'onnx'/);
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  r = await graft('export', empty, '--format', 'onnx');
  assert.equal(r.code, 1);
  assert.match(r.err, /holds no trained model/);
  writeFileSync(join(empty, 'config.json'), readFileSync(join(run, 'config.json')));
  r = await graft('export', empty, '--format', 'safetensors');
  assert.equal(r.code, 1);
  assert.match(r.err, /has a config\.json but no model\.safetensors/);
  r = await graft('export', bert, '--format', 'hf', '--quantize', 'int8');
  assert.equal(r.code, 2);
  r = await graft('export', run, '--format', 'onnx', '--quantize', 'int4');
  assert.equal(r.code, 2);
  r = await graft('export', run, '--format', 'hf');
  assert.equal(r.code, 1);
  assert.match(r.err, /no Hugging Face config/);
});

test('examples/serve_onnx.mjs serves an exported model: POST /predict gives its logits and named top classes', async () => {
  const file = join(run, 'export', 'model.onnx');
  if (!existsSync(file)) assert.equal((await graft('export', run, '--format', 'onnx')).code, 0);
  // @ts-expect-error a plain JavaScript example without type declarations
  const { createPredictServer } = await import('../../examples/serve_onnx.mjs');
  const server = await createPredictServer(file, { labels: CLASSES });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  try {
    const x = randn([2, 3, 32, 32]);
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/predict`, {
      method: 'POST',
      body: JSON.stringify({ inputs: { input: { dims: x.shape, data: x.toArray() } } }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      outputs: { output: { dims: number[]; data: number[] } };
      top: { label: string }[][];
    };
    const { model } = loadModel(run, { build: rebuildFromConfig });
    assertClose(
      body.outputs.output,
      noGrad(() => model.call(x) as Tensor),
    );
    assert.equal(body.top.length, 2);
    assert.ok(CLASSES.includes(body.top[0]![0]!.label));
  } finally {
    server.close();
  }
});

test('a GPT-2 run: --format onnx takes input_ids + attention_mask of any length; --format hf copies the tokenizer', async () => {
  const gpt = join(dir, 'gpt2');
  mkdirSync(gpt);
  const config = { n_embd: 16, n_layer: 1, n_head: 2, vocab_size: 50, n_positions: 32 };
  const lm = models.create('gpt2', { config });
  saveModel(gpt, lm, {
    architecture: 'gpt2',
    modelOptions: { config, numClasses: undefined },
    task: 'causal-lm',
    preprocessing: { kind: 'causal-lm' },
  });
  lm.dispose();
  writeFileSync(join(gpt, 'tokenizer.json'), '{"version": "1.0"}');
  const onnx = join(dir, 'gpt2.onnx');
  let r = await graft('export', gpt, '--format', 'onnx', '--out', onnx);
  assert.equal(r.code, 0, r.err);
  const { model } = loadModel(gpt, { build: rebuildFromConfig });
  const ids = randint(0, 50, [2, 7]);
  const mask = fromArray(
    BigInt64Array.from({ length: 14 }, (_, i) => (i < 12 ? 1n : 0n)),
    [2, 7],
  );
  const want = noGrad(() => (model.call({ inputIds: ids, attentionMask: mask }) as { logits: Tensor }).logits);
  assertClose((await runOnnx(onnx, { input_ids: ids, attention_mask: mask })).logits!, want);
  const hf = join(dir, 'gpt2-hf');
  r = await graft('export', gpt, '--format', 'hf', '--out', hf);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8')).model_type, 'gpt2');
  assert.equal(readFileSync(join(hf, 'tokenizer.json'), 'utf8'), '{"version": "1.0"}');
});
