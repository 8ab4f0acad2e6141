// exportOnnx's options and errors: BatchNorm folding, opset 13, a fixed batch size, unmappable ops.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toOnnx, UnsupportedOpError } from '../../src/export/index.ts';
import { decodeModel } from '../../src/export/onnx_proto.ts';
import * as models from '../../src/models/index.ts';
import { BatchNorm2d, Conv2d, Module, ReLU, Sequential } from '../../src/nn/index.ts';
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
