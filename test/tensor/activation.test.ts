// Activations and softmax against PyTorch, with gradients (PyTorch's and finite differences).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { F, tensor } from '../../src/tensor/index.ts';
import { assertClose, type Impl, runFamily } from './_fixture.ts';

const impls: Record<string, Impl> = {
  relu: ({ x }) => F.relu(x),
  relu6: ({ x }) => F.relu6(x),
  leaky_relu: ({ x }) => F.leakyRelu(x),
  leaky_relu_02: ({ x }) => F.leakyRelu(x, 0.2),
  gelu: ({ x }) => F.gelu(x),
  gelu_tanh: ({ x }) => F.gelu(x, 'tanh'),
  silu: ({ x }) => F.silu(x),
  sigmoid: ({ x }) => F.sigmoid(x),
  tanh: ({ x }) => F.tanh(x),
  hardswish: ({ x }) => F.hardswish(x),
  hardsigmoid: ({ x }) => F.hardsigmoid(x),
  elu: ({ x }) => F.elu(x),
  elu_05: ({ x }) => F.elu(x, 0.5),
  softmax_last: ({ x }) => F.softmax(x, -1),
  softmax_dim0: ({ x }) => F.softmax(x, 0),
  log_softmax_dim1: ({ x }) => F.logSoftmax(x, 1),
  softmax_3d_dim1: ({ x }) => F.softmax(x, 1),
};

runFamily('activation', impls);

test('softmax of a row with -inf entries gives them probability 0; large logits do not overflow', () => {
  const p = F.softmax(tensor([Number.NEGATIVE_INFINITY, 0, 1000]), 0).toArray();
  assert.deepEqual(p, [0, 0, 1]);
  const l = F.logSoftmax(tensor([1000, 1000]), 0).toArray();
  assertClose(l, [Math.log(0.5), Math.log(0.5)], 1e-6);
});

test('gelu rejects an unknown approximation as a TorchError', () => {
  assert.throws(() => F.gelu(tensor([1]), 'fast' as 'tanh'), /gelu/);
});
