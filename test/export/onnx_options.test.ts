// exportOnnx's options and errors: BatchNorm folding, opset 13, a fixed batch size, unmappable ops.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exportOnnx, toOnnx, UnsupportedOpError } from '../../src/export/index.ts';
import { decodeModel } from '../../src/export/onnx_proto.ts';
import { applyLora } from '../../src/finetune/index.ts';
import * as models from '../../src/models/index.ts';
import { BatchNorm2d, Conv2d, Module, ReLU, Sequential } from '../../src/nn/index.ts';
import { quantizeDynamic } from '../../src/quant/index.ts';
import { aten, manualSeed, noGrad, rand, randint, randn, type Tensor } from '../../src/tensor/index.ts';
import { assertClose, runOnnx } from './_ort.ts';

function convBn(): Module {
  const m = new Sequential(
    new Conv2d(3, 8, 3, { padding: 1 }),
    new BatchNorm2d(8),
    new ReLU(),
    new Conv2d(8, 4, 3, { bias: false }),
    new BatchNorm2d(4),
  );
  noGrad(() => {
    for (const [n, t] of m.namedBuffers())
      if (n.endsWith('running_mean')) t.copy_(randn(t.shape));
      else if (n.endsWith('running_var')) t.copy_(rand(t.shape).add(0.5));
    for (const [n, t] of m.namedParameters()) if (/^[14]\./.test(n)) t.copy_(randn(t.shape));
  });
  return m.eval();
}

const opTypes = (bytes: Uint8Array): string[] => decodeModel(bytes).graph.node.map((n: { opType: string }) => n.opType);

test('foldBatchNorm folds each BatchNorm into its conv (weights keep the conv names) and keeps the outputs', async () => {
  manualSeed(1);
  const m = convBn();
  const x = randn([2, 3, 8, 8]);
  const plain = toOnnx(m, x);
  const folded = toOnnx(m, x, { foldBatchNorm: true });
  assert.ok(opTypes(plain.model).includes('BatchNormalization'));
  assert.ok(!opTypes(folded.model).includes('BatchNormalization'));
  assert.deepEqual(folded.initializers.sort(), ['0.bias', '0.weight', '3.bias', '3.weight']);
  const want = noGrad(() => m.call(x));
  for (const r of [plain, folded]) assertClose((await runOnnx(r.model, { input: x })).output!, want, 1e-4);
});

test('opset 13 writes LayerNorm as primitive ops; onnxruntime agrees with graft', async () => {
  manualSeed(2);
  const config = {
    hidden_size: 16,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    intermediate_size: 32,
    vocab_size: 50,
  };
  const m = models.create('bert-base-uncased', { numClasses: 2, config }).eval();
  const x = { inputIds: randint(0, 50, [2, 6]) };
  const r = toOnnx(m, x, { opset: 13 });
  assert.equal(decodeModel(r.model).opsetImport[0].version, 13);
  assert.ok(!opTypes(r.model).includes('LayerNormalization'));
  assertClose(
    (await runOnnx(r.model, { input_ids: x.inputIds })).logits!,
    noGrad(() => (m.call(x) as { logits: Tensor }).logits),
  );
  assert.throws(() => toOnnx(m, x, { opset: 12 }), /opset 12 is not supported/);
});

test('dynamicBatch: false fixes every dimension', () => {
  const r = toOnnx(models.create('cifar_net', { numClasses: 3 }), randn([4, 3, 32, 32]), { dynamicBatch: false });
  assert.deepEqual(r.inputs[0]!.shape, [4, 3, 32, 32]);
  assert.deepEqual(r.outputs[0]!.shape, [4, 3]);
});

class Odd extends Module {
  forward(x: Tensor): Tensor {
    return aten('aten::erfinv')(x.clamp(-0.5, 0.5)) as Tensor;
  }
}
class Net extends Module {
  readonly block: Sequential;
  constructor() {
    super();
    this.block = this.registerModule('block', new Sequential(new ReLU(), new Odd()));
  }
  forward(x: Tensor): Tensor {
    return this.block.call(x);
  }
}

test('an op the exporter cannot map is an UnsupportedOpError naming the op and the module path', () => {
  assert.throws(
    () => toOnnx(new Net(), randn([2, 3])),
    (e: unknown) =>
      e instanceof UnsupportedOpError &&
      e.op === 'aten::erfinv' &&
      e.modulePath === 'block.1' &&
      /aten::erfinv.*'block\.1'/.test(e.message) &&
      e.code === 'GRAFT_EXPORT',
  );
});

