// Layer forwards and BatchNorm running statistics against PyTorch (scripts/fixtures/model_fixtures.py).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as nn from '../../src/nn/index.ts';
import { noGrad, type Tensor, tensor, tidy } from '../../src/tensor/index.ts';
import { assertClose, fill, hinput, readTensors } from '../models/_fixture.ts';

const want = readTensors('layers.safetensors');
const exp = (k: string): Tensor => {
  const t = want.get(k);
  assert.ok(t, `fixture has ${k}`);
  return t;
};

describe('layer forwards match PyTorch', () => {
  const x4 = hinput('x4', [2, 4, 9, 9]);
  const cases: [string, () => nn.Module, Tensor?][] = [
    ['conv2d', () => new nn.Conv2d(4, 6, 3, { stride: 2, padding: 1, dilation: 2, groups: 2 })],
    ['conv2d_same', () => new nn.Conv2d(4, 3, [3, 5], { padding: 'same', bias: false })],
    ['conv1d', () => new nn.Conv1d(4, 6, 3, { stride: 2, padding: 1 }), hinput('x3', [2, 4, 11])],
    ['linear', () => new nn.Linear(9, 5)],
    ['layernorm', () => new nn.LayerNorm([9, 9], { eps: 1e-3 })],
    ['groupnorm', () => new nn.GroupNorm(2, 4)],
    ['maxpool', () => new nn.MaxPool2d(3, { stride: 2, padding: 1, ceilMode: true })],
    ['avgpool', () => new nn.AvgPool2d(3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false })],
    ['adaptive_avg', () => new nn.AdaptiveAvgPool2d([3, 5])],
    ['adaptive_max', () => new nn.AdaptiveMaxPool2d([4, 2])],
    ['concat_pool', () => new nn.AdaptiveConcatPool2d(2)],
  ];
  for (const [name, make, input] of cases)
    test(name, () =>
      tidy(() => {
        const m = fill(make());
        assertClose(
          noGrad(() => m.call(input ?? x4)),
          exp(name),
          name,
        );
      }),
    );

  const acts: [string, nn.Module][] = [
    ['relu', new nn.ReLU()],
    ['relu6', new nn.ReLU6()],
    ['gelu', new nn.GELU()],
    ['gelu_tanh', new nn.GELU('tanh')],
    ['silu', new nn.SiLU()],
    ['sigmoid', new nn.Sigmoid()],
    ['tanh', new nn.Tanh()],
    ['hardswish', new nn.Hardswish()],
    ['hardsigmoid', new nn.Hardsigmoid()],
    ['leaky_relu', new nn.LeakyReLU(0.2)],
    ['softmax', new nn.Softmax(1)],
  ];
  test('activations', () =>
    tidy(() => {
      const x = x4.mul(4);
      for (const [name, m] of acts) assertClose(m.call(x), exp(name), name);
    }));

  test('embedding with a negative padding_idx', () =>
    tidy(() => {
      const e = fill(new nn.Embedding(7, 3, { paddingIdx: -2 }));
      assert.equal(e.paddingIdx, 5);
      const idx = tensor(
        [
          [0, 5, 6],
          [5, 1, 2],
        ],
        { dtype: 'int64' },
      );
      const y = e.call(idx);
      assertClose(y, exp('embedding'), 'embedding');
      y.sum().backward();
      const g = e.weight.grad!.tolist() as number[][];
      assert.deepEqual(g[5], [0, 0, 0], 'the padding row gets no gradient');
      assert.deepEqual(g[0], [1, 1, 1]);
    }));

  test('a fresh Embedding zeroes its padding row', () => {
    const e = new nn.Embedding(4, 2, { paddingIdx: 1 });
    assert.deepEqual((e.weight.tolist() as number[][])[1], [0, 0]);
  });
});

