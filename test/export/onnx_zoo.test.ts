// Every zoo model exports to ONNX and onnxruntime-node reproduces graft's logits (<= 1e-4) at two
// batch sizes from one file (dynamic batch), with the parameters as initializers under their names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exportOnnx, toOnnx } from '../../src/export/index.ts';
import { decodeModel } from '../../src/export/onnx_proto.ts';
import * as models from '../../src/models/index.ts';
import { Linear, type Module } from '../../src/nn/index.ts';
import { manualSeed, noGrad, rand, randint, randn, type Tensor, tensor } from '../../src/tensor/index.ts';
import { assertClose, runOnnx } from './_ort.ts';

/** BatchNorm statistics and affine away from their identity defaults, so a wrong mapping shows. */
function perturbNorms(m: Module): void {
  noGrad(() => {
    for (const [name, t] of [...m.namedBuffers(), ...m.namedParameters()]) {
      if (name.endsWith('running_mean')) t.copy_(randn(t.shape).mul(0.1));
      else if (name.endsWith('running_var')) t.copy_(rand(t.shape).mul(0.5).add(0.75));
      else if (/(^|\.)(bn\d*|norm\d*|\d+)\.(weight|bias)$/.test(name) && t.ndim === 1)
        t.copy_(
          randn(t.shape)
            .mul(0.1)
            .add(name.endsWith('weight') ? 1 : 0),
        );
    }
  });
}

interface Case {
  model: () => Module;
  input: (b: number) => Tensor | Record<string, Tensor>;
  call?: (m: Module, x: Record<string, Tensor>) => unknown;
}

const img = (size: number) => (b: number) => randn([b, 3, size, size]);
const smallHead = (m: Module, paths: [string, number, number][]): Module => {
  for (const [p, i, o] of paths) m.setSubmodule(p, new Linear(i, o));
  return m;
};
const tokens = (b: number, L = 8, vocab = 100) => randint(0, vocab, [b, L]);
/** rows padded at the end by different amounts */
const padMask = (b: number, L = 8) =>
  tensor(
    Array.from({ length: b * L }, (_, i) => (i % L < L - (Math.floor(i / L) % 3) ? 1 : 0)),
    { dtype: 'int64', shape: [b, L] },
  );

const BERT = {
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 64,
  vocab_size: 100,
  max_position_embeddings: 64,
};
const GPT2 = { n_embd: 32, n_layer: 2, n_head: 4, vocab_size: 100, n_positions: 64 };
const LLAMA = {
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 100,
  max_position_embeddings: 64,
};

const CASES: Record<string, Case> = {
  cifar_net: { model: () => models.create('cifar_net', { numClasses: 5 }), input: img(32) },
  resnet18: { model: () => models.create('resnet18', { numClasses: 5 }), input: img(32) },
  mobilenet_v2: { model: () => models.create('mobilenet_v2', { numClasses: 5, widthMult: 0.25 }), input: img(32) },
  efficientnet_b0: { model: () => models.create('efficientnet_b0', { numClasses: 5 }), input: img(32) },
  // small classifiers (the same ops); 64x64 and 32x32 inputs reach the adaptive pools' uneven bins
  alexnet: {
    model: () =>
      smallHead(models.create('alexnet', { numClasses: 5 }), [
        ['classifier.1', 9216, 16],
        ['classifier.4', 16, 16],
        ['classifier.6', 16, 5],
      ]),
    input: img(64),
  },
  vgg16_bn: {
    model: () =>
      smallHead(models.create('vgg16_bn', { numClasses: 5 }), [
        ['classifier.0', 25088, 16],
        ['classifier.3', 16, 16],
        ['classifier.6', 16, 5],
      ]),
    input: img(32),
  },
  bert: {
    model: () => models.create('bert-base-uncased', { numClasses: 3, config: BERT }),
    input: (b) => ({ inputIds: tokens(b), attentionMask: padMask(b), tokenTypeIds: randint(0, 2, [b, 8]) }),
  },
  gpt2: { model: () => models.create('gpt2', { config: GPT2 }), input: (b) => ({ inputIds: tokens(b) }) },
  'gpt2 with attention mask': {
    model: () => models.create('gpt2', { config: GPT2 }),
    input: (b) => ({ inputIds: tokens(b), attentionMask: padMask(b) }),
  },
  llama: {
    model: () => models.create('llama', { config: LLAMA }),
    input: (b) => ({ input_ids: tokens(b), attention_mask: padMask(b) }),
    call: (m, x) => m.call(x.input_ids, { attentionMask: x.attention_mask }),
  },
};

const logitsOf = (r: unknown): Tensor => ((r as { logits?: Tensor }).logits ?? r) as Tensor;
const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const feedsOf = (x: Tensor | Record<string, Tensor>): Record<string, Tensor> =>
  'shape' in x ? { input: x as Tensor } : Object.fromEntries(Object.entries(x).map(([k, v]) => [snake(k), v]));

