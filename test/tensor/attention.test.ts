// Scaled dot-product attention (explicit formula: torch 1.13 has no fused op) against PyTorch's
// documented reference formula computed by hand: plain, causal, bool and float masks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { F, randn, type Tensor, tensor } from '../../src/tensor/index.ts';
import { assertClose, type Impl, runFamily } from './_fixture.ts';

const sdpa = (q: Tensor, k: Tensor, v: Tensor, o: F.AttentionOptions = {}) => F.scaledDotProductAttention(q, k, v, o);
const explicit = (q: Tensor, k: Tensor, v: Tensor, o: F.AttentionOptions = {}) =>
  F.explicitAttention(q, k, v, o.attnMask, 0, o.isCausal ?? false);

function impls(fn: typeof sdpa): Record<string, Impl> {
  return {
    attn_plain: ({ q, k, v }) => fn(q, k, v),
    attn_causal: ({ q, k, v }) => fn(q, k, v, { isCausal: true }),
    attn_causal_square: ({ q, k, v }) => fn(q, k, v, { isCausal: true }),
    attn_bool_mask: ({ q, k, v, m }) => fn(q, k, v, { attnMask: m }),
    attn_bool_mask_4d: ({ q, k, v, m }) => fn(q, k, v, { attnMask: m }),
    attn_float_mask: ({ q, k, v, m }) => fn(q, k, v, { attnMask: m }),
  };
}

runFamily('attention', impls(sdpa), { label: 'scaledDotProductAttention' });
runFamily('attention', impls(explicit), { label: 'explicitAttention' });

test('attention dropout is off when training is false, and on (changes the output) when training', () => {
  const [q, k, v] = [randn([1, 2, 4, 8]), randn([1, 2, 4, 8]), randn([1, 2, 4, 8])];
  const ref = sdpa(q, k, v).toArray();
  assert.deepEqual(sdpa(q, k, v, { dropoutP: 0.5, training: false }).toArray(), ref);
  assert.notDeepEqual(sdpa(q, k, v, { dropoutP: 0.5 }).toArray(), ref);
});

test('a bool mask and the equivalent additive float mask give the same result', () => {
  const [q, k, v] = [randn([2, 3, 4]), randn([2, 5, 4]), randn([2, 5, 4])];
  const keep = tensor([
    [true, true, false, true, false],
    [true, false, false, false, false],
    [true, true, true, true, true],
  ]);
  const additive = tensor([
    [0, 0, -Infinity, 0, -Infinity],
    [0, -Infinity, -Infinity, -Infinity, -Infinity],
    [0, 0, 0, 0, 0],
  ]);
  const a = sdpa(q, k, v, { attnMask: keep }).toArray();
  const b = sdpa(q, k, v, { attnMask: additive }).toArray();
  assertClose(a, b, 1e-6);
});