describe('BatchNorm running statistics match PyTorch', () => {
  const specs: [string, () => nn.Module, number[][]][] = [
    ['bn2d', () => new nn.BatchNorm2d(4), Array(3).fill([2, 4, 3, 3])],
    ['bn2d_cumulative', () => new nn.BatchNorm2d(4, { momentum: null, eps: 1e-3 }), Array(3).fill([2, 4, 3, 3])],
    [
      'bn1d',
      () => new nn.BatchNorm1d(4, { momentum: 0.3 }),
      [
        [5, 4],
        [3, 4, 6],
        [2, 4],
      ],
    ],
    ['bn2d_untracked', () => new nn.BatchNorm2d(4, { trackRunningStats: false }), Array(3).fill([2, 4, 3, 3])],
    ['bn2d_noaffine', () => new nn.BatchNorm2d(4, { affine: false }), Array(3).fill([2, 4, 3, 3])],
  ];
  for (const [name, make, shapes] of specs)
    test(name, () =>
      tidy(() => {
        const bn = fill(make()).train();
        shapes.forEach((s, i) => {
          assertClose(
            noGrad(() => bn.call(hinput(`${name}.x${i}`, s))),
            exp(`${name}.train${i}`),
            `${name} train step ${i}`,
          );
          const buffers = [...bn.namedBuffers()];
          const expected = [...want.keys()].filter((k) => k.startsWith(`${name}.step${i}.`));
          assert.equal(buffers.length, expected.length, `${name}: buffer count`);
          for (const [k, b] of buffers) {
            const e = exp(`${name}.step${i}.${k}`);
            if (k === 'num_batches_tracked') assert.equal(b.item(), e.item(), `${name} step ${i} ${k}`);
            else assertClose(b, e, `${name} step ${i} ${k}`);
          }
        });
        bn.eval();
        assertClose(
          noGrad(() => bn.call(hinput(`${name}.x0`, shapes[0]!))),
          exp(`${name}.eval`),
          `${name} eval`,
        );
      }),
    );

  test('state dict keys: untracked BatchNorm has no buffers, num_batches_tracked is int64', () => {
    assert.deepEqual([...new nn.BatchNorm2d(3, { trackRunningStats: false }).stateDict().keys()], ['weight', 'bias']);
    const sd = new nn.BatchNorm1d(3).stateDict();
    assert.deepEqual([...sd.keys()], ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
    assert.equal(sd.get('num_batches_tracked')!.dtype, 'int64');
    assert.deepEqual(sd.get('num_batches_tracked')!.shape, []);
  });

  test('training on one value per channel is a coded error', () => {
    const bn = new nn.BatchNorm1d(3);
    assert.throws(() => bn.call(hinput('one', [1, 3])), {
      code: 'GRAFT_SHAPE',
      message: /more than 1 value per channel/,
    });
    bn.eval();
    assert.deepEqual(bn.call(hinput('one', [1, 3])).shape, [1, 3]);
  });

  test('wrong channel count names the layer and the shape', () => {
    assert.throws(() => new nn.BatchNorm2d(3).call(hinput('x', [2, 4, 2, 2])), {
      code: 'GRAFT_SHAPE',
      message: /BatchNorm2d\(3\): input has 4 channels/,
    });
  });
});

describe('dropout', () => {
  test('identity in eval and at p = 0, scaled mask in training', () =>
    tidy(() => {
      const x = hinput('d', [200, 50]).abs().add(1);
      const d = new nn.Dropout(0.5);
      const y = d.call(x);
      const vals = y.div(x).toArray();
      const zeros = vals.filter((v) => v === 0).length;
      assert.ok(
        vals.every((v) => v === 0 || Math.abs(v - 2) < 1e-6),
        'kept values are scaled by 1 / (1 - p)',
      );
      assert.ok(zeros > 4000 && zeros < 6000, `about half dropped (${zeros})`);
      d.eval();
      assert.equal(d.call(x), x);
      assert.throws(() => new nn.Dropout(1.5), { code: 'GRAFT_ARGS' });
    }));
});