for (const [name, c] of Object.entries(CASES)) {
  test(`ONNX export of ${name}: onnxruntime reproduces the logits at batch 2 and 3`, async () => {
    manualSeed(0);
    const model = c.model().eval();
    perturbNorms(model);
    const out = toOnnx(model, c.input(2) as never, { call: c.call as never });
    assert.equal(out.inputs[0]!.shape[0], 'batch');
    const inits = new Set(out.initializers);
    for (const [p] of model.namedParameters()) assert.ok(inits.has(p), `initializer ${p}`);
    for (const b of [2, 3]) {
      const x = c.input(b);
      const want = noGrad(() => logitsOf(c.call ? c.call(model, x as Record<string, Tensor>) : model.call(x as never)));
      const scale = Math.max(...(want.abs().data() as Float32Array));
      assert.ok(scale > 1e-2, `${name}: logits of size ${scale} would hide a wrong mapping`);
      const got = await runOnnx(out.model, feedsOf(x));
      assertClose(got[out.outputs[0]!.name]!, want, 1e-4, `${name} batch ${b}`);
    }
  });
}

test('exportOnnx writes a file with opset 17, the batch dim symbolic and the weights named', async () => {
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'graft-onnx-'));
  const model = models.create('cifar_net', { numClasses: 4 });
  const file = join(dir, 'm.onnx');
  const info = exportOnnx(model, randn([1, 3, 32, 32]), file, { metadata: { labels: '["a","b","c","d"]' } });
  assert.equal(model.training, true, 'the mode is restored');
  const m = decodeModel(readFileSync(file));
  assert.equal(m.opsetImport[0].version, 17);
  assert.equal(m.graph.input[0].type.tensorType.shape.dim[0].dimParam, 'batch');
  assert.equal(m.graph.output[0].name, 'output');
  assert.deepEqual(
    m.graph.initializer
      .map((t: { name: string }) => t.name)
      .filter((n: string) => !n.startsWith('/'))
      .sort(),
    [...model.stateDict().keys()].sort(),
  );
  assert.deepEqual(m.metadataProps, [{ key: 'labels', value: '["a","b","c","d"]' }]);
  assert.equal(info.bytes, readFileSync(file).byteLength);
  const x = randn([3, 3, 32, 32]);
  const got = await runOnnx(file, { input: x });
  assertClose(
    got.output!,
    noGrad(() => model.eval().call(x)),
  );
});

const SEQ_CASES: Record<string, Omit<Case, 'input'> & { input: (b: number, L: number) => Record<string, Tensor> }> = {
  bert: {
    model: () => models.create('bert-base-uncased', { numClasses: 3, config: BERT }),
    input: (b, L) => ({
      input_ids: tokens(b, L),
      attention_mask: padMask(b, L),
      token_type_ids: randint(0, 2, [b, L]),
    }),
    call: (m, x) => m.call({ inputIds: x.input_ids, attentionMask: x.attention_mask, tokenTypeIds: x.token_type_ids }),
  },
  gpt2: {
    model: () => models.create('gpt2', { config: GPT2 }),
    input: (b, L) => ({ input_ids: tokens(b, L), attention_mask: padMask(b, L) }),
    call: (m, x) => m.call({ inputIds: x.input_ids, attentionMask: x.attention_mask }),
  },
  'gpt2 without mask': {
    model: () => models.create('gpt2', { config: GPT2 }),
    input: (b, L) => ({ input_ids: tokens(b, L) }),
    call: (m, x) => m.call({ inputIds: x.input_ids }),
  },
  llama: {
    model: () => models.create('llama', { config: LLAMA }),
    input: (b, L) => ({ input_ids: tokens(b, L), attention_mask: padMask(b, L) }),
    call: (m, x) => m.call(x.input_ids, { attentionMask: x.attention_mask }),
  },
};

for (const [name, c] of Object.entries(SEQ_CASES)) {
  test(`ONNX export of ${name} with dynamic batch and sequence: one file, any [batch, sequence]`, async () => {
    manualSeed(3);
    const model = c.model().eval();
    const ex = c.input(2, 8);
    const dynamicAxes = Object.fromEntries(Object.keys(ex).map((k) => [k, { 0: 'batch', 1: 'sequence' }]));
    const out = toOnnx(model, ex, { call: c.call, dynamicAxes, outputs: ['logits'] });
    for (const i of out.inputs) assert.deepEqual(i.shape, ['batch', 'sequence']);
    for (const [b, L] of [
      [2, 8],
      [3, 5],
      [1, 11],
    ] as const) {
      const x = c.input(b, L);
      const want = noGrad(() => logitsOf(c.call!(model, x)));
      assertClose((await runOnnx(out.model, x)).logits!, want, 1e-4, `${name} [${b}, ${L}]`);
    }
  });
}
