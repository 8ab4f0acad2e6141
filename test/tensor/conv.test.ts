// conv2d / conv1d (stride, padding incl. 'same'/'valid', dilation, groups, depthwise) and
// max / avg / adaptive pooling against PyTorch, with gradients.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { F, ones, randn } from '../../src/tensor/index.ts';
import { type Impl, runFamily } from './_fixture.ts';

const { conv1d, conv2d, maxPool2d, avgPool2d, adaptiveAvgPool2d, adaptiveMaxPool2d } = F;

const impls: Record<string, Impl> = {
  conv2d: ({ x, w, b }) => conv2d(x, w, b),
  conv2d_nobias: ({ x, w }) => conv2d(x, w),
  conv2d_stride2: ({ x, w, b }) => conv2d(x, w, b, { stride: 2 }),
  conv2d_padding1: ({ x, w, b }) => conv2d(x, w, b, { padding: 1 }),
  conv2d_padding_pair: ({ x, w, b }) => conv2d(x, w, b, { padding: [1, 2] }),
  conv2d_stride_pair: ({ x, w, b }) => conv2d(x, w, b, { stride: [2, 1], padding: 1 }),
  conv2d_same: ({ x, w, b }) => conv2d(x, w, b, { padding: 'same' }),
  conv2d_same_dilation2: ({ x, w, b }) => conv2d(x, w, b, { padding: 'same', dilation: 2 }),
  conv2d_valid: ({ x, w, b }) => conv2d(x, w, b, { padding: 'valid' }),
  conv2d_dilation2: ({ x, w, b }) => conv2d(x, w, b, { dilation: 2, padding: 1 }),
  conv2d_groups2: ({ x, w, b }) => conv2d(x, w, b, { groups: 2, padding: 1 }),
  conv2d_depthwise: ({ x, w, b }) => conv2d(x, w, b, { groups: 3, padding: 1 }),
  conv2d_depthwise_mult2: ({ x, w, b }) => conv2d(x, w, b, { groups: 2, stride: 2 }),
  conv1d: ({ x, w, b }) => conv1d(x, w, b),
  conv1d_stride2_padding1: ({ x, w, b }) => conv1d(x, w, b, { stride: 2, padding: 1 }),
  conv1d_dilation2: ({ x, w, b }) => conv1d(x, w, b, { dilation: 2 }),
  conv1d_same: ({ x, w, b }) => conv1d(x, w, b, { padding: 'same' }),
  conv1d_same_even_kernel: ({ x, w, b }) => conv1d(x, w, b, { padding: 'same' }),
  conv1d_groups2: ({ x, w, b }) => conv1d(x, w, b, { groups: 2 }),
  max_pool2d_k2: ({ x }) => maxPool2d(x, 2),
  max_pool2d_k3_s2_p1: ({ x }) => maxPool2d(x, 3, { stride: 2, padding: 1 }),
  max_pool2d_ceil: ({ x }) => maxPool2d(x, 2, { stride: 2, ceilMode: true }),
  max_pool2d_dilation2: ({ x }) => maxPool2d(x, 2, { stride: 1, dilation: 2 }),
  max_pool2d_rect: ({ x }) => maxPool2d(x, [2, 3], { stride: [1, 2] }),
  avg_pool2d_k2: ({ x }) => avgPool2d(x, 2),
  avg_pool2d_pad_include: ({ x }) => avgPool2d(x, 3, { stride: 2, padding: 1 }),
  avg_pool2d_pad_exclude: ({ x }) => avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }),
  avg_pool2d_ceil: ({ x }) => avgPool2d(x, 2, { stride: 2, ceilMode: true }),
  avg_pool2d_ceil_pad_exclude: ({ x }) =>
    avgPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
  avg_pool2d_divisor: ({ x }) => avgPool2d(x, 2, { divisorOverride: 3 }),
  adaptive_avg_pool2d_1: ({ x }) => adaptiveAvgPool2d(x, 1),
  adaptive_avg_pool2d_3: ({ x }) => adaptiveAvgPool2d(x, 3),
  adaptive_avg_pool2d_2x4: ({ x }) => adaptiveAvgPool2d(x, [2, 4]),
  adaptive_max_pool2d_2: ({ x }) => adaptiveMaxPool2d(x, 2),
  adaptive_max_pool2d_3x2: ({ x }) => adaptiveMaxPool2d(x, [3, 2]),
};

runFamily('conv', impls);

test("padding 'same' with stride > 1 is rejected by libtorch as a TorchError naming conv2d", () => {
  assert.throws(
    () => conv2d(ones([1, 1, 5, 5]), ones([1, 1, 3, 3]), undefined, { padding: 'same', stride: 2 }),
    (e: Error) => e.name === 'TorchError' && /aten::conv2d/.test(e.message) && /Tensor\[1, 1, 5, 5\]/.test(e.message),
  );
});

test('conv2d with groups that do not divide the channels throws and the next conv works', () => {
  assert.throws(() => conv2d(randn([1, 3, 4, 4]), randn([4, 1, 3, 3]), undefined, { groups: 2 }), /aten::conv2d/);
  assert.deepEqual(conv2d(randn([1, 3, 4, 4]), randn([6, 1, 3, 3]), undefined, { groups: 3 }).shape, [1, 6, 2, 2]);
});