test('dropout is the identity in the exported (eval-mode) graph, and the training mode comes back', async () => {
  const m = models.create('cifar_net', { numClasses: 3, dropout: 0.5 });
  assert.equal(m.training, true);
  const x = randn([2, 3, 32, 32]);
  const r = toOnnx(m, x);
  assert.equal(m.training, true);
  assertClose(
    (await runOnnx(r.model, { input: x })).output!,
    noGrad(() => m.eval().call(x)),
  );
});

test('externalData: the weights go to PATH.data, which onnxruntime reads beside the model', async () => {
  const { mkdtempSync, readFileSync, statSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'graft-onnx-ext-'));
  const m = models.create('cifar_net', { numClasses: 3 }).eval();
  const file = join(dir, 'm.onnx');
  const info = exportOnnx(m, randn([1, 3, 32, 32]), file, { externalData: true });
  assert.equal(info.dataFile, `${file}.data`);
  const weight = decodeModel(readFileSync(file)).graph.initializer.find(
    (t: { name: string }) => t.name === 'fc1.weight',
  );
  assert.equal(weight.dataLocation, 1);
  assert.equal(weight.externalData[0].value, 'm.onnx.data');
  assert.ok(statSync(file).size < 10_000 && statSync(`${file}.data`).size > 200_000);
  const x = randn([2, 3, 32, 32]);
  assertClose(
    (await runOnnx(file, { input: x })).output!,
    noGrad(() => m.call(x)),
  );
});

test('dynamic int8 Linear layers (quant.quantizeDynamic) export as DynamicQuantizeLinear + MatMulInteger', async () => {
  manualSeed(4);
  const config = {
    hidden_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    intermediate_size: 128,
    vocab_size: 100,
  };
  const m = models.create('bert-base-uncased', { numClasses: 3, config }).eval();
  const x = { inputIds: randint(0, 100, [2, 8]) };
  const float = toOnnx(m, x, { outputs: ['logits'] });
  const want = noGrad(() => (m.call(x) as { logits: Tensor }).logits);
  quantizeDynamic(m);
  const q = toOnnx(m, x, { outputs: ['logits'] });
  assert.ok(opTypes(q.model).includes('MatMulInteger'));
  assert.ok(q.bytes < float.bytes * 0.7, `int8 file ${q.bytes} bytes vs float ${float.bytes}`);
  const w = decodeModel(q.model).graph.initializer.find(
    (t: { name: string }) => t.name === 'bert.encoder.layer.0.attention.self.query.weight',
  );
  assert.equal(w.dataType, 3, 'int8 weight');
  const graftInt8 = noGrad(() => (m.call(x) as { logits: Tensor }).logits);
  const got = (await runOnnx(q.model, { input_ids: x.inputIds })).logits!;
  const scale = Math.max(...(want.abs().data() as Float32Array));
  // onnxruntime quantizes activations to 8 bits, fbgemm to 7: equal up to the quantization step
  assertClose(got, graftInt8, 0.05 * scale, 'onnxruntime int8 vs graft int8');
  assertClose(got, want, 0.05 * scale, 'onnxruntime int8 vs float');
});

test('a LoRA model exports with its adapters under their PEFT names, unmerged', async () => {
  manualSeed(5);
  const config = {
    hidden_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    intermediate_size: 64,
    vocab_size: 100,
  };
  const m = models.create('bert-base-uncased', { numClasses: 2, config });
  applyLora(m, { r: 4, alpha: 8, dropout: 0.1, targetModules: ['query', 'value'] });
  noGrad(() => {
    for (const [n, p] of m.namedParameters()) if (n.includes('lora_B')) p.copy_(randn(p.shape).mul(0.1));
  });
  m.eval();
  const x = { inputIds: randint(0, 100, [2, 8]) };
  const r = toOnnx(m, x, { outputs: ['logits'] });
  assert.ok(r.initializers.includes('bert.encoder.layer.0.attention.self.query.lora_A.weight'));
  const want = noGrad(() => (m.call(x) as { logits: Tensor }).logits);
  assertClose((await runOnnx(r.model, { input_ids: x.inputIds })).logits!, want);
});
